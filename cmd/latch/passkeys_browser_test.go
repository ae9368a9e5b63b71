package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"
)

// TestOpenIDWithPasskeyInChromium runs the real binary at
// http://localhost, with passkeys at their defaults (the RP ID is
// BASE_URL's host), and an app that signs people in with OpenID Connect.
// The first authorization signs in by email, and Latch offers a passkey
// before going back to the app; the second (prompt=login, so a fresh
// sign-in) takes the passkey from the email field's autofill, with
// nothing typed, and resumes the authorization request exactly as the
// email sign-in did: the app gets a code for the same subject. Signed
// out, a third sign-in by passkey comes from a reverse proxy's
// forward-auth (/login?rd=) and lands on the protected URL.
func TestOpenIDWithPasskeyInChromium(t *testing.T) {
	exe := os.Getenv("LATCH_TEST_CHROMIUM")
	if exe == "" {
		var err error
		if exe, err = exec.LookPath("chromium"); err != nil {
			t.Skip("chromium not found; apt-get install -y chromium or set LATCH_TEST_CHROMIUM")
		}
	}
	got := make(chan url.Values, 1)
	protected := make(chan string, 1)
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cb":
			got <- r.URL.Query()
		case "/app":
			protected <- r.URL.RawQuery
		}
		w.Write([]byte("<!doctype html><title>back in the app</title>"))
	}))
	defer callback.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "clients.json")
	os.WriteFile(file, []byte(`[{"id": "web", "secret": "`+rpSecret+`", "redirectUris": ["`+callback.URL+`/cb"]}]`), 0o600)
	rules := filepath.Join(dir, "rules.json")
	os.WriteFile(rules, []byte(`[{"host": "127.0.0.1", "allow": {}}]`), 0o600)
	port := strconv.Itoa(freePort(t))
	l := startLatch(t, testEnv(dir, "CLIENTS_FILE", file, "ACCESS_RULES_FILE", rules, "PORT", port, "BASE_URL", "http://localhost:"+port))
	l.base = "http://localhost:" + port // the issuer, as discovery must name it
	app := newRP(t, l, "web", rpSecret)
	app.conf.RedirectURL = callback.URL + "/cb"

	_, step, where := chromeTab(t, exe)
	callbackCode := func(state string) string {
		t.Helper()
		select {
		case q := <-got:
			if q.Get("state") != state || q.Get("code") == "" {
				t.Fatalf("callback query %v, want state %s and a code", q, state)
			}
			return q.Get("code")
		case <-time.After(30 * time.Second):
			t.Fatalf("the browser never reached the app's callback (it is at %s)", where())
		}
		return ""
	}
	// Chromium's virtual authenticator stands for this device's own.
	step("add an authenticator", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		return chromedp.Void{}, err
	})

	const email = "ada@example.org"
	step("sign in by email", chromedp.Navigate(app.conf.AuthCodeURL("st-email", oauth2.SetAuthURLParam("login_hint", email))),
		chromedp.WaitVisible(chromedp.CSS("#email")), chromedp.SendKeys(chromedp.CSS("#email"), kb.Enter), chromedp.WaitVisible(chromedp.CSS("#code")))
	code, _ := newBrowser(t, l.base).lastMail(email)
	step("type the code; the passkey offer", chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.WaitVisible(chromedp.CSS("[data-action=passkey-add]")))
	step("add the passkey", chromedp.Click(chromedp.CSS("[data-action=passkey-add]")))
	_, first := app.exchange(callbackCode("st-email"))

	step("sign in again, by passkey", chromedp.Navigate(app.conf.AuthCodeURL("st-passkey", oauth2.SetAuthURLParam("prompt", "login"))))
	_, second := app.exchange(callbackCode("st-passkey"))
	if second.Subject != first.Subject || first.Subject == "" {
		t.Fatalf("subjects %q (email) and %q (passkey): want the same person", first.Subject, second.Subject)
	}

	// Signed out (by the API, so that no page signs straight back in),
	// then sent to /login by forward-auth.
	step("sign out", chromedp.Navigate(l.base+"/"), chromedp.WaitVisible(chromedp.CSS("#passkeys")),
		chromedp.Evaluate[chromedp.Void](`fetch("/api/auth/logout", {method: "POST"}).then(function (r) { if (!r.ok) throw new Error(r.status); })`, chromedp.EvalAwaitPromise))
	step("sign in for the proxy, by passkey", chromedp.Navigate(l.base+"/login?rd="+url.QueryEscape(callback.URL+"/app?page=1")))
	select {
	case q := <-protected:
		if q != "page=1" {
			t.Fatalf("landed on /app?%s, want the rd target", q)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the browser never reached the rd target (it is at %s)", where())
	}

	// The audit trail says how: by passkey, with no mail for them.
	if n, p := strings.Count(l.out.String(), `"event":"login_succeeded"`), len(regexp.MustCompile(`"event":"login_succeeded"[^\n]*"method":"passkey"`).FindAllString(l.out.String(), -1)); n != 3 || p != 2 {
		t.Fatalf("audit: %d sign-ins, %d by passkey; want one by code and two by passkey:\n%s", n, p, l.out)
	}
	var claims struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err := second.Claims(&claims); err != nil || claims.AuthTime == 0 {
		t.Fatalf("the passkey sign-in's ID token has no auth_time (%v)", err)
	}
}
