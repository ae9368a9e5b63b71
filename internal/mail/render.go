package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

//go:embed templates
var templateFS embed.FS

// Brand is what the emails say about the site.
type Brand struct {
	AppName     string // "Latch"
	AccentColor string // "#4f46e5"
	From        string // "Latch <no-reply@localhost>"
}

// Renderer fills the embedded templates.
type Renderer struct {
	brand Brand
	text  *texttemplate.Template
	html  *htmltemplate.Template
	from  *mail.Address
}

// NewRenderer parses the embedded templates.
func NewRenderer(b Brand) (*Renderer, error) {
	if b.AppName == "" {
		b.AppName = "Latch"
	}
	if b.AccentColor == "" {
		b.AccentColor = "#4f46e5"
	}
	from, err := mail.ParseAddress(b.From)
	if err != nil {
		return nil, fmt.Errorf("mail: from address %q: %w", b.From, err)
	}
	funcs := map[string]any{"words": durationWords}
	t, err := texttemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.txt")
	if err != nil {
		return nil, fmt.Errorf("mail: text templates: %w", err)
	}
	h, err := htmltemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("mail: html templates: %w", err)
	}
	return &Renderer{brand: b, text: t, html: h, from: from}, nil
}

// Domain is the domain of the From address, used in Message-IDs.
func (r *Renderer) Domain() string {
	at := strings.LastIndexByte(r.from.Address, '@')
	return r.from.Address[at+1:]
}

// view is what the templates see.
type view struct {
	Brand     Brand
	SignUp    bool
	Code      string
	Link      string
	Expiry    time.Duration
	Email     string
	Variables map[string]string
}

// Render fills the templates for m.
func (r *Renderer) Render(m *auth.LoginMail, id string, now time.Time) (*Message, error) {
	v := view{Brand: r.brand, SignUp: m.Template == auth.TemplateSignUp, Code: m.Code, Link: m.Link, Expiry: m.Expiry, Email: m.To, Variables: m.TemplateVariables}
	var subject, text, html bytes.Buffer
	if err := r.text.ExecuteTemplate(&subject, "subject.txt", v); err != nil {
		return nil, fmt.Errorf("mail: render subject: %w", err)
	}
	if err := r.text.ExecuteTemplate(&text, "login.txt", v); err != nil {
		return nil, fmt.Errorf("mail: render text: %w", err)
	}
	if err := r.html.ExecuteTemplate(&html, "login.html", v); err != nil {
		return nil, fmt.Errorf("mail: render html: %w", err)
	}
	return &Message{
		ID:          id,
		From:        r.from.String(),
		To:          m.To,
		Subject:     strings.TrimSpace(subject.String()),
		Text:        text.String(),
		HTML:        html.String(),
		Date:        now,
		ChallengeID: m.ChallengeID,
		Code:        m.Code,
		Link:        m.Link,
	}, nil
}

// durationWords says a duration the way a person would: "5 minutes".
func durationWords(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int((d+30*time.Second)/time.Minute), "minute")
	}
	return plural(int(d/time.Second), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
