package mail_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/i18n"
	"github.com/latch-auth/latch/internal/mail"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testBrand = mail.Brand{AppName: "Latch", From: "Latch <no-reply@latch.example>"}

func mustRenderer(t *testing.T, dir string) *mail.Renderer {
	t.Helper()
	r, err := mail.NewRenderer(testBrand, dir)
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

func loginMail(tmpl auth.Template, typ auth.PasswordlessType) *auth.LoginMail {
	m := &auth.LoginMail{
		ChallengeID: "chl_golden",
		To:          "ada@example.com",
		Type:        typ,
		Template:    tmpl,
		Expiry:      5 * time.Minute,
		ExpiresAt:   time.Date(2026, 1, 2, 3, 9, 5, 0, time.UTC),
	}
	if typ.HasCode() {
		m.Code = "042917"
	}
	if typ.HasLink() {
		m.Link = "https://login.example.com/api/auth/passwordless/verify?auth_request_id=chl_golden&link_token=tok_golden"
	}
	return m
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run go test -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestRenderGolden keeps a golden file of every mail (sign-in and
// sign-up, each kind of login, text and HTML, the subjects) in every
// language: testdata/<language>/.
func TestRenderGolden(t *testing.T) {
	r := mustRenderer(t, "")
	for _, l := range r.Locales() {
		t.Run(l.Tag(), func(t *testing.T) {
			var subjects strings.Builder
			for _, tmpl := range []auth.Template{auth.TemplateSignIn, auth.TemplateSignUp} {
				for _, typ := range []auth.PasswordlessType{auth.TypeLinkOTP, auth.TypeOTP, auth.TypeLink} {
					name := strings.ToLower(string(tmpl) + "_" + string(typ))
					t.Run(name, func(t *testing.T) {
						m := loginMail(tmpl, typ)
						m.Locale = l.Tag()
						msg, err := r.Render(m, "id@latch.example", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
						if err != nil {
							t.Fatal(err)
						}
						fmt.Fprintf(&subjects, "%s: %s\n", name, msg.Subject)
						checkGolden(t, filepath.Join(l.Tag(), name+".txt.golden"), msg.Text)
						checkGolden(t, filepath.Join(l.Tag(), name+".html.golden"), msg.HTML)
						checkContent(t, m, msg, l)
					})
				}
			}
			checkGolden(t, filepath.Join(l.Tag(), "subjects.golden"), subjects.String())
		})
	}
}

// checkContent asserts what every login mail must say, whatever the wording.
func checkContent(t *testing.T, m *auth.LoginMail, msg *mail.Message, l *i18n.Locale) {
	t.Helper()
	expiry := l.T("duration.minutes", "n", 5)
	ignore := l.T("mail.ignore.signin", "app", "Latch")
	if m.Template == auth.TemplateSignUp {
		ignore = l.T("mail.ignore.signup", "app", "Latch")
	}
	htmlLink := strings.ReplaceAll(m.Link, "&", "&amp;")
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"code in text", strings.Contains(msg.Text, m.Code)},
		{"code in html", strings.Contains(msg.HTML, m.Code)},
		{"code in subject", m.Code == "" || strings.Contains(msg.Subject, m.Code)},
		{"link in text", strings.Contains(msg.Text, m.Link)},
		{"link as a button in html", m.Link == "" || strings.Contains(msg.HTML, `<a href="`+htmlLink+`"`)},
		{"no link in a code-only mail", m.Link != "" || !strings.Contains(msg.Text, "http")},
		{"expiry in words", strings.Contains(msg.Text, expiry) && strings.Contains(msg.HTML, expiry)},
		{"what to do if not asked", strings.Contains(msg.Text, ignore) && strings.Contains(msg.HTML, ignore)},
		{"language and direction", strings.Contains(msg.HTML, `<html lang="`+l.Tag()+`" dir="`+l.Dir()+`">`)},
		{"no remote images", !strings.Contains(msg.HTML, "<img")},
		{"inline css only", !strings.Contains(msg.HTML, "<style") && !strings.Contains(msg.HTML, "<link")},
		{"dark mode declared", strings.Contains(msg.HTML, `name="color-scheme" content="light dark"`)},
		{"one-line subject", !strings.ContainsAny(msg.Subject, "\r\n")},
		{"metadata", msg.Code == m.Code && msg.Link == m.Link && msg.ChallengeID == m.ChallengeID},
		{"from with name", msg.From == `"Latch" <no-reply@latch.example>`},
	} {
		if !c.ok {
			t.Errorf("%s: missing", c.what)
		}
	}
}

func TestTemplatesDirOverridesAndSeesVariables(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "subject.txt"), `Welcome to {{.Variables.company}}`)
	mustWrite(t, filepath.Join(dir, "login.html"), `<p>Hi from {{index .Variables "company"}}: {{.Code}} ({{.Type}}, {{.Template}}, {{.ExpiresIn}})</p>`)
	r := mustRenderer(t, dir)
	m := loginMail(auth.TemplateSignUp, auth.TypeOTP)
	m.TemplateVariables = map[string]string{"company": "Acme <Corp>"}
	msg, err := r.Render(m, "id@x", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Welcome to Acme <Corp>" {
		t.Errorf("subject %q: override not used", msg.Subject)
	}
	if want := "<p>Hi from Acme &lt;Corp&gt;: 042917 (OTP, SIGNUP, 5 minutes)</p>"; msg.HTML != want {
		t.Errorf("html %q, want %q (override, escaped)", msg.HTML, want)
	}
	if !strings.Contains(msg.Text, "042917") || !strings.Contains(msg.Text, "Finish signing up") {
		t.Errorf("text %q: the embedded text template should still be used", msg.Text)
	}
}

