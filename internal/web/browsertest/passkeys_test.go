package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/latch-auth/latch/internal/redisstore"
	"github.com/latch-auth/latch/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Run(m)) }

// --- Chromium's virtual authenticator (the DevTools WebAuthn domain)

// authenticator is a virtual passkey provider built into the device, as
// a phone's or a laptop's: CTAP 2.1, internal transport, discoverable
// credentials, and a user who passes verification (the fingerprint).
type authenticator struct {
	b  *browser
	id webauthn.AuthenticatorID
}

func (b *browser) mustAuthenticator() *authenticator {
	b.t.Helper()
	b.mustDo(call(webauthn.Enable, webauthn.EnableParams{}))
	res := mustCall(b, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                webauthn.Ctap2versionCtap21,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
		// cdproto always sends generateCmtgKeyOnNextOperation, which
		// AddCredential refuses unless the authenticator knows the
		// extension.
		HasCmtgKey: true,
	}})
	return &authenticator{b: b, id: res.AuthenticatorID}
}

// credentials are the passkeys the authenticator holds.
func (a *authenticator) credentials() []*webauthn.Credential {
	a.b.t.Helper()
	return mustCall(a.b, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.id}).Credentials
}

// mustCall runs one protocol command and returns its result.
func mustCall[P, R any](b *browser, cmd cdp.Command[P, R], params P) R {
	b.t.Helper()
	out, err := chromedp.Run(b.ctx, func(ctx context.Context, t *chromedp.Target) (R, error) {
		return cdp.Call(ctx, t, cmd, params)
	})
	if err != nil {
		b.t.Fatalf("%s: %v", cmd.Method, err)
	}
	return out
}

// signInByEmail signs in with the code from the mail, on /login at path.
func (b *browser) signInByEmail(path, email string, n int) {
	b.t.Helper()
	b.open(path)
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"))
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), b.server.mustMail(b.t, email, n).Code))
}

