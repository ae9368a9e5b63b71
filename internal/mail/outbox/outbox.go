// Package outbox captures mail in memory for development: each message is
// logged as one clickable line and kept for the /dev/outbox pages.
package outbox

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/latch-auth/latch/internal/mail"
)

// DefaultCapacity is how many messages an outbox keeps; older ones drop
// off, so a load test cannot grow it without limit.
const DefaultCapacity = 1000

var _ mail.Transport = (*Outbox)(nil)

// Outbox is a mail.Transport that keeps the newest messages in memory,
// indexed by recipient.
type Outbox struct {
	mu       sync.Mutex
	log      *slog.Logger
	capacity int
	ring     []*mail.Message // ring[(start+i)%capacity], i < n
	start, n int
	byTo     map[string][]*mail.Message // lowercased recipient → oldest first
}

// New returns an outbox that keeps capacity messages (DefaultCapacity if
// not positive) and logs each one to log (nil: no log).
func New(log *slog.Logger, capacity int) *Outbox {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Outbox{log: log, capacity: capacity, ring: make([]*mail.Message, capacity), byTo: map[string][]*mail.Message{}}
}

// Send keeps m. The development log line shows the code and link on
// purpose: this transport never runs in production.
func (o *Outbox) Send(_ context.Context, m *mail.Message) error {
	o.mu.Lock()
	if o.n == o.capacity {
		old := o.ring[o.start]
		key := strings.ToLower(old.To)
		list := o.byTo[key][1:]
		if len(list) == 0 {
			delete(o.byTo, key)
		} else {
			o.byTo[key] = list
		}
		o.ring[o.start] = m
		o.start = (o.start + 1) % o.capacity
	} else {
		o.ring[(o.start+o.n)%o.capacity] = m
		o.n++
	}
	key := strings.ToLower(m.To)
	o.byTo[key] = append(o.byTo[key], m)
	o.mu.Unlock()
	if o.log != nil {
		o.log.Info("dev outbox: mail captured (development only)", "to", m.To, "subject", m.Subject, "code", m.Code, "link", m.Link)
	}
	return nil
}

// Messages returns the kept messages, oldest first; only those to the
// given recipient when to is not empty.
func (o *Outbox) Messages(to string) []*mail.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	if to != "" {
		return append([]*mail.Message(nil), o.byTo[strings.ToLower(strings.TrimSpace(to))]...)
	}
	out := make([]*mail.Message, o.n)
	for i := range o.n {
		out[i] = o.ring[(o.start+i)%o.capacity]
	}
	return out
}
