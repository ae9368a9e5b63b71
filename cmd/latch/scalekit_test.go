package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/scalekit"
)

// These tests run two whole Latch programs through run(): one serving the
// provider API (API_CLIENTS), one in upstream mode (SCALEKIT_*) pointed at
// it, and sign people in through the upstream one's app routes.

const (
	skClientID     = "upstream-latch"
	skClientSecret = "upstream-secret-0123456789abcdef"
)

// skEnv is a development environment on a free loopback port.
func skEnv(t *testing.T, kv ...string) map[string]string {
	return testEnv(t.TempDir(), kv...)
}

// skProviderEnv is a Latch serving the provider API to the upstream one.
func skProviderEnv(t *testing.T, kv ...string) map[string]string {
	return skEnv(t, append([]string{
		"API_CLIENTS", skClientID + ":" + skClientSecret,
		"PASSWORDLESS_RESEND_COOLDOWN", "1s",
		"RATE_LIMIT_AUTH_EMAIL_MAX", "10",
	}, kv...)...)
}

// skUpstreamEnv is a Latch whose sign-ins go to the provider at url.
func skUpstreamEnv(t *testing.T, url, secret string) map[string]string {
	return skEnv(t,
		"SCALEKIT_ENVIRONMENT_URL", url,
		"SCALEKIT_CLIENT_ID", skClientID,
		"SCALEKIT_CLIENT_SECRET", secret,
	)
}

// skStart runs Latch with env and waits until it listens.
func skStart(t *testing.T, env map[string]string) *latch { return startLatch(t, env) }

// skBrowser is a person's browser: cookies kept, redirects not followed.
type skBrowser struct {
	t    *testing.T
	base string
	http *http.Client
}