// TestPasskeySignIn: sign in by email, add the passkey offered right
// after, sign out, then sign in with the passkey twice without typing an
// address: by the button (the autofill request is cancelled first) and
// by the email field's autofill (conditional mediation). Each lands
// where the sign-in was asked to go, as an email sign-in does (an OpenID
// request or a forward-auth rd both arrive as redirect_to), and counts in
// the metrics.
func TestPasskeySignIn(t *testing.T) {
	s := mustServer(t, serverOptions{passkeys: true})
	b := mustBrowser(t, s, browserOptions{})
	b.mustDo(call(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchCredentials}))
	a := b.mustAuthenticator()
	const email = "ada@example.com"

	// Right after the email sign-in, before going on: the offer.
	b.signInByEmail("/login?redirect_to="+url.QueryEscape("/?resume=email"), email, 1)
	b.mustDo(waitVisible("[data-action=passkey-add]"), waitText("h1", "Sign in faster next time"))
	b.mustBeAccessible()
	b.docShots("passkey-offer")
	b.mustDo(chromedp.Click(chromedp.CSS("[data-action=passkey-add]")), waitURL("/"))
	b.mustBeAt("/?resume=email")
	creds := a.credentials()
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
		t.Fatalf("the authenticator holds %+v; want one discoverable credential for localhost", creds)
	}
	if h := string(creds[0].UserHandle); !strings.HasPrefix(h, "usr_") || strings.Contains(h, "@") {
		t.Errorf("user handle %q: want the opaque user id, never the address", h)
	}
	b.mustDo(waitText("#passkeys", "Chrome on Linux"), waitText("#passkeys", "not used yet"))
	b.docShots("account-passkeys")

	// The button. The email field's autofill request is pending (the
	// authenticator waits for a touch) and is cancelled before the
	// button's request starts: a browser runs one at a time.
	a.signOut()
	a.presence(false)
	b.open("/login?redirect_to=" + url.QueryEscape("/?resume=button"))
	b.mustDo(waitVisible("[data-action=passkey-login]"), waitTrue("the autofill request", `window.latchCredentialCalls.join()==="conditional"`))
	b.mustHaveAttrs("#email", map[string]string{"autocomplete": "email webauthn"})
	b.mustBeAccessible()
	b.docShots("login-passkey")
	b.mustDo(chromedp.Click(chromedp.CSS("[data-action=passkey-login]")),
		waitTrue("the button's request", `window.latchCredentialCalls.indexOf("modal")>0`))
	if got := eval[string](b, `window.latchCredentialCalls.join()`); got != "conditional,aborted,AbortError,modal" {
		t.Fatalf("requests %s; want the autofill one aborted before the button's started", got)
	}
	// The button in a browser without passkey autofill (the only way
	// there), touched at once.
	b.mustDo(chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem("latch:no-autofill", "1")`))
	a.presence(true)
	b.open("/login?redirect_to=" + url.QueryEscape("/?resume=button"))
	b.mustDo(waitVisible("[data-action=passkey-login]"))
	if v := eval[string](b, `document.getElementById("email").value`); v != "" {
		t.Fatalf("the email field holds %q; want nothing typed", v)
	}
	b.mustDo(chromedp.Click(chromedp.CSS("[data-action=passkey-login]")), waitURL("/"), waitText("[data-bind=email]", email))
	b.mustDo(chromedp.Evaluate[chromedp.Void](`sessionStorage.removeItem("latch:no-autofill")`))
	b.mustBeAt("/?resume=button")
	b.mustDo(waitText("#passkeys", "last used just now"))

	// Autofill: the browser offers the passkey on the email field; the
	// virtual authenticator picks it at once.
	a.signOut()
	b.open("/login?redirect_to=" + url.QueryEscape("/?resume=autofill"))
	b.mustDo(waitURL("/"), waitText("[data-bind=email]", email))
	b.mustBeAt("/?resume=autofill")
	if got := eval[string](b, `window.latchCredentialCalls.join()`); got != "" {
		t.Errorf("the account page made credential requests %s; want none", got)
	}
	if n := a.credentials()[0].SignCount; n < 3 {
		t.Errorf("sign count %v after a registration and two sign-ins; want it counting up", n)
	}
	s.mustMetric(t, `latch_auth_events_total{event="login_succeeded",method="passkey"} 2`)
	s.mustMetric(t, `latch_auth_events_total{event="session_created",method="passkey"} 2`)
}

// TestPasskeyRemovedAndCloned: a copy of the authenticator whose sign
// count went back is refused; a removed passkey signs nobody in, while
// email still does. "Not now" on the offer is remembered.
func TestPasskeyRemovedAndCloned(t *testing.T) {
	s := mustServer(t, serverOptions{passkeys: true})
	b := mustBrowser(t, s, browserOptions{})
	a := b.mustAuthenticator()
	const email = "grace@example.com"

	b.signInByEmail("/login", email, 1)
	b.mustDo(waitVisible("[data-action=passkey-skip]"), chromedp.Click(chromedp.CSS("[data-action=passkey-skip]")), waitURL("/"))
	// Added from the account page instead.
	b.mustDo(waitVisible("#passkeys [data-action=passkey-add]"), chromedp.Click(chromedp.CSS("#passkeys [data-action=passkey-add]")),
		waitText("#passkeys .notice", "Passkey added"))
	a.signOut()
	b.open("/login")
	b.mustDo(waitURL("/"), waitText("[data-bind=email]", email)) // autofill

	// A clone: the same key with a sign count behind the server's.
	real := a.credentials()[0]
	real.ActiveCmtgKeyIndex = nil // GetCredentials says 0 of no keys, which AddCredential refuses
	clone := *real
	clone.SignCount = 0
	b.mustDo(call(webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: a.id, CredentialID: real.CredentialID}),
		call(webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: a.id, Credential: &clone}))
	a.signOut()
	b.open("/login")
	b.mustDo(waitText("#passkey-error", "That passkey didn't sign you in."))
	b.mustBeAt("/login")
	b.mustShowError("passkey")
	b.shot("cloned")
	s.mustMetric(t, `latch_login_failures_total{method="passkey",reason="unauthorized"} 1`)

	// The real authenticator again, counting on: it still works.
	b.mustDo(call(webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: a.id}),
		call(webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: a.id, Credential: real}))
	b.mustDo(chromedp.Click(chromedp.CSS("[data-action=passkey-login]")), waitURL("/"), waitText("[data-bind=email]", email))

	// Removed on the account page: no longer signs in; email does. The
	// offer is not shown again ("Not now").
	b.mustDo(chromedp.Click(chromedp.CSS("#passkeys form[action='/account/passkeys/remove'] button")),
		waitText("#passkeys .notice", "The passkey is removed"))
	b.shot("removed")
	a.signOut()
	b.open("/login")
	b.mustDo(waitText("#passkey-error", "That passkey didn't sign you in."))
	b.mustBeAt("/login")
	// The page told the browser that the passkey is gone: it forgets it.
	deadline := time.Now().Add(waitTimeout)
	for len(a.credentials()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the authenticator still holds the removed passkey: the page did not signal it unknown")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.signInByEmail("/login", email, 2)
	b.mustDo(waitURL("/"), waitText("[data-bind=email]", email))
	if got := eval[int](b, `document.querySelectorAll("#passkeys li").length`); got != 0 {
		t.Fatalf("the account page lists %d passkeys after the removal", got)
	}
}

// signOut presses the account page's "Sign out" and leaves /login for a
// blank page. The authenticator waits for a touch meanwhile, so that the
// autofill request of /login does not sign straight back in.
func (a *authenticator) signOut() {
	a.b.t.Helper()
	a.presence(false)
	a.b.mustDo(chromedp.Click(chromedp.CSS("form[action='/logout'] button")), waitURL("/login"), chromedp.Navigate("about:blank"))
	a.presence(true)
}

// presence says whether the person touches the authenticator when asked
// (on: at once; off: a request waits).
func (a *authenticator) presence(on bool) {
	a.b.t.Helper()
	a.b.mustDo(call(webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: a.id, Enabled: on}))
}

// mustBeAt fails unless the page is at path (with its query).
func (b *browser) mustBeAt(path string) {
	b.t.Helper()
	if got := eval[string](b, `location.pathname + location.search`); got != path {
		b.t.Fatalf("at %s, want %s", got, path)
	}
}

// mustMetric fails unless the server's /metrics has the line.
func (s *server) mustMetric(t *testing.T, line string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.Bytes()
	if !strings.Contains(string(body), "\n"+line+"\n") {
		var near []string
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, strings.Split(line, "{")[0]) {
				near = append(near, l)
			}
		}
		t.Fatalf("/metrics has no line %s; it has\n%s", line, strings.Join(near, "\n"))
	}
}

// watchCredentials records, in window.latchCredentialCalls, every
// navigator.credentials.get the page makes ("conditional" or "modal")
// and every abort of one ("aborted").
//
// With latch:no-autofill in sessionStorage the browser says it has no
// passkey autofill, as some do.
const watchCredentials = `(function(){
  if (location.protocol !== "http:") return;
  if (sessionStorage.getItem("latch:no-autofill")) PublicKeyCredential.isConditionalMediationAvailable = function () { return Promise.resolve(false); };
  var calls = window.latchCredentialCalls = [];
  var get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = function (o) {
    calls.push(o && o.mediation === "conditional" ? "conditional" : "modal");
    if (o && o.signal) o.signal.addEventListener("abort", function () { calls.push("aborted"); });
    return get(o).then(function (c) { calls.push("resolved"); return c; }, function (e) { calls.push(e.name); throw e; });
  };
})();`

// TestPasskeyAcrossReplicas: two replicas on one Redis behind a balancer
// that sends every ceremony's options to one and its answer to the
// other. Adding a passkey and signing in with it work, because the
// ceremonies live in the store, bound to the browser by its cookie.
func TestPasskeyAcrossReplicas(t *testing.T) {
	store := mustRedis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	one := mustServer(t, serverOptions{passkeys: true, store: store, base: public})
	two := mustServer(t, serverOptions{passkeys: true, store: store, base: public})
	var toOne, toTwo atomic.Int32
	balancer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answers to the other replica; everything else (the email
		// sign-in and its outbox) to the first.
		if strings.HasPrefix(r.URL.Path, "/api/auth/passkey/") && strings.HasSuffix(r.URL.Path, "/verify") {
			toTwo.Add(1)
			two.handler.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/auth/passkey/") {
			toOne.Add(1)
		}
		one.handler.ServeHTTP(w, r)
	}))
	balancer.Listener.Close()
	balancer.Listener = ln
	balancer.Start()
	t.Cleanup(balancer.Close)

	b := mustBrowser(t, one, browserOptions{})
	a := b.mustAuthenticator()
	const email = "hedy@example.com"
	b.signInByEmail("/login", email, 1)
	b.mustDo(waitVisible("[data-action=passkey-add]"), chromedp.Click(chromedp.CSS("[data-action=passkey-add]")), waitURL("/"),
		waitText("#passkeys", "Chrome on Linux"))
	a.signOut()
	b.open("/login")
	b.mustDo(waitURL("/"), waitText("[data-bind=email]", email))
	// Options for the registration and for each visit of /login (the
	// autofill request); answers for the registration and the sign-in.
	if toOne.Load() < 2 || toTwo.Load() != 2 {
		t.Fatalf("the first replica served %d ceremony options and the second %d answers; want at least 2 and 2", toOne.Load(), toTwo.Load())
	}
	two.mustMetric(t, `latch_auth_events_total{event="passkey_added",method=""} 1`)
	two.mustMetric(t, `latch_auth_events_total{event="login_succeeded",method="passkey"} 1`)
}

// mustRedis is a redisstore under a fresh prefix, cleaned up after the
// test, or a skip saying why there is no Redis.
func mustRedis(t *testing.T) *redisstore.Store {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "latchtest:" + hex.EncodeToString(b) + ":"
	s, err := redisstore.New(redisstore.Options{URL: redistest.URL(t), KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := s.Client().Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = s.Client().Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("delete the test's Redis keys: %v", err)
		}
		s.Close()
	})
	return s
}
