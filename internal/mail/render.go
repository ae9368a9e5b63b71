package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/mail"
	"os"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

//go:embed templates
var templateFS embed.FS

// The template files a Renderer executes. A templates directory may
// override any of them, and may add files that define shared blocks.
const (
	SubjectTemplate = "subject.txt" // one line; surrounding space is trimmed
	TextTemplate    = "login.txt"   // the text/plain part
	HTMLTemplate    = "login.html"  // the text/html part (html/template)
)

// Brand is what the emails say about the site.
type Brand struct {
	AppName     string // "Latch"
	AccentColor string // the button's color, "#4f46e5"; the button text is white
	From        string // the From header, MAIL_FROM: "Latch <no-reply@example.com>"
}

// View is what the templates see, in the embedded templates and in those
// of a templates directory alike.
type View struct {
	Brand     Brand
	SignUp    bool   // Template is SIGNUP
	Template  string // "SIGNIN" or "SIGNUP"
	Type      string // "LINK_OTP", "OTP" or "LINK"
	Code      string // empty when Type has no code
	Link      string // the magic link; empty when Type has no link
	Expiry    time.Duration
	ExpiresIn string // Expiry in words: "5 minutes"
	Email     string // the recipient
	// Variables are the template_variables of the provider API's send call.
	Variables map[string]string
}

// Renderer fills the login templates. It is safe for concurrent use.
type Renderer struct {
	brand Brand
	text  *texttemplate.Template
	html  *htmltemplate.Template
	from  *mail.Address
}

// NewRenderer parses the embedded templates and then, when dir is not
// empty, every *.txt and *.html file in dir (MAIL_TEMPLATES_DIR): a file
// named like an embedded one replaces it. It renders every template for
// every kind of login once, so a broken template stops the server at
// start instead of failing each mail.
func NewRenderer(b Brand, dir string) (*Renderer, error) {
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
	if dir != "" {
		if t, h, err = parseDir(t, h, dir); err != nil {
			return nil, err
		}
	}
	r := &Renderer{brand: b, text: t, html: h, from: from}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

func parseDir(t *texttemplate.Template, h *htmltemplate.Template, dir string) (*texttemplate.Template, *htmltemplate.Template, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("mail: templates dir: %w", err)
	}
	if !info.IsDir() {
		return nil, nil, fmt.Errorf("mail: templates dir %s is not a directory", dir)
	}
	fsys := os.DirFS(dir)
	if names, _ := fs.Glob(fsys, "*.txt"); len(names) > 0 {
		if t, err = t.ParseFS(fsys, "*.txt"); err != nil {
			return nil, nil, fmt.Errorf("mail: text templates in %s: %w", dir, err)
		}
	}
	if names, _ := fs.Glob(fsys, "*.html"); len(names) > 0 {
		if h, err = h.ParseFS(fsys, "*.html"); err != nil {
			return nil, nil, fmt.Errorf("mail: html templates in %s: %w", dir, err)
		}
	}
	return t, h, nil
}

// check renders every template × type once with sample values.
func (r *Renderer) check() error {
	var errs []error
	for _, tmpl := range []auth.Template{auth.TemplateSignIn, auth.TemplateSignUp} {
		for _, typ := range []auth.PasswordlessType{auth.TypeLinkOTP, auth.TypeOTP, auth.TypeLink} {
			m := &auth.LoginMail{To: "someone@example.com", Type: typ, Template: tmpl, Expiry: 5 * time.Minute, TemplateVariables: map[string]string{}}
			if typ.HasCode() {
				m.Code = "123456"
			}
			if typ.HasLink() {
				m.Link = "https://example.com/api/auth/passwordless/verify?link_token=x"
			}
			if _, err := r.Render(m, "check@example.com", time.Time{}); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", tmpl, typ, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Domain is the domain of the From address, used in Message-IDs.
func (r *Renderer) Domain() string {
	at := strings.LastIndexByte(r.from.Address, '@')
	return r.from.Address[at+1:]
}

// From returns the From header, display name included.
func (r *Renderer) From() string { return r.from.String() }

// Render fills the templates for m. id is the Message-ID (without angle
// brackets) and date the Date header; both are chosen when the mail is
// queued so that every retry sends the same message.
func (r *Renderer) Render(m *auth.LoginMail, id string, date time.Time) (*Message, error) {
	v := View{
		Brand:     r.brand,
		SignUp:    m.Template == auth.TemplateSignUp,
		Template:  string(m.Template),
		Type:      string(m.Type),
		Code:      m.Code,
		Link:      m.Link,
		Expiry:    m.Expiry,
		ExpiresIn: durationWords(m.Expiry),
		Email:     m.To,
		Variables: m.TemplateVariables,
	}
	if v.Template == "" {
		v.Template = string(auth.TemplateSignIn)
	}
	if v.Variables == nil {
		v.Variables = map[string]string{}
	}
	var subject, text, html bytes.Buffer
	if err := r.text.ExecuteTemplate(&subject, SubjectTemplate, v); err != nil {
		return nil, fmt.Errorf("mail: render subject: %w", err)
	}
	if err := r.text.ExecuteTemplate(&text, TextTemplate, v); err != nil {
		return nil, fmt.Errorf("mail: render text: %w", err)
	}
	if err := r.html.ExecuteTemplate(&html, HTMLTemplate, v); err != nil {
		return nil, fmt.Errorf("mail: render html: %w", err)
	}
	return &Message{
		ID:          id,
		From:        r.from.String(),
		To:          m.To,
		Subject:     strings.Join(strings.Fields(subject.String()), " "),
		Text:        text.String(),
		HTML:        html.String(),
		Date:        date,
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
