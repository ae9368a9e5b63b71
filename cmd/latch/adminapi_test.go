package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// adminEnv is a development environment whose CLIENTS_FILE holds one
// admin client, made by `latch clients add ops --admin`; it returns the
// client's secret.
func adminEnv(t *testing.T, extra ...string) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	env := testEnv(filepath.Join(dir, "data"), append([]string{"CLIENTS_FILE", filepath.Join(dir, "clients.json")}, extra...)...)
	out := mustCLI(t, env, "clients", "add", "ops", "--admin", "--name", "Operations")
	m := regexp.MustCompile(`client secret \(shown once, only its hash is kept\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("clients add --admin printed no secret:\n%s", out)
	}
	if list := mustCLI(t, env, "clients", "list"); !strings.Contains(list, "admin") {
		t.Fatalf("clients list does not show the admin client:\n%s", list)
	}
	return env, m[1]
}

// adminCall is one call of the admin API.
type adminCall struct {
	t     *testing.T
	base  string
	token string
}

// tokenFor asks /oauth/token for a client-credentials token.
func tokenFor(t *testing.T, base, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

func mustAdmin(t *testing.T, base, secret string) *adminCall {
	t.Helper()
	status, v := tokenFor(t, base, "ops", secret)
	tok, _ := v["access_token"].(string)
	if status != 200 || !strings.HasPrefix(tok, "lat1.") || v["token_type"] != "Bearer" || v["scope"] != "admin" {
		t.Fatalf("admin token: %d %v", status, v)
	}
	return &adminCall{t: t, base: base, token: tok}
}

// do sends method path with body (JSON-encoded unless a string) and
// returns the status, headers and body.
func (a *adminCall) do(method, path string, body any, contentType string) (int, http.Header, []byte) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, raw
}

// want calls and checks the status, decoding the answer into out.
func (a *adminCall) want(status int, method, path string, body any, out any) {
	a.t.Helper()
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	got, _, raw := a.do(method, path, body, ct)
	if got != status {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, got, raw, status)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

// wantError checks Latch's error shape and code.
func wantError(t *testing.T, what string, status int, raw []byte, wantStatus int, code string) {
	t.Helper()
	var e struct {
		Error, Code, RequestID string
	}
	if status != wantStatus || json.Unmarshal(raw, &e) != nil || e.Code != code || e.Error == "" || e.RequestID == "" {
		t.Fatalf("%s: %d %s, want %d with code %s in Latch's error shape", what, status, raw, wantStatus, code)
	}
}

// TestAdminAPI drives every admin route through the running program with
// an admin client's token, and checks what refuses.
func TestAdminAPI(t *testing.T) {
	env, secret := adminEnv(t, "RATE_LIMIT_AUTH_EMAIL_MAX", "10")
	l := startLatch(t, env)
	ada := newBrowser(t, l.base)
	adaID := mustSignIn(t, ada, "ada@example.com")
	a := mustAdmin(t, l.base, secret)

	t.Run("refused without an admin token", func(t *testing.T) {
		anon := &adminCall{t: t, base: l.base}
		status, h, raw := anon.do("GET", "/api/admin/users", nil, "")
		wantError(t, "no token", status, raw, 401, "unauthorized")
		if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without WWW-Authenticate: Bearer: %q", h.Get("WWW-Authenticate"))
		}
		// A person's session cookie is no admin credential.
		s, _, b := ada.do("GET", "/api/admin/users", "", "")
		wantError(t, "a user's session cookie", s, b, 401, "unauthorized")
		// Nor is a person's access token.
		userToken := &adminCall{t: t, base: l.base, token: mustToken(t, ada)}
		s, _, b = userToken.do("GET", "/api/admin/users", nil, "")
		wantError(t, "a user's access token", s, b, 401, "unauthorized")
		forged := &adminCall{t: t, base: l.base, token: forge(a.token)}
		s, _, b = forged.do("POST", "/api/admin/users/"+adaID+"/disable", nil, "")
		wantError(t, "a forged admin token", s, b, 401, "unauthorized")
		if s, v := tokenFor(t, l.base, "ops", "wrong-secret"); s != 401 || v["error"] != "invalid_client" {
			t.Fatalf("token with a wrong secret: %d %v", s, v)
		}
		if s, v := tokenFor(t, l.base, "nobody", secret); s != 401 || v["error"] != "invalid_client" {
			// As a wrong secret is answered: the answer tells no one which ids are admin clients.
			t.Fatalf("token for an unknown client: %d %v, want 401 invalid_client", s, v)
		}
	})

	t.Run("users", func(t *testing.T) {
		var list []userJSON
		a.want(200, "GET", "/api/admin/users", nil, &list)
		if len(list) != 1 || list[0].ID != adaID || list[0].LastSignInAt == nil {
			t.Fatalf("users: %+v", list)
		}
		var u userJSON
		a.want(200, "GET", "/api/admin/users/ada@example.com", nil, &u)
		if u.ID != adaID {
			t.Fatalf("user by address: %+v", u)
		}
		a.want(200, "GET", "/api/admin/users/"+adaID, nil, &u)
		if u.Email != "ada@example.com" {
			t.Fatalf("user by id: %+v", u)
		}
		s, _, raw := a.do("GET", "/api/admin/users/nobody@example.com", nil, "")
		wantError(t, "unknown user", s, raw, 404, "not_found")

		a.want(201, "POST", "/api/admin/users", map[string]string{"email": "grace@example.com"}, &u)
		if u.Email != "grace@example.com" || u.Disabled || u.LastSignInAt != nil {
			t.Fatalf("add: %+v (an added user has not signed in)", u)
		}
		a.want(201, "POST", "/api/admin/invitations", map[string]string{"email": "guest@example.com"}, &u)
		if code, _ := ada.lastMail("guest@example.com"); code == "" {
			t.Fatal("the invitation sent no mail")
		}
		a.want(200, "PUT", "/api/admin/users/"+adaID+"/groups", map[string]any{"groups": []string{"ops", "admins"}}, &u)
		if strings.Join(u.Groups, ",") != "admins,ops" {
			t.Fatalf("groups: %+v", u)
		}
		a.want(200, "PUT", "/api/admin/users/ada@example.com/metadata", map[string]any{"metadata": map[string]any{"plan": "pro"}}, &u)
		if string(u.Metadata) != `{"plan":"pro"}` {
			t.Fatalf("metadata: %s", u.Metadata)
		}
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, ct, body string
			status                       int
			code                         string
		}{
			{"case-variant duplicate key", "POST", "/api/admin/users", "application/json", `{"email":"x@example.com","EMAIL":"y@example.com"}`, 400, "invalid_request"},
			{"repeated key", "POST", "/api/admin/users", "application/json", `{"email":"x@example.com","email":"y@example.com"}`, 400, "invalid_request"},
			{"unknown field", "POST", "/api/admin/users", "application/json", `{"emial":"x@example.com"}`, 400, "invalid_request"},
			{"not JSON", "POST", "/api/admin/users", "text/plain", `email=x@example.com`, 415, "unsupported_media_type"},
			{"not an object", "POST", "/api/admin/users", "application/json", `["x@example.com"]`, 400, "invalid_request"},
			{"bad address", "POST", "/api/admin/users", "application/json", `{"email":"not an address"}`, 400, "invalid_email"},
			{"path field in the body", "PUT", "/api/admin/users/" + adaID + "/groups", "application/json", `{"user":"grace@example.com","groups":[]}`, 400, "invalid_request"},
			{"bad group name", "PUT", "/api/admin/users/" + adaID + "/groups", "application/json", `{"groups":["no spaces"]}`, 400, "invalid_request"},
			{"metadata not an object", "PUT", "/api/admin/users/" + adaID + "/metadata", "application/json", `{"metadata":"pro"}`, 400, "invalid_request"},
			{"a body where none is taken", "POST", "/api/admin/users/" + adaID + "/disable", "application/json", `{"really":true}`, 400, "invalid_request"},
			{"too large", "POST", "/api/admin/users", "application/json", `{"email":"` + strings.Repeat("a", 20<<10) + `"}`, 413, "payload_too_large"},
			{"wrong method", "PATCH", "/api/admin/users", "", "", 405, "method_not_allowed"},
			{"unknown route", "GET", "/api/admin/nothing", "", "", 404, "not_found"},
		} {
			s, _, raw := a.do(tc.method, tc.path, tc.body, tc.ct)
			wantError(t, tc.name, s, raw, tc.status, tc.code)
		}
		var list []userJSON
		a.want(200, "GET", "/api/admin/users", nil, &list)
		var emails []string
		for _, u := range list {
			emails = append(emails, u.Email)
			if u.ID == adaID && (strings.Join(u.Groups, ",") != "admins,ops" || u.Disabled) {
				t.Errorf("bad input changed ada: %+v", u)
			}
		}
		if strings.Join(emails, ",") != "ada@example.com,grace@example.com,guest@example.com" {
			t.Fatalf("bad input changed the users: %v", emails)
		}
	})

	t.Run("disable ends the session and sign-in fails", func(t *testing.T) {
		var sessions []sessionJSON
		a.want(200, "GET", "/api/admin/users/"+adaID+"/sessions", nil, &sessions)
		if len(sessions) != 1 || sessions[0].Method != "code" {
			t.Fatalf("sessions: %+v", sessions)
		}
		var u userJSON
		a.want(200, "POST", "/api/admin/users/"+adaID+"/disable", nil, &u)
		if !u.Disabled {
			t.Fatalf("disable: %+v", u)
		}
		if status, _ := ada.getJSON("/api/me"); status != 401 {
			t.Fatalf("/api/me after disable: %d, want 401", status)
		}
		other := newBrowser(t, l.base)
		status, sent := other.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
		if status != 200 {
			t.Fatalf("send to a disabled user: %d, want the 200 anyone gets", status)
		}
		if status, _ := other.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": "000000"}); status == 200 {
			t.Fatal("a disabled user signed in")
		}
		a.want(200, "POST", "/api/admin/users/"+adaID+"/enable", nil, &u)
		if u.Disabled {
			t.Fatalf("enable: %+v", u)
		}
		mustSignIn(t, ada, "ada@example.com") // ada has read the first mail; the disabled send mailed nothing
		var revoked map[string]int
		a.want(200, "DELETE", "/api/admin/users/"+adaID+"/sessions", nil, &revoked)
		if revoked["revoked"] != 1 {
			t.Fatalf("revoke: %v", revoked)
		}
	})

	t.Run("keys", func(t *testing.T) {
		var before, after []keyJSON
		a.want(200, "GET", "/api/admin/keys", nil, &before)
		a.want(200, "POST", "/api/admin/keys/rotate", nil, &after)
		if len(before) == 0 || len(after) == 0 || after[0].ID == before[0].ID || after[0].State != "current" {
			t.Fatalf("rotate: before %+v after %+v", before, after)
		}
	})

	t.Run("events with webhooks off", func(t *testing.T) {
		s, _, raw := a.do("GET", "/api/admin/events/failed", nil, "")
		wantError(t, "events failed with webhooks off", s, raw, 404, "not_found")
		s, _, raw = a.do("POST", "/api/admin/events/failed/msg_x/replay", nil, "")
		wantError(t, "events replay with webhooks off", s, raw, 404, "not_found")
	})

	t.Run("delete", func(t *testing.T) {
		var u userJSON
		a.want(200, "DELETE", "/api/admin/users/grace@example.com", nil, &u)
		s, _, raw := a.do("GET", "/api/admin/users/grace@example.com", nil, "")
		wantError(t, "a deleted user", s, raw, 404, "not_found")
		s, _, raw = a.do("DELETE", "/api/admin/users/grace@example.com", nil, "")
		wantError(t, "deleting twice", s, raw, 404, "not_found")
	})

	// Every action is audited with the admin client as its actor, the
	// engine's own events during it too.
	waitFor(t, "the audit records", 5*time.Second, func() bool {
		return regexp.MustCompile(`"event":"admin_action"[^\n]*"actor":"client:ops","method":"users.delete"`).MatchString(l.log()) &&
			regexp.MustCompile(`"event":"user_updated"[^\n]*"actor":"client:ops"[^\n]*"changed":"disabled"`).MatchString(l.log())
	})
}

// TestAdminClientRemovedLosesAccess: once its client is removed from
// CLIENTS_FILE and the server re-reads it (SIGHUP), a live admin token
// is refused, and no new one is issued.
func TestAdminClientRemovedLosesAccess(t *testing.T) {
	env, secret := adminEnv(t, "LOG_LEVEL", "info")
	l := startLatch(t, env)
	a := mustAdmin(t, l.base, secret)
	a.want(200, "GET", "/api/admin/keys", nil, nil)
	mustCLI(t, env, "clients", "remove", "ops")
	mustSIGHUP(t, l, "CLIENTS_FILE reloaded")
	s, _, raw := a.do("GET", "/api/admin/keys", nil, "")
	wantError(t, "the token of a removed client", s, raw, 401, "unauthorized")
	if s, v := tokenFor(t, l.base, "ops", secret); s == 200 {
		t.Fatalf("a removed client got a token: %v", v)
	}
}

// TestAdminTokenEndsWithItsSecret: a token is bound to the secret it was
// issued for; once the operator gives the client a new secret (a leaked
// one rotated), the old secret's tokens no longer work, within their
// 15 minutes.
func TestAdminTokenEndsWithItsSecret(t *testing.T) {
	env, secret := adminEnv(t, "LOG_LEVEL", "info")
	l := startLatch(t, env)
	old := mustAdmin(t, l.base, secret)
	old.want(200, "GET", "/api/admin/keys", nil, nil)
	mustCLI(t, env, "clients", "remove", "ops")
	out := mustCLI(t, env, "clients", "add", "ops", "--admin")
	m := regexp.MustCompile(`client secret \(shown once, only its hash is kept\): (\S+)`).FindStringSubmatch(out)
	if m == nil || m[1] == secret {
		t.Fatalf("clients add printed no new secret:\n%s", out)
	}
	mustSIGHUP(t, l, "CLIENTS_FILE reloaded")
	s, _, raw := old.do("GET", "/api/admin/keys", nil, "")
	wantError(t, "a token of the secret before", s, raw, 401, "unauthorized")
	mustAdmin(t, l.base, m[1]).want(200, "GET", "/api/admin/keys", nil, nil)
}

// TestProviderTokenIsNoAdminToken: a passwordless API client's token
// from the same /oauth/token endpoint opens the provider API, not the
// admin API.
func TestProviderTokenIsNoAdminToken(t *testing.T) {
	env, _ := adminEnv(t, "API_CLIENTS", "app:0123456789abcdef0123")
	l := startLatch(t, env)
	status, v := tokenFor(t, l.base, "app", "0123456789abcdef0123")
	tok, _ := v["access_token"].(string)
	if status != 200 || tok == "" || strings.HasPrefix(tok, "lat1.") {
		t.Fatalf("provider token: %d %v", status, v)
	}
	provider := &adminCall{t: t, base: l.base, token: tok}
	s, _, raw := provider.do("GET", "/api/admin/users", nil, "")
	wantError(t, "a provider API token", s, raw, 401, "unauthorized")
}

// TestAdminAPILimits: failed admin calls and failed admin token requests
// run out per client IP; successful calls give their unit back.
func TestAdminAPILimits(t *testing.T) {
	env, secret := adminEnv(t, "RATE_LIMIT_MAX", "3", "RATE_LIMIT_AUTH_IP_MAX", "2")
	l := startLatch(t, env)
	a := mustAdmin(t, l.base, secret)
	for range 5 {
		a.want(200, "GET", "/api/admin/keys", nil, nil) // successes cost nothing
	}
	anon := &adminCall{t: t, base: l.base}
	for i := range 3 {
		s, _, raw := anon.do("GET", "/api/admin/users", nil, "")
		wantError(t, fmt.Sprintf("failed call %d", i+1), s, raw, 401, "unauthorized")
	}
	s, h, raw := anon.do("GET", "/api/admin/users", nil, "")
	wantError(t, "the call after the limit", s, raw, 429, "rate_limited")
	if h.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	for range 2 {
		if s, v := tokenFor(t, l.base, "ops", "wrong"); s != 401 {
			t.Fatalf("wrong secret: %d %v", s, v)
		}
	}
	if s, v := tokenFor(t, l.base, "ops", secret); s != 429 || v["error"] != "slow_down" {
		t.Fatalf("token request after the limit: %d %v, want 429 slow_down", s, v)
	}
}

// forge changes one character in the middle of a token's signature (the
// part after its last dot), so that it is surely not the real one.
func forge(token string) string {
	i := strings.LastIndexByte(token, '.') + (len(token)-strings.LastIndexByte(token, '.'))/2
	b := []byte(token)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