func skNewBrowser(t *testing.T, base string) *skBrowser {
	jar, _ := cookiejar.New(nil)
	return &skBrowser{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *skBrowser) do(method, path, contentType, body string) (*http.Response, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, raw
}

func (b *skBrowser) json(method, path string, v any) (int, map[string]any) {
	b.t.Helper()
	var body, ct string
	if v != nil {
		raw, _ := json.Marshal(v)
		body, ct = string(raw), "application/json"
	}
	res, raw := b.do(method, path, ct, body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

// skMail returns the newest mail to addr in l's dev outbox and how many
// there are, waiting up to 5s for more than after (delivery may be queued).
func skMail(t *testing.T, l *latch, addr string, after int) (code, link string, count int) {
	t.Helper()
	b := skNewBrowser(t, l.base)
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, v := b.json("GET", "/dev/outbox.json?to="+url.QueryEscape(addr), nil)
		msgs, _ := v["messages"].([]any)
		if status == 200 && len(msgs) > after {
			m := msgs[len(msgs)-1].(map[string]any)
			code, _ = m["code"].(string)
			link, _ = m["link"].(string)
			return code, link, len(msgs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new mail to %s at %s (%d)", addr, l.base, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func skWant(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || (wantCode != "" && body["code"] != wantCode) {
		t.Fatalf("%s: %d %v, want %d %s", what, status, body, wantStatus, wantCode)
	}
}

func TestScalekitUpstreamLatchSignsInThroughProviderLatch(t *testing.T) {
	provider := skStart(t, skProviderEnv(t))
	upstream := skStart(t, skUpstreamEnv(t, provider.base, skClientSecret))

	status, ready := skNewBrowser(t, upstream.base).json("GET", "/api/health/ready", nil)
	if checks, _ := ready["checks"].(map[string]any); status != 200 || checks["upstream"] != "ok" {
		t.Fatalf("ready: %d %v", status, ready)
	}

	// By code, through the upstream Latch's app routes; the provider mails.
	ada := skNewBrowser(t, upstream.base)
	status, sent := ada.json("POST", "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com", "state": "from-app"})
	skWant(t, "send", status, sent, 200, "")
	id, _ := sent["authRequestId"].(string)
	if id == "" || sent["passwordlessType"] != "LINK_OTP" {
		t.Fatalf("send: %v", sent)
	}
	code, link, mails := skMail(t, provider, "ada@example.com", 0)
	if !strings.HasPrefix(link, upstream.base+"/api/auth/passwordless/verify?") {
		t.Fatalf("the link points to %q, not to the upstream Latch", link)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	status, body := ada.json("POST", "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": wrong})
	skWant(t, "wrong code", status, body, 400, "invalid_code")

	time.Sleep(1100 * time.Millisecond) // the provider's resend cooldown
	status, resent := ada.json("POST", "/api/auth/passwordless/email/resend", map[string]string{"authRequestId": id})
	skWant(t, "resend", status, resent, 200, "")
	if resent["authRequestId"] != id {
		t.Fatalf("resend: %v", resent)
	}
	code, _, _ = skMail(t, provider, "ada@example.com", mails)

	status, body = ada.json("POST", "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": code})
	skWant(t, "right code", status, body, 200, "")
	user, _ := body["user"].(map[string]any)
	if user["email"] != "ada@example.com" || body["state"] != "from-app" {
		t.Fatalf("verify: %v", body)
	}
	status, me := ada.json("GET", "/api/me", nil)
	if meUser, _ := me["user"].(map[string]any); status != 200 || meUser["email"] != "ada@example.com" || meUser["id"] != user["id"] {
		t.Fatalf("me: %d %v", status, me)
	}
	status, body = ada.json("POST", "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": code})
	skWant(t, "reused code", status, body, 410, "expired")

	// By link, in the browser that asked: the confirm page, then the POST.
	bo := skNewBrowser(t, upstream.base)
	status, sent = bo.json("POST", "/api/auth/passwordless/email/send", map[string]string{"email": "bo@example.com"})
	skWant(t, "send", status, sent, 200, "")
	_, link, _ = skMail(t, provider, "bo@example.com", 0)
	lu, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if lu.Query().Get("auth_request_id") != sent["authRequestId"] {
		t.Fatalf("link %s does not name %v", link, sent["authRequestId"])
	}
	res, page := bo.do("GET", lu.RequestURI(), "", "")
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("link page: %d %s", res.StatusCode, page)
	}
	form := url.Values{"link_token": {lu.Query().Get("link_token")}, "auth_request_id": {lu.Query().Get("auth_request_id")}}
	res, page = bo.do("POST", "/api/auth/passwordless/verify", "application/x-www-form-urlencoded", form.Encode())
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("link confirm: %d %s", res.StatusCode, page)
	}
	status, me = bo.json("GET", "/api/me", nil)
	if meUser, _ := me["user"].(map[string]any); status != 200 || meUser["email"] != "bo@example.com" {
		t.Fatalf("me after link: %d %v", status, me)
	}

	// Ada again, in another browser: the same local user id.
	ada2 := skNewBrowser(t, upstream.base)
	status, sent = ada2.json("POST", "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	skWant(t, "send again", status, sent, 200, "")
	code, _, _ = skMail(t, provider, "ada@example.com", mails+1)
	status, body = ada2.json("POST", "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": sent["authRequestId"].(string), "code": code})
	if again, _ := body["user"].(map[string]any); status != 200 || again["id"] != user["id"] {
		t.Fatalf("second login: %d %v, first user %v", status, body, user)
	}

	// The upstream provider sends the mail: the upstream-mode Latch has no
	// outbox to show.
	if status, out := skNewBrowser(t, upstream.base).json("GET", "/dev/outbox.json", nil); status != 404 {
		t.Fatalf("upstream outbox: %d %v", status, out)
	}
}

func TestScalekitUpstreamDownThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	providerURL := "http://127.0.0.1:" + port

	// The upstream is down: Latch still boots and serves health.
	upstream := skStart(t, skUpstreamEnv(t, providerURL, skClientSecret))
	b := skNewBrowser(t, upstream.base)
	status, body := b.json("GET", "/api/health", nil)
	skWant(t, "health", status, body, 200, "")
	status, body = b.json("GET", "/api/health/ready", nil)
	if checks, _ := body["checks"].(map[string]any); status != 503 || checks["upstream"] != "unavailable" || checks["store"] != "ok" {
		t.Fatalf("ready while down: %d %v", status, body)
	}
	status, body = b.json("POST", "/api/auth/passwordless/email/send", map[string]string{"email": "cy@example.com"})
	skWant(t, "send while down", status, body, 502, "upstream_error")
	if body["error"] != scalekit.MsgUpstreamUnreachable {
		t.Fatalf("message: %v", body)
	}

	// The provider comes up: the next sign-in works, and readiness follows.
	provider := skStart(t, skProviderEnv(t, "PORT", port, "SESSION_SECRET", strings.Repeat("a", 40)))
	status, body = b.json("POST", "/api/auth/passwordless/email/send", map[string]string{"email": "cy@example.com"})
	skWant(t, "send after recovery", status, body, 200, "")
	status, body = b.json("GET", "/api/health/ready", nil)
	skWant(t, "ready after recovery", status, body, 200, "")

	// Down again, with a token cached: 502 again.
	provider.stop()
	status, body = b.json("POST", "/api/auth/passwordless/email/send", map[string]string{"email": "cy2@example.com"})
	skWant(t, "send while down again", status, body, 502, "upstream_error")
	status, body = b.json("GET", "/api/health/ready", nil)
	skWant(t, "ready while down again", status, body, 503, "")

	// Back with other keys: the cached token is refused, Latch fetches a new
	// one and the call succeeds.
	provider = skStart(t, skProviderEnv(t, "PORT", port, "SESSION_SECRET", strings.Repeat("b", 40)))
	status, body = b.json("POST", "/api/auth/passwordless/email/send", map[string]string{"email": "cy3@example.com"})
	skWant(t, "send after key change", status, body, 200, "")
	code, _, _ := skMail(t, provider, "cy3@example.com", 0)
	status, body = b.json("POST", "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": body["authRequestId"].(string), "code": code})
	skWant(t, "verify after key change", status, body, 200, "")
	status, body = b.json("GET", "/api/health/ready", nil)
	skWant(t, "ready after key change", status, body, 200, "")
}

func TestScalekitUpstreamBadCredentials(t *testing.T) {
	provider := skStart(t, skProviderEnv(t))
	upstream := skStart(t, skUpstreamEnv(t, provider.base, "not-the-secret-0123456789"))
	b := skNewBrowser(t, upstream.base)
	status, body := b.json("POST", "/api/auth/passwordless/email/send", map[string]string{"email": "dee@example.com"})
	skWant(t, "send", status, body, 502, "upstream_error")
	if body["error"] != scalekit.MsgUpstreamRefused {
		t.Fatalf("message: %v", body)
	}
	status, body = b.json("GET", "/api/health", nil)
	skWant(t, "health", status, body, 200, "")
	status, body = b.json("GET", "/api/health/ready", nil)
	if checks, _ := body["checks"].(map[string]any); status != 503 || checks["upstream"] != "unavailable" {
		t.Fatalf("ready: %d %v", status, body)
	}
	// Log lines are flushed every 100ms.
	waitFor(t, "the log line saying why", 5*time.Second, func() bool {
		return strings.Contains(upstream.log(), "refused Latch's credentials")
	})
}

func TestScalekitProviderNeedsClientsToMount(t *testing.T) {
	l := skStart(t, skEnv(t))
	b := skNewBrowser(t, l.base)
	status, body := b.json("POST", "/api/v1/passwordless/email/send", map[string]string{"email": "x@example.com"})
	skWant(t, "provider API without API_CLIENTS", status, body, 404, "not_found")
	// /oauth/token is the OpenID provider's too: without API clients it
	// answers client_credentials as a grant it does not serve.
	res, raw := b.do("POST", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials")
	if res.StatusCode != 400 || !strings.Contains(string(raw), `"unsupported_grant_type"`) {
		t.Fatalf("token endpoint without API_CLIENTS: %d %s", res.StatusCode, raw)
	}
}
