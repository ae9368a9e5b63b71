package web_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
)

func (h *harness) getIn(c *http.Client, path, acceptLanguage string) response {
	h.t.Helper()
	return h.do(c, http.MethodGet, path, "", nil, "Accept-Language", acceptLanguage)
}

func (h *harness) postFormIn(c *http.Client, path string, form url.Values, acceptLanguage string) response {
	h.t.Helper()
	return h.do(c, http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "Accept-Language", acceptLanguage)
}

// mustBeIn checks a page's language: <html lang dir>, Content-Language,
// and a sentence of it.
func mustBeIn(t *testing.T, r response, lang, dir, sentence string) {
	t.Helper()
	page := html.UnescapeString(liveStep(r.body))
	if !strings.Contains(page, `<html lang="`+lang+`" dir="`+dir+`">`) || r.Header.Get("Content-Language") != lang {
		t.Errorf("page not in %s (%s), Content-Language %q:\n%.300s", lang, dir, r.Header.Get("Content-Language"), page)
	}
	if !strings.Contains(page, sentence) {
		t.Errorf("%s page lacks %q:\n%s", lang, sentence, page)
	}
}

func TestPagesFollowAcceptLanguage(t *testing.T) {
	h := newHarness(t, options{})
	for _, c := range []struct{ accept, lang, dir, sentence string }{
		{"", "en", "ltr", "Email me a sign-in code"},
		{"de-DE,de;q=0.9,en;q=0.8", "de", "ltr", "Anmeldecode per E-Mail senden"},
		{"es-419,es;q=0.9", "es", "ltr", "Enviarme un código de acceso"},
		{"fr-CA", "fr", "ltr", "Recevoir un code de connexion"},
		{"ar-EG,ar;q=0.9", "ar", "rtl", "أرسل إليّ رمز الدخول"},
		{"ja,zh;q=0.5", "en", "ltr", "Email me a sign-in code"},
		{"nonsense;;q=", "en", "ltr", "Email me a sign-in code"},
	} {
		r := h.getIn(h.client, "/login", c.accept)
		mustBeIn(t, r, c.lang, c.dir, c.sentence)
		if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Accept-Language") {
			t.Errorf("%q: Vary %q lacks Accept-Language", c.accept, r.Header.Get("Vary"))
		}
	}
	// Error pages too: the 404 page in German.
	mustBeIn(t, h.getIn(h.client, "/no/such/page", "de"), "de", "ltr", "Seite nicht gefunden")
}

// TestUILocalesComeFirst: an OpenID client's ui_locales beats the
// browser's language on /login, and the page's forms carry it through
// the steps without JavaScript: the code step, a wrong code, a resend,
// and the mails, all in the client's language.
func TestUILocalesComeFirst(t *testing.T) {
	h := newHarness(t, options{})
	c := h.client
	r := h.getIn(c, "/login?ui_locales=ja+fr-CA+de", "de")
	mustBeIn(t, r, "fr", "ltr", "Saisissez votre adresse e-mail")
	// ui_locales that names no language Latch has gives way to locale,
	// which comes before the browser's.
	mustBeIn(t, h.getIn(c, "/login?ui_locales=ja&locale=es", "de"), "es", "ltr", "")
	if !strings.Contains(string(r.body), `<input type="hidden" name="locale" value="fr">`) {
		t.Fatalf("the email step does not carry the language:\n%s", liveStep(r.body))
	}
	r = h.postFormIn(c, "/login", url.Values{"email": {"ada@example.com"}, "locale": {"fr"}}, "de")
	mustBeIn(t, r, "fr", "ltr", "Consultez vos e-mails")
	first := h.mail.Last(t, "ada@example.com")
	if first.Locale != "fr" {
		t.Fatalf("mail in %q, want fr", first.Locale)
	}
	id := first.ChallengeID
	r = h.postFormIn(c, "/login/code", url.Values{"auth_request_id": {id}, "email": {"ada@example.com"}, "code": {"000000"}, "locale": {"fr"}}, "de")
	if got := html.UnescapeString(pageError(r.body, "code-error")); got != "Ce code n’est pas le bon. Il vous reste 4 essais." {
		t.Errorf("wrong code: %q", got)
	}
	h.clock.Advance(31e9)
	r = h.postFormIn(c, "/login/resend", url.Values{"auth_request_id": {id}, "email": {"ada@example.com"}, "locale": {"fr"}}, "de")
	mustBeIn(t, r, "fr", "ltr", "Nous vous avons envoyé un nouvel e-mail")
	if m := h.mail.Last(t, "ada@example.com"); m == first || m.Locale != "fr" {
		t.Errorf("resend in %q, want the challenge's fr", m.Locale)
	}
}

