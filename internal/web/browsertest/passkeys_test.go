package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

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

func TestPasskeyExplore(t *testing.T) {
	s := mustServer(t, serverOptions{passkeys: true})
	b := mustBrowser(t, s, browserOptions{})
	b.mustDo(call(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchCredentials}))
	a := b.mustAuthenticator()
	const email = "ada@example.com"

	b.signInByEmail("/login", email, 1)
	b.mustDo(waitVisible("[data-action=passkey-add]"))
	b.mustDo(chromedp.Click(chromedp.CSS("[data-action=passkey-add]")), waitURL("/"))
	creds := a.credentials()
	t.Logf("creds: %+v", creds[0])
	b.mustDo(waitText("#passkeys", "Chrome"))
	b.mustDo(call(webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: a.id, Enabled: false}))
	b.mustDo(chromedp.Click(chromedp.CSS("form[action='/logout'] button")), waitURL("/login"))
	time.Sleep(time.Second)
	t.Log(eval[string](b, `location.href + JSON.stringify(window.latchCredentialCalls)`))
	b.mustDo(chromedp.Click(chromedp.CSS("[data-action=passkey-login]")))
	time.Sleep(time.Second)
	t.Log(eval[string](b, `location.href + JSON.stringify(window.latchCredentialCalls)`))
	b.mustDo(call(webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: a.id, Enabled: true}))
	b.mustDo(chromedp.Click(chromedp.CSS("[data-action=passkey-login]")))
	time.Sleep(2 * time.Second)
	t.Log(eval[string](b, `location.href + JSON.stringify(window.latchCredentialCalls)`))
}

// watchCredentials records, in window.latchCredentialCalls, every
// navigator.credentials.get the page makes ("conditional" or "modal")
// and every abort of one ("aborted").
const watchCredentials = `(function(){
  var calls = window.latchCredentialCalls = [];
  var get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = function (o) {
    calls.push(o && o.mediation === "conditional" ? "conditional" : "modal");
    if (o && o.signal) o.signal.addEventListener("abort", function () { calls.push("aborted"); });
    return get(o).then(function (c) { calls.push("resolved"); return c; }, function (e) { calls.push(e.name); throw e; });
  };
})();`
