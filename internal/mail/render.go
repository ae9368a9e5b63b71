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
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/i18n"
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
	ExpiresIn string // Expiry in words, in the mail's language: "5 minutes"
	Email     string // the recipient
	// Variables are the template_variables of the provider API's send call.
	Variables map[string]string
	// Lang is the mail's language ("de"), Dir its writing direction
	// ("ltr" or "rtl") and Align the side its text starts on ("left" or
	// "right"), for mail clients that know no logical alignment.
	Lang  string
	Dir   string
	Align string

	locale *i18n.Locale
}

// T is the catalogue's message key in the mail's language, its
// placeholders filled from args, pairs of a name and a value:
// {{.T "mail.heading.signin" "app" .Brand.AppName}}.
func (v View) T(key string, args ...any) string { return v.locale.T(key, args...) }

// HTML is T for the HTML part: the message and its values are escaped,
// except values made with Strong or Address, which keep their markup.
func (v View) HTML(key string, args ...any) htmltemplate.HTML { return v.locale.HTML(key, args...) }

// Strong is s, escaped, in <strong>.
func (v View) Strong(s string) htmltemplate.HTML {
	return htmltemplate.HTML("<strong>" + htmltemplate.HTMLEscapeString(s) + "</strong>")
}

// Address is an email address, escaped, in <strong>; kept left to right
// inside a right-to-left sentence.
func (v View) Address(s string) htmltemplate.HTML {
	if v.Dir == i18n.RTL {
		return htmltemplate.HTML(`<strong dir="ltr">` + htmltemplate.HTMLEscapeString(s) + "</strong>")
	}
	return v.Strong(s)
}

// Renderer fills the login templates, in the language of each mail. It is
// safe for concurrent use.
type Renderer struct {
	brand  Brand
	bundle *i18n.Bundle
	sets   map[string]templateSet // by language tag
	from   *mail.Address
}