func TestSendTakesALocale(t *testing.T) {
	h := newHarness(t, options{})
	send := func(body map[string]string, accept string) response {
		t.Helper()
		return h.do(h.client, http.MethodPost, "/api/auth/passwordless/email/send", "application/json",
			strings.NewReader(mustJSON(t, body)), "Accept-Language", accept)
	}
	for _, c := range []struct{ locale, accept, want string }{
		{"ar", "de", "ar"},           // the field before the browser
		{"es-MX", "", "es"},          // a region of a language Latch has
		{"ja", "de-AT", "de"},        // one Latch lacks: the browser's
		{"", "fr-FR,fr;q=0.9", "fr"}, // no field: the browser's
		{"", "", ""},                 // nothing: the default
	} {
		email := "send-" + c.want + "-" + c.locale + "@example.com"
		if r := send(map[string]string{"email": email, "locale": c.locale}, c.accept); r.StatusCode != http.StatusOK {
			t.Fatalf("send %q: %d %s", c.locale, r.StatusCode, r.body)
		}
		if got := h.mail.Last(t, email).Locale; got != c.want {
			t.Errorf("locale %q, Accept-Language %q: mail in %q, want %q", c.locale, c.accept, got, c.want)
		}
	}
	r := send(map[string]string{"email": "bad@example.com", "locale": "!!not a tag"}, "")
	v := wantError(t, r, http.StatusBadRequest, auth.CodeInvalidRequest)
	if !strings.Contains(string(r.body), "locale") {
		t.Errorf("the error does not name the field: %v", v)
	}
	if h.mail.Count() != 5 {
		t.Errorf("%d mails; a refused send must send none", h.mail.Count())
	}
}

// TestStoredLanguageChoice: the language picked on the account page
// comes before the browser's, for the pages and for the mails; a
// request's own locale still comes first.
func TestStoredLanguageChoice(t *testing.T) {
	h := newHarness(t, options{})
	c := newClient()
	_, m := h.send(c, "ada@example.com")
	mustPost(t, h, c, "/api/auth/passwordless/verify", url.Values{"link_token": {linkToken(t, m.Link)}}, http.StatusSeeOther)

	r := h.getIn(c, "/", "de")
	mustBeIn(t, r, "de", "ltr", "Sprache")
	if !strings.Contains(string(r.body), `<option value="es" lang="es">Español</option>`) {
		t.Fatalf("no language picker:\n%s", r.body)
	}
	r = h.postFormIn(c, "/account/language", url.Values{"locale": {"es"}}, "de")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/?language=1" {
		t.Fatalf("pick a language: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	r = h.getIn(c, "/?language=1", "de")
	mustBeIn(t, r, "es", "ltr", "Tu idioma se ha guardado.")
	if !strings.Contains(string(r.body), `<option value="es" lang="es" selected>`) {
		t.Errorf("the picker does not show the choice")
	}
	// A language Latch lacks changes nothing.
	h.postFormIn(c, "/account/language", url.Values{"locale": {"tlh"}}, "de")
	mustBeIn(t, h.getIn(c, "/", "de"), "es", "ltr", "Cerrar sesión")

	// The mails: the stored choice before the browser's, after the field.
	send := func(locale string) string {
		t.Helper()
		r := h.do(newClient(), http.MethodPost, "/api/auth/passwordless/email/send", "application/json",
			strings.NewReader(mustJSON(t, map[string]string{"email": "ada@example.com", "locale": locale})), "Accept-Language", "de")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("send: %d %s", r.StatusCode, r.body)
		}
		return h.mail.Last(t, "ada@example.com").Locale
	}
	h.clock.Advance(61e9)
	if got := send(""); got != "es" {
		t.Errorf("mail in %q, want the stored es", got)
	}
	h.clock.Advance(61e9)
	if got := send("fr"); got != "fr" {
		t.Errorf("mail in %q, want the request's fr", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLinkPageSpeaksTheMailsLanguage: the magic link's confirm page is in
// the language of the mail, whatever the browser that opens it says.
func TestLinkPageSpeaksTheMailsLanguage(t *testing.T) {
	h := newHarness(t, options{})
	r := h.do(h.client, http.MethodPost, "/api/auth/passwordless/email/send", "application/json",
		strings.NewReader(mustJSON(t, map[string]string{"email": "ada@example.com", "locale": "es"})))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("send: %d %s", r.StatusCode, r.body)
	}
	m := h.mail.Last(t, "ada@example.com")
	mustBeIn(t, h.getIn(newClient(), linkPath(t, m.Link), "de"), "es", "ltr", "Terminar de iniciar sesión")
	mustBeIn(t, h.getIn(newClient(), linkPath(t, m.Link)+"&locale=fr", "de"), "fr", "ltr", "Terminer la connexion")
}
