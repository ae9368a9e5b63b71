package authtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"sync"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
)

// Mailbox is a fake auth.Mailer that keeps every mail it was given. Set
// Fail to make SendLogin fail.
type Mailbox struct {
	mu   sync.Mutex
	sent []*auth.LoginMail
	Fail error
}

// SendLogin keeps m.
func (m *Mailbox) SendLogin(_ context.Context, lm *auth.LoginMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	m.sent = append(m.sent, lm)
	return nil
}

// Count is how many mails were sent.
func (m *Mailbox) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sent)
}

// Last returns the newest mail, to anyone when to is "", else to that
// address; it fails the test when there is none.
func (m *Mailbox) Last(t testing.TB, to string) *auth.LoginMail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.sent) - 1; i >= 0; i-- {
		if to == "" || m.sent[i].To == to {
			return m.sent[i]
		}
	}
	t.Fatalf("no mail was sent to %q", to)
	return nil
}

// LinkToken returns the link_token of a mail's magic link.
func LinkToken(t testing.TB, m *auth.LoginMail) string {
	t.Helper()
	u, err := url.Parse(m.Link)
	if err != nil || u.Query().Get("link_token") == "" {
		t.Fatalf("mail has no usable link: %q", m.Link)
	}
	return u.Query().Get("link_token")
}

// RandomID returns a fresh random identifier of the engine's form.
func RandomID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// To returns every mail sent to an address, oldest first.
func (m *Mailbox) To(addr string) []*auth.LoginMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*auth.LoginMail
	for _, lm := range m.sent {
		if lm.To == addr {
			out = append(out, lm)
		}
	}
	return out
}