func TestNewRendererRejects(t *testing.T) {
	broken := t.TempDir()
	mustWrite(t, filepath.Join(broken, "login.txt"), `{{.Code`)
	failing := t.TempDir()
	mustWrite(t, filepath.Join(failing, "login.txt"), `{{.NoSuchField}}`)
	for _, c := range []struct {
		name  string
		brand mail.Brand
		dir   string
	}{
		{"no from", mail.Brand{}, ""},
		{"bad from", mail.Brand{From: "not an address"}, ""},
		{"missing dir", testBrand, filepath.Join(t.TempDir(), "nope")},
		{"parse error", testBrand, broken},
		{"execute error", testBrand, failing},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := mail.NewRenderer(c.brand, c.dir); err == nil {
				t.Fatal("NewRenderer succeeded")
			}
		})
	}
}

func TestRenderKeepsSubjectOnOneLine(t *testing.T) {
	r, err := mail.NewRenderer(mail.Brand{AppName: "Evil\r\nBcc: x@y", From: "a@b.example"}, "")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := r.Render(loginMail(auth.TemplateSignIn, auth.TypeLink), "id@x", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(msg.Subject, "\r\n") {
		t.Fatalf("subject %q has a line break", msg.Subject)
	}
	if r.Domain() != "b.example" {
		t.Fatalf("Domain() = %q", r.Domain())
	}
}

func TestExpiryInWords(t *testing.T) {
	r := mustRenderer(t, "")
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "30 seconds"},
		{time.Minute, "1 minute"},
		{5 * time.Minute, "5 minutes"},
		{90 * time.Second, "2 minutes"},
		{time.Hour, "1 hour"},
		{24 * time.Hour, "24 hours"},
		{61 * time.Minute, "61 minutes"},
	} {
		m := loginMail(auth.TemplateSignIn, auth.TypeOTP)
		m.Expiry = c.d
		msg, err := r.Render(m, "id@x", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msg.Text, "expires in "+c.want+" ") {
			t.Errorf("%v: text does not say %q:\n%s", c.d, c.want, msg.Text)
		}
	}
}

