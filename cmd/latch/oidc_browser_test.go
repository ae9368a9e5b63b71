package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"
)

// TestOpenIDCodeFlowInChromium is the basic code flow as a person meets
// it: an app sends Chromium to /oauth/authorize, Latch's real /login page
// takes the email (pre-filled from login_hint) and the emailed code, and
// the browser lands on the app's callback with a code that go-oidc
// redeems and verifies.
func TestOpenIDCodeFlowInChromium(t *testing.T) {
	exe := os.Getenv("LATCH_TEST_CHROMIUM")
	if exe == "" {
		var err error
		if exe, err = exec.LookPath("chromium"); err != nil {
			t.Skip("chromium not found; apt-get install -y chromium or set LATCH_TEST_CHROMIUM")
		}
	}
	got := make(chan url.Values, 1)
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.URL.Query():
		default:
		}
		w.Write([]byte("<!doctype html><title>back in the app</title>"))
	}))
	defer callback.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "clients.json")
	os.WriteFile(file, []byte(`[{"id": "web", "secret": "`+rpSecret+`", "redirectUris": ["`+callback.URL+`/cb"]}]`), 0o600)
	l := startLatch(t, testEnv(dir, "CLIENTS_FILE", file))
	app := newRP(t, l, "web", rpSecret)
	app.conf.RedirectURL = callback.URL + "/cb"

	tab, step, where := chromeTab(t, exe)

	const email = "ada@example.org"
	step("open the authorization URL", chromedp.Navigate(app.conf.AuthCodeURL("st-browser", oauth2.SetAuthURLParam("login_hint", email))),
		chromedp.WaitVisible(chromedp.CSS("#email")))
	if prefilled, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector("#email").value`)); prefilled != email {
		t.Fatalf("login_hint pre-filled %q, want %q", prefilled, email)
	}
	step("send the code", chromedp.SendKeys(chromedp.CSS("#email"), kb.Enter), chromedp.WaitVisible(chromedp.CSS("#code")))
	code, _ := newBrowser(t, l.base).lastMail(email)
	step("type the code", chromedp.SendKeys(chromedp.CSS("#code"), code))
	select {
	case q := <-got:
		if q.Get("state") != "st-browser" || q.Get("iss") != l.base {
			t.Fatalf("callback query %v", q)
		}
		if _, idt := app.exchange(q.Get("code")); idt.Subject == "" {
			t.Fatal("an ID token without a subject")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the browser never reached the app's callback (it is at %s)", where())
	}
}
