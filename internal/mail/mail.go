// Package mail turns the engine's login mails into rendered messages and
// hands them to a Transport (SMTP, or the development outbox).
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// Message is one rendered email.
type Message struct {
	ID      string // Message-ID without angle brackets; stable across retries
	From    string
	To      string
	Subject string
	Text    string
	HTML    string
	Date    time.Time

	// The fields below never go on the wire; the development outbox shows them.
	ChallengeID string
	Code        string
	Link        string
}

// Transport delivers rendered messages. Send returns an error that
// Permanent reports true for when retrying cannot help.
type Transport interface {
	Send(ctx context.Context, m *Message) error
}

// Direct renders each login mail and sends it at once through a
// Transport. It suits the development outbox; production uses the queue.
type Direct struct {
	Renderer  *Renderer
	Transport Transport
	Clock     auth.Clock
}

var _ auth.Mailer = (*Direct)(nil)

// SendLogin renders m and sends it.
func (d *Direct) SendLogin(ctx context.Context, m *auth.LoginMail) error {
	msg, err := d.Renderer.Render(m, NewMessageID(d.Renderer.Domain()), d.Clock.Now())
	if err != nil {
		return err
	}
	return d.Transport.Send(ctx, msg)
}

// NewMessageID returns a fresh random Message-ID at domain.
func NewMessageID(domain string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%s@%s", hex.EncodeToString(b), domain)
}