func TestPermanent(t *testing.T) {
	base := fmt.Errorf("550 no such user")
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", base, false},
		{"marked", mail.MarkPermanent(base), true},
		{"wrapped", fmt.Errorf("smtp: %w", mail.MarkPermanent(base)), true},
	} {
		if got := mail.Permanent(c.err); got != c.want {
			t.Errorf("%s: Permanent = %v, want %v", c.name, got, c.want)
		}
	}
	if mail.MarkPermanent(nil) != nil {
		t.Error("MarkPermanent(nil) != nil")
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLanguageDirectoryOverridesOneLanguage(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "login.txt"), `All: {{.Code}}`)
	de := filepath.Join(dir, "de")
	if err := os.Mkdir(de, 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(de, "subject.txt"), `Ihr Code {{.Code}} ({{.Lang}})`)
	mustWrite(t, filepath.Join(de, "login.txt"), `Deutsch: {{.Code}}, {{.ExpiresIn}}, {{words .Expiry}}`)
	mustWrite(t, filepath.Join(de, "login.html"), `<p dir="{{.Dir}}">{{.HTML "mail.enter_code.signin" "email" (.Address .Email)}}</p>`)
	r := mustRenderer(t, dir)
	m := loginMail(auth.TemplateSignIn, auth.TypeOTP)
	m.Locale = "de"
	msg, err := r.Render(m, "id@x", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Ihr Code 042917 (de)" || msg.Text != "Deutsch: 042917, 5 Minuten, 5 Minuten" {
		t.Errorf("German mail: subject %q, text %q", msg.Subject, msg.Text)
	}
	if want := `<p dir="ltr">Geben Sie diesen Code ein, um sich als <strong>ada@example.com</strong> anzumelden:</p>`; msg.HTML != want {
		t.Errorf("German html %q, want %q", msg.HTML, want)
	}
	m.Locale = "fr"
	msg, err = r.Render(m, "id@x", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Text != "All: 042917" || !strings.Contains(msg.Subject, "votre code de connexion") || !strings.Contains(msg.HTML, `lang="fr"`) {
		t.Errorf("French mail: the shared override and the embedded French: subject %q, text %q", msg.Subject, msg.Text)
	}
}

func TestTemplatesDirMustBeComplete(t *testing.T) {
	incomplete := t.TempDir()
	mustWrite(t, filepath.Join(incomplete, "ar", "subject.txt"), `{{.Code}}`)
	unknown := t.TempDir()
	for _, name := range mail.Templates {
		mustWrite(t, filepath.Join(unknown, "xx", name), `x`)
	}
	broken := t.TempDir()
	for _, name := range mail.Templates {
		mustWrite(t, filepath.Join(broken, "es", name), `{{.Code}}`)
	}
	mustWrite(t, filepath.Join(broken, "es", "login.html"), `{{.T "mail.or_button"`)
	for _, c := range []struct{ name, dir, want string }{
		{"missing files", incomplete, "ar/ lacks login.txt"},
		{"unknown language", unknown, "xx/ is not one of the languages (en, ar, de, es, fr)"},
		{"parse error in a language", broken, "es"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := mail.NewRenderer(testBrand, c.dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewRenderer: %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestUnknownLanguageIsEnglish: a mail queued with a language Latch no
// longer has (or never had) goes out in the closest one, else English.
func TestMailLanguageFallsBack(t *testing.T) {
	r := mustRenderer(t, "")
	for tag, want := range map[string]string{"": "en", "ja": "en", "de-AT": "de", "es-419": "es", "ar": "ar"} {
		m := loginMail(auth.TemplateSignIn, auth.TypeLink)
		m.Locale = tag
		msg, err := r.Render(m, "id@x", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msg.HTML, `<html lang="`+want+`"`) {
			t.Errorf("locale %q: not rendered in %s", tag, want)
		}
	}
}

// BenchmarkRender is the cost of one login mail (subject, text and HTML),
// in English and in Arabic.
func BenchmarkRender(b *testing.B) {
	r, err := mail.NewRenderer(testBrand, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, lang := range []string{"en", "ar"} {
		b.Run(lang, func(b *testing.B) {
			m := loginMail(auth.TemplateSignIn, auth.TypeLinkOTP)
			m.Locale = lang
			for b.Loop() {
				if _, err := r.Render(m, "id@x", time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
