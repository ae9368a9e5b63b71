// Package mail turns the engine's login mails into rendered messages and
// hands them to a Transport (SMTP, or the development outbox).
//
// Production and development both deliver through the durable queue in
// package mailqueue, which renders with a Renderer and sends through a
// Transport; Direct, which sends at once, is left for tests.
//
// # Templates
//
// Three templates make a login email: subject.txt (one line), login.txt
// (the text/plain part, text/template) and login.html (the text/html part,
// html/template, which escapes what it inserts). The embedded ones cover
// sign-in and sign-up for LINK_OTP, OTP and LINK in every language of
// package i18n, whose catalogues hold their sentences: the code large and
// in a cell of its own (one tap selects it), the link as a button and in
// full, the expiry in words, and what to do if you did not ask. The HTML
// uses inline styles and no images, and sets no text or page colors, so
// mail clients in dark mode keep it readable; its lang and dir follow the
// mail's language. A templates directory (MAIL_TEMPLATES_DIR) may replace
// any of the three files for every language, and dir/<language>/ all three
// for one; every template sees a View (docs/mail-templates.md lists what it
// holds). Golden files of every embedded template, kind of login and
// language are in testdata/<language>/ (go test -update rewrites them).
package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// Message is one rendered email.
type Message struct {
	ID      string // Message-ID without angle brackets; stable across retries
	From    string // "Name <address>"
	To      string
	Subject string
	Text    string
	HTML    string
	Date    time.Time // when the mail was queued; stable across retries

	// The fields below never go on the wire; the development outbox shows them.
	ChallengeID string
	Code        string
	Link        string
}

// Transport delivers rendered messages. Send returns an error for which
// Permanent reports true when retrying cannot help (a 5xx SMTP reply, an
// address the server refuses); any other error is worth retrying.
type Transport interface {
	Send(ctx context.Context, m *Message) error
}

// PermanentError marks a delivery failure that no retry can fix.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying failure.
func (e *PermanentError) Unwrap() error { return e.Err }

// MarkPermanent wraps err so that Permanent reports true for it (nil stays nil).
func MarkPermanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Permanent reports whether err, or any error it wraps, is a PermanentError.
func Permanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Direct renders each login mail and sends it at once through a
// Transport, so a failed send fails the request. Tests use it; the server
// delivers through the durable queue (package mailqueue).
type Direct struct {
	Renderer  *Renderer
	Transport Transport
	Clock     auth.Clock
}

var _ auth.Mailer = (*Direct)(nil)

// SendLogin renders m and sends it.
func (d *Direct) SendLogin(ctx context.Context, m *auth.LoginMail) error {
	if m.Suppressed {
		return nil
	}
	msg, err := d.Renderer.Render(m, NewMessageID(d.Renderer.Domain()), d.Clock.Now())
	if err != nil {
		return err
	}
	return d.Transport.Send(ctx, msg)
}

// NewMessageID returns a fresh random Message-ID (130 random bits) at domain.
func NewMessageID(domain string) string {
	return rand.Text() + "@" + domain
}