// templateSet is the parsed templates of one language.
type templateSet struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewRenderer parses the templates of every language: the embedded ones,
// then, when dir is not empty (MAIL_TEMPLATES_DIR), the *.txt and *.html
// files in dir, which replace the embedded file of the same name for
// every language, then those in dir/<language>/ (dir/de/), which replace
// them for that language only. A language directory must hold all three
// templates (a German body under an English subject is a mistake), and
// must be named for a language Latch has. Every template is rendered for
// every kind of login in every language once, so a broken template stops
// the server at start instead of failing each mail.
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
	bundle, err := i18n.Load()
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	if dir != "" {
		if err := CheckTemplatesDir(dir); err != nil {
			return nil, err
		}
	}
	r := &Renderer{brand: b, bundle: bundle, sets: map[string]templateSet{}, from: from}
	for _, l := range bundle.Locales() {
		set, err := parseSet(dir, l)
		if err != nil {
			return nil, err
		}
		r.sets[l.Tag()] = set
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// Templates are the template files a language directory must hold.
var Templates = []string{SubjectTemplate, TextTemplate, HTMLTemplate}

// CheckTemplatesDir reports what is wrong with a templates directory
// (MAIL_TEMPLATES_DIR) before anything is parsed: it is not a directory,
// a subdirectory is not named for a language Latch has, or a language
// directory lacks one of the template files.
func CheckTemplatesDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("mail: templates dir: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("mail: templates dir %s is not a directory", dir)
	}
	bundle, err := i18n.Load()
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("mail: templates dir: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, ok := bundle.Lookup(e.Name()); !ok {
			var tags []string
			for _, l := range bundle.Locales() {
				tags = append(tags, l.Tag())
			}
			errs = append(errs, fmt.Errorf("mail: templates dir %s: %s/ is not one of the languages (%s)", dir, e.Name(), strings.Join(tags, ", ")))
			continue
		}
		for _, name := range Templates {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), name)); err != nil {
				errs = append(errs, fmt.Errorf("mail: templates dir %s: %s/ lacks %s (a language directory holds all of %s)", dir, e.Name(), name, strings.Join(Templates, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

// parseSet parses the templates of one language: embedded, then dir's,
// then dir/tag's.
func parseSet(dir string, l *i18n.Locale) (templateSet, error) {
	// words is what older templates call to say a duration; .ExpiresIn
	// is the same in words.
	funcs := map[string]any{"words": func(d time.Duration) string { return durationWords(l, d) }}
	t, err := texttemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.txt")
	if err != nil {
		return templateSet{}, fmt.Errorf("mail: text templates: %w", err)
	}
	h, err := htmltemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return templateSet{}, fmt.Errorf("mail: html templates: %w", err)
	}
	if dir == "" {
		return templateSet{t, h}, nil
	}
	for _, d := range []string{dir, filepath.Join(dir, l.Tag())} {
		if _, err := os.Stat(d); d != dir && err != nil {
			continue // no directory for this language
		}
		if t, h, err = parseDir(t, h, d); err != nil {
			return templateSet{}, err
		}
	}
	return templateSet{t, h}, nil
}

func parseDir(t *texttemplate.Template, h *htmltemplate.Template, dir string) (*texttemplate.Template, *htmltemplate.Template, error) {
	fsys := os.DirFS(dir)
	var err error
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

// check renders every template × type × language once with sample values.
func (r *Renderer) check() error {
	var errs []error
	for _, l := range r.bundle.Locales() {
		for _, tmpl := range []auth.Template{auth.TemplateSignIn, auth.TemplateSignUp} {
			for _, typ := range []auth.PasswordlessType{auth.TypeLinkOTP, auth.TypeOTP, auth.TypeLink} {
				m := &auth.LoginMail{To: "someone@example.com", Type: typ, Template: tmpl, Expiry: 5 * time.Minute, TemplateVariables: map[string]string{}, Locale: l.Tag()}
				if typ.HasCode() {
					m.Code = "123456"
				}
				if typ.HasLink() {
					m.Link = "https://example.com/api/auth/passwordless/verify?link_token=x"
				}
				if _, err := r.Render(m, "check@example.com", time.Time{}); err != nil {
					errs = append(errs, fmt.Errorf("%s %s %s: %w", l.Tag(), tmpl, typ, err))
				}
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
	l := r.locale(m.Locale)
	v := View{
		Brand:     r.brand,
		SignUp:    m.Template == auth.TemplateSignUp,
		Template:  string(m.Template),
		Type:      string(m.Type),
		Code:      m.Code,
		Link:      m.Link,
		Expiry:    m.Expiry,
		ExpiresIn: durationWords(l, m.Expiry),
		Email:     m.To,
		Variables: m.TemplateVariables,
		Lang:      l.Tag(),
		Dir:       l.Dir(),
		Align:     "left",
		locale:    l,
	}
	if v.Dir == i18n.RTL {
		v.Align = "right"
	}
	set := r.sets[l.Tag()]
	if v.Template == "" {
		v.Template = string(auth.TemplateSignIn)
	}
	if v.Variables == nil {
		v.Variables = map[string]string{}
	}
	var subject, text, html bytes.Buffer
	if err := set.text.ExecuteTemplate(&subject, SubjectTemplate, v); err != nil {
		return nil, fmt.Errorf("mail: render subject: %w", err)
	}
	if err := set.text.ExecuteTemplate(&text, TextTemplate, v); err != nil {
		return nil, fmt.Errorf("mail: render text: %w", err)
	}
	if err := set.html.ExecuteTemplate(&html, HTMLTemplate, v); err != nil {
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

// locale is the language of a mail: its Locale when Latch has that
// language (or a close one: "de-AT" is German), else English.
func (r *Renderer) locale(tag string) *i18n.Locale {
	if l, ok := r.bundle.Lookup(tag); ok {
		return l
	}
	if l, ok := r.bundle.Match(tag); ok {
		return l
	}
	return r.bundle.Default()
}

// Locales are the languages the renderer writes, English first.
func (r *Renderer) Locales() []*i18n.Locale { return r.bundle.Locales() }

// durationWords says a duration the way a person would: "5 minutes".
func durationWords(l *i18n.Locale, d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return l.T("duration.hours", "n", int(d/time.Hour))
	case d >= time.Minute:
		return l.T("duration.minutes", "n", int((d+30*time.Second)/time.Minute))
	}
	return l.T("duration.seconds", "n", int(d/time.Second))
}
