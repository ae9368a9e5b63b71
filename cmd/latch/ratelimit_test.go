package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestProviderAPILimits runs the provider API through run() and spends its
// limits: per API client on REST and Connect, per IP on every route, the
// token endpoint included, each refusal in its face's own error shape.
func TestProviderAPILimits(t *testing.T) {
	l := startLatch(t, testEnv(t.TempDir(),
		"API_CLIENTS", "app:app-secret-0123456789abcdef,other:other-secret-0123456789abcdef",
		"RATE_LIMIT_API_CLIENT_MAX", "3", "RATE_LIMIT_API_IP_MAX", "10", "RATE_LIMIT_AUTH_EMAIL_MAX", "100"))
	c := newBrowser(t, l.base)
	call := func(path, token, body string) (int, http.Header, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, l.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v map[string]any
		json.NewDecoder(res.Body).Decode(&v)
		return res.StatusCode, res.Header, v
	}
	token := func(id, secret string) (int, http.Header, map[string]any) {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		status, hdr, body := c.do(http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", form.Encode())
		var v map[string]any
		json.Unmarshal(body, &v)
		return status, hdr, v
	}
	_, _, app := token("app", "app-secret-0123456789abcdef")
	_, _, other := token("other", "other-secret-0123456789abcdef")
	appToken, _ := app["access_token"].(string)
	otherToken, _ := other["access_token"].(string)
	if appToken == "" || otherToken == "" {
		t.Fatalf("tokens: %v %v", app, other)
	}

	// REST: three calls for app, then ResourceExhausted in grpc-gateway's shape.
	rest := func(i int) (int, http.Header, map[string]any) {
		return call("/api/v1/passwordless/email/send", appToken, fmt.Sprintf(`{"email":"rest%d@example.com","magiclink_auth_uri":"https://app.example.com/verify"}`, i))
	}
	for i := range 3 {
		if status, _, body := rest(i); status != 200 {
			t.Fatalf("REST call %d: %d %v", i+1, status, body)
		}
	}
	status, hdr, body := rest(3)
	details, _ := body["details"].([]any)
	if status != 429 || body["code"] != float64(8) || len(details) != 1 || hdr.Get("Retry-After") == "" {
		t.Fatalf("REST call over the client's limit: %d %v (Retry-After %q)", status, body, hdr.Get("Retry-After"))
	}

	// Another client has its own budget, on Connect; its refusal is Connect's.
	connect := func(i int) (int, http.Header, map[string]any) {
		return call("/scalekit.v1.auth.passwordless.PasswordlessService/SendPasswordlessEmail", otherToken, fmt.Sprintf(`{"email":"connect%d@example.com","magiclinkAuthUri":"https://app.example.com/verify"}`, i))
	}
	for i := range 3 {
		if status, _, body := connect(i); status != 200 {
			t.Fatalf("Connect call %d of the other client: %d %v", i+1, status, body)
		}
	}
	if status, hdr, body := connect(3); status != 429 || body["code"] != "resource_exhausted" || hdr.Get("Retry-After") == "" {
		t.Fatalf("Connect call over the client's limit: %d %v", status, body)
	}

	// Ten calls from this address so far: the token endpoint refuses the
	// eleventh in the OAuth shape.
	status, hdr, body = token("app", "app-secret-0123456789abcdef")
	if status != 429 || body["error"] != "slow_down" || body["error_description"] == "" || hdr.Get("Retry-After") == "" {
		t.Fatalf("token request over the per-IP limit: %d %v", status, body)
	}
	// The app routes' limits are their own.
	if status, _ := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "person@example.com"}); status != 200 {
		t.Fatalf("app send after the provider API's limit: %d", status)
	}
}

// TestProviderAPIPerIPLimitOff: RATE_LIMIT_AUTH_IP_MAX=0 turns the
// provider API's per-IP limit off too (API.md "Limits").
func TestProviderAPIPerIPLimitOff(t *testing.T) {
	l := startLatch(t, testEnv(t.TempDir(), "API_CLIENTS", "app:app-secret-0123456789abcdef",
		"RATE_LIMIT_API_IP_MAX", "1", "RATE_LIMIT_AUTH_IP_MAX", "0"))
	c := newBrowser(t, l.base)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"app-secret-0123456789abcdef"}}.Encode()
	for i := range 3 {
		if status, _, body := c.do(http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", form); status != 200 {
			t.Fatalf("token request %d with the per-IP limits off: %d %s", i+1, status, body)
		}
	}
}
