package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestOpenIDUILocales: discovery lists the languages; an OpenID client's
// ui_locales reaches /login, whose steps and mail are in that language;
// the consent page speaks the request's language too.
func TestOpenIDUILocales(t *testing.T) {
	l := startOIDC(t)
	b := newBrowser(t, l.base)
	_, disc := b.getJSON("/.well-known/openid-configuration")
	var tags []string
	for _, v := range disc["ui_locales_supported"].([]any) {
		tags = append(tags, v.(string))
	}
	if !slices.Equal(tags, []string{"en", "ar", "de", "es", "fr"}) {
		t.Errorf("ui_locales_supported = %v", tags)
	}

	asks := newRP(t, l, "asks", rpSecret)
	login := b.location(asks.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("ui_locales", "de fr")))
	if login.Path != "/login" || login.Query().Get("ui_locales") != "de fr" {
		t.Fatalf("sent to %s, want /login with ui_locales", login)
	}
	status, _, page := b.get(login.String())
	if status != 200 || !strings.Contains(string(page), `<html lang="de" dir="ltr">`) || !strings.Contains(string(page), `name="locale" value="de"`) {
		t.Fatalf("/login for ui_locales=de: %d\n%s", status, page)
	}
	const email = "ilse@example.org"
	form := url.Values{"email": {email}, "redirect_to": {login.Query().Get("redirect_to")}, "locale": {"de"}}
	status, _, page = b.do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form.Encode())
	if status != 200 || !strings.Contains(string(page), "Prüfen Sie Ihre E-Mails") {
		t.Fatalf("POST /login: %d\n%s", status, page)
	}
	b.lastMail(email) // waits for the queue to deliver it
	_, box := b.getJSON("/dev/outbox.json?to=" + url.QueryEscape(email))
	msgs := box["messages"].([]any)
	if subject := msgs[len(msgs)-1].(map[string]any)["subject"].(string); !strings.Contains(subject, "ist Ihr Anmeldecode für") {
		t.Errorf("the mail's subject %q is not German", subject)
	}

	// Signed in, the consent page speaks the request's language.
	status, _, page = b.get(b.signInAt(login, email).String())
	if status != 200 || !strings.Contains(string(page), `<html lang="de" dir="ltr">`) || !strings.Contains(string(page), "Bei asks anmelden?") {
		t.Errorf("consent page for ui_locales=de: %d\n%s", status, page)
	}
	// A signed-in browser: ui_locales=ar goes straight to the consent page.
	status, _, page = b.get(asks.conf.AuthCodeURL("st-2", oauth2.SetAuthURLParam("ui_locales", "ar")))
	if status != 200 || !strings.Contains(string(page), `<html lang="ar" dir="rtl">`) || !strings.Contains(string(page), "تسجيل الدخول إلى asks؟") {
		t.Errorf("consent page for ui_locales=ar: %d\n%s", status, page)
	}
}

// TestIncompleteLanguageTemplatesStopTheStart: a MAIL_TEMPLATES_DIR whose
// language directory lacks a file, or is no language, stops Latch at
// start with the problem named (exit code 2).
func TestIncompleteLanguageTemplatesStopTheStart(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"de/subject.txt", "klingon/subject.txt", "klingon/login.txt", "klingon/login.html"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(`{{.Code}}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"DATA_DIR": t.TempDir(), "MAIL_TEMPLATES_DIR": dir, "PORT": "0"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard)
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 2 {
		t.Fatalf("run = %v, want exit code 2", err)
	}
	for _, want := range []string{"MAIL_TEMPLATES_DIR", "de/ lacks login.txt", "de/ lacks login.html", "klingon/ is not one of the languages"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the problem does not say %q:\n%v", want, err)
		}
	}
}

// TestLocalesDirAddsALanguage: a catalogue dropped into LOCALES_DIR is a
// language Latch then speaks, without a rebuild; a broken one stops the
// start with the file named.
func TestLocalesDirAddsALanguage(t *testing.T) {
	dir := t.TempDir()
	en, err := os.ReadFile(filepath.Join("..", "..", "internal", "i18n", "locales", "en.json"))
	if err != nil {
		t.Fatal(err)
	}
	nl := strings.Replace(strings.Replace(string(en), `"language": "en"`, `"language": "nl"`, 1), `"name": "English"`, `"name": "Nederlands"`, 1)
	nl = strings.Replace(nl, `"title.sign_in": "Sign in"`, `"title.sign_in": "Inloggen"`, 1)
	if !strings.Contains(nl, `"language": "nl"`) || !strings.Contains(nl, "Inloggen") {
		t.Fatal("the English catalogue's shape changed; adjust this test")
	}
	if err := os.WriteFile(filepath.Join(dir, "nl.json"), []byte(nl), 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLatch(t, testEnv(t.TempDir(), "LOCALES_DIR", dir))
	req, _ := http.NewRequest(http.MethodGet, l.base+"/login", nil)
	req.Header.Set("Accept-Language", "nl-NL,nl;q=0.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<html lang="nl" dir="ltr">`) || !strings.Contains(string(page), "Inloggen") {
		t.Fatalf("/login for a Dutch browser with nl.json in LOCALES_DIR:\n%.600s", page)
	}
	l.stop()

	os.WriteFile(filepath.Join(dir, "sv.json"), []byte(`{"language":"sv","name":"Svenska","direction":"ltr","messages":{}}`), 0o644)
	env := testEnv(t.TempDir(), "LOCALES_DIR", dir)
	err = run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard)
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 2 || !strings.Contains(err.Error(), "LOCALES_DIR") || !strings.Contains(err.Error(), "sv.json") {
		t.Fatalf("run with an incomplete sv.json = %v, want exit code 2 naming LOCALES_DIR and the file", err)
	}
}
