package scalekit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

func TestTokenEndpoint(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	basic := func(id, secret string) string {
		return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		basic       string
		status      int
		errCode     string
	}{
		{"form", "application/x-www-form-urlencoded", form("grant_type", "client_credentials", "client_id", testClientID, "client_secret", testClientSecret), "", 200, ""},
		{"basic", "application/x-www-form-urlencoded", form("grant_type", "client_credentials"), basic(testClientID, testClientSecret), 200, ""},
		{"wrong secret", "application/x-www-form-urlencoded", form("grant_type", "client_credentials", "client_id", testClientID, "client_secret", "wrong-secret-0123456789"), "", 401, "invalid_client"},
		{"other client's secret", "application/x-www-form-urlencoded", form("grant_type", "client_credentials", "client_id", testClientID, "client_secret", "other-secret-0123456789"), "", 401, "invalid_client"},
		{"unknown client", "application/x-www-form-urlencoded", form("grant_type", "client_credentials", "client_id", "nobody", "client_secret", testClientSecret), "", 401, "invalid_client"},
		{"wrong basic", "application/x-www-form-urlencoded", form("grant_type", "client_credentials"), basic(testClientID, "nope"), 401, "invalid_client"},
		{"no credentials", "application/x-www-form-urlencoded", form("grant_type", "client_credentials"), "", 401, "invalid_client"},
		{"no grant type", "application/x-www-form-urlencoded", form("client_id", testClientID, "client_secret", testClientSecret), "", 400, "invalid_request"},
		{"other grant type", "application/x-www-form-urlencoded", form("grant_type", "password", "client_id", testClientID, "client_secret", testClientSecret), "", 400, "unsupported_grant_type"},
		{"json body", "application/json", `{"grant_type":"client_credentials"}`, "", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, raw := f.doBasic(t, tt.contentType, tt.body, tt.basic)
			var b map[string]any
			mustUnmarshal(t, raw, &b)
			if res != tt.status {
				t.Fatalf("status %d, want %d: %v", res, tt.status, b)
			}
			if tt.status == 200 {
				if b["token_type"] != "Bearer" || b["expires_in"].(float64) != 3600 || b["access_token"] == "" {
					t.Fatalf("token response %v", b)
				}
				return
			}
			if b["error"] != tt.errCode {
				t.Fatalf("error %v, want %s", b, tt.errCode)
			}
		})
	}
}

func (f *fixture) doBasic(t *testing.T, contentType, body, basic string) (int, []byte) {
	t.Helper()
	req, err := newRequest("POST", f.srv.URL+"/oauth/token", contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+basic)
	}
	res, b := doRequest(t, f.srv.Client(), req)
	return res.StatusCode, b
}

func TestRESTNeedsToken(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	good := f.mustToken(t)
	forged := good[:len(good)-4] + "AAAA"
	for _, path := range []string{"/api/v1/passwordless/email/send", "/api/v1/passwordless/email/resend", "/api/v1/passwordless/email/verify"} {
		for _, tc := range []struct{ name, token, msg string }{
			{"none", "", "Token empty"},
			{"garbage", "not-a-token", "Token invalid or expired"},
			{"forged", forged, "Token invalid or expired"},
		} {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				res, body := f.post(t, path, tc.token, `{"email":"a@example.com"}`)
				if res.StatusCode != 401 || body["code"].(float64) != 16 || body["message"] != tc.msg {
					t.Fatalf("got %d %v", res.StatusCode, body)
				}
				mustErrorCode(t, body, "UNAUTHENTICATED")
				if res.Header.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate header")
				}
			})
		}
	}
	t.Run("expired", func(t *testing.T) {
		f.clock.Advance(time.Hour)
		res, body := f.post(t, "/api/v1/passwordless/email/send", good, `{"email":"a@example.com"}`)
		if res.StatusCode != 401 || body["code"].(float64) != 16 {
			t.Fatalf("got %d %v", res.StatusCode, body)
		}
	})
	t.Run("removed client", func(t *testing.T) {
		tok := f.mustToken(t)
		// The same secret, but the client is no longer configured.
		p := mustProvider(t, f.provider.engine, ProviderConfig{Clients: []string{"other:other-secret-0123456789"}, Secret: testSecret, TokenKey: testTokenKey, Clock: f.clock, Logger: quiet})
		f.setProvider(p)
		defer f.setProvider(f.provider)
		res, body := f.post(t, "/api/v1/passwordless/email/send", tok, `{"email":"a@example.com"}`)
		if res.StatusCode != 401 {
			t.Fatalf("got %d %v", res.StatusCode, body)
		}
	})
}

// mustErrorCode checks the ErrorInfo detail of a REST error body.
func mustErrorCode(t *testing.T, body map[string]any, code string) {
	t.Helper()
	details, _ := body["details"].([]any)
	if len(details) != 1 {
		t.Fatalf("details %v", body["details"])
	}
	d := details[0].(map[string]any)
	if d["@type"] != "type.googleapis.com/scalekit.v1.errdetails.ErrorInfo" || d["error_code"] != code {
		t.Fatalf("detail %v, want error_code %s", d, code)
	}
}

func TestRESTSend(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	token := f.mustToken(t)
	tests := []struct {
		name, body string
		wantExpiry int
		wantVars   map[string]string
		wantSignup bool
		wantLocale string
	}{
		{"snake_case", `{"email":"snake@example.com","template":"SIGNUP","magiclink_auth_uri":"` + testLinkURI + `","state":"s1","expires_in":600,"template_variables":{"team":"Acme"}}`, 600, map[string]string{"team": "Acme"}, true, ""},
		{"lowerCamel", `{"email":"camel@example.com","magiclinkAuthUri":"` + testLinkURI + `","expiresIn":120,"templateVariables":{"team":"Acme"}}`, 120, map[string]string{"team": "Acme"}, false, ""},
		{"defaults", `{"email":"plain@example.com","magiclink_auth_uri":"` + testLinkURI + `"}`, 300, nil, false, ""},
		{"template as number", `{"email":"num@example.com","template":2,"magiclink_auth_uri":"` + testLinkURI + `"}`, 300, nil, true, ""},
		{"locale", `{"email":"locale@example.com","locale":"fr-CA","magiclink_auth_uri":"` + testLinkURI + `"}`, 300, nil, false, "fr"},
		{"locale Latch lacks", `{"email":"ja@example.com","locale":"ja","magiclink_auth_uri":"` + testLinkURI + `"}`, 300, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.post(t, "/api/v1/passwordless/email/send", token, tt.body)
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %v", res.StatusCode, body)
			}
			now := f.clock.Now()
			if body["auth_request_id"] == "" || body["passwordless_type"] != "LINK_OTP" ||
				body["expires_in"].(float64) != float64(tt.wantExpiry) ||
				int64(body["expires_at"].(float64)) != now.Add(time.Duration(tt.wantExpiry)*time.Second).Unix() {
				t.Fatalf("body %v", body)
			}
			if res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", res.Header.Get("Content-Type"))
			}
			addr := strings.Split(strings.Split(tt.body, `"email":"`)[1], `"`)[0]
			mail := f.mail.last(t, addr)
			if mail.ChallengeID != body["auth_request_id"] || len(mail.Code) != 6 || !strings.HasPrefix(mail.Link, testLinkURI+"?") || !strings.Contains(mail.Link, "link_token=") {
				t.Fatalf("mail %+v", mail)
			}
			if fmt.Sprint(mail.TemplateVariables) != fmt.Sprint(tt.wantVars) && !(len(mail.TemplateVariables) == 0 && len(tt.wantVars) == 0) {
				t.Errorf("template variables %v, want %v", mail.TemplateVariables, tt.wantVars)
			}
			if (mail.Template == "SIGNUP") != tt.wantSignup {
				t.Errorf("template %s", mail.Template)
			}
			if mail.Locale != tt.wantLocale {
				t.Errorf("locale %q, want %q", mail.Locale, tt.wantLocale)
			}
		})
	}
}

func TestRESTSendErrors(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	token := f.mustToken(t)
	manyVars := map[string]string{}
	for i := range 31 {
		manyVars[fmt.Sprintf("key%02d", i)] = "v"
	}
	var many []string
	for k, v := range manyVars {
		many = append(many, fmt.Sprintf("%q:%q", k, v))
	}
	uri := `,"magiclink_auth_uri":"` + testLinkURI + `"`
	tests := []struct {
		name, body string
		status     int
		grpcCode   float64
		msg        string // substring of the message
		errorCode  string
	}{
		{"no uri snake", `{"email":"x1@example.com"}`, 400, 3, "magiclink_auth_uri is required", "INVALID_REQUEST"},
		{"empty uri camel", `{"email":"x2@example.com","magiclinkAuthUri":""}`, 400, 3, "magiclink_auth_uri is required", "INVALID_REQUEST"},
		{"relative uri", `{"email":"x3@example.com","magiclink_auth_uri":"/verify"}`, 400, 3, "magiclink_auth_uri must be an absolute", "INVALID_REQUEST"},
		{"no email", `{"magiclink_auth_uri":"` + testLinkURI + `"}`, 400, 3, "email is required", "INVALID_REQUEST"},
		{"bad email", `{"email":"not-an-address"` + uri + `}`, 400, 3, "invalid email", "INVALID_EMAIL"},
		{"expiry too short snake", `{"email":"x4@example.com","expires_in":59` + uri + `}`, 400, 3, "expires_in must be between 60 and 3600", "INVALID_REQUEST"},
		{"expiry too long camel", `{"email":"x5@example.com","expiresIn":3601` + uri + `}`, 400, 3, "expires_in must be between 60 and 3600", "INVALID_REQUEST"},
		{"reserved variable", `{"email":"x6@example.com","template_variables":{"otp":"1"}` + uri + `}`, 400, 3, `"otp" is reserved`, "INVALID_REQUEST"},
		{"reserved variable camel", `{"email":"x7@example.com","templateVariables":{"expiry_time":"1"}` + uri + `}`, 400, 3, "is reserved", "INVALID_REQUEST"},
		{"short key", `{"email":"x8@example.com","template_variables":{"a":"1"}` + uri + `}`, 400, 3, "must be 2 to 25 characters", "INVALID_REQUEST"},
		{"long key", `{"email":"x9@example.com","template_variables":{"` + strings.Repeat("k", 26) + `":"1"}` + uri + `}`, 400, 3, "must be 2 to 25 characters", "INVALID_REQUEST"},
		{"long value", `{"email":"x10@example.com","template_variables":{"team":"` + strings.Repeat("v", 257) + `"}` + uri + `}`, 400, 3, "at most 256", "INVALID_REQUEST"},
		{"too many variables", `{"email":"x11@example.com","template_variables":{` + strings.Join(many, ",") + `}` + uri + `}`, 400, 3, "at most 30 pairs", "INVALID_REQUEST"},
		{"bad locale", `{"email":"x16@example.com","locale":"!!"` + uri + `}`, 400, 3, "locale must be a BCP 47 language tag", "INVALID_REQUEST"},
		{"long state", `{"email":"x12@example.com","state":"` + strings.Repeat("s", 1001) + `"` + uri + `}`, 400, 3, "state must be at most 1000", "INVALID_REQUEST"},
		{"bad template", `{"email":"x13@example.com","template":"LOGIN"` + uri + `}`, 400, 3, "invalid request body", "INVALID_REQUEST"},
		{"unknown field", `{"email":"x14@example.com","colour":"red"` + uri + `}`, 400, 3, "invalid request body", "INVALID_REQUEST"},
		{"not json", `email=x15@example.com`, 400, 3, "invalid request body", "INVALID_REQUEST"},
		{"empty body", ``, 400, 3, "request body is empty", "INVALID_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.post(t, "/api/v1/passwordless/email/send", token, tt.body)
			if res.StatusCode != tt.status || body["code"].(float64) != tt.grpcCode || !strings.Contains(body["message"].(string), tt.msg) {
				t.Fatalf("got %d %v, want %d code %v containing %q", res.StatusCode, body, tt.status, tt.grpcCode, tt.msg)
			}
			mustErrorCode(t, body, tt.errorCode)
		})
	}
	if n := f.mail.count(); n != 0 {
		t.Errorf("%d mails sent for bad requests", n)
	}
	t.Run("wrong content type", func(t *testing.T) {
		res, b := f.do(t, "POST", "/api/v1/passwordless/email/send", "text/plain", `{"email":"x@example.com"}`, token)
		if res.StatusCode != 400 || !strings.Contains(string(b), "Content-Type") {
			t.Fatalf("got %d %s", res.StatusCode, b)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		body := `{"email":"busy@example.com"` + uri + `}`
		for range 2 {
			if res, b := f.post(t, "/api/v1/passwordless/email/send", token, body); res.StatusCode != 200 {
				t.Fatalf("send: %d %v", res.StatusCode, b)
			}
		}
		res, b := f.post(t, "/api/v1/passwordless/email/send", token, body)
		if res.StatusCode != 429 || b["code"].(float64) != 8 || !strings.Contains(b["message"].(string), "rate") || res.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d %v (Retry-After %q)", res.StatusCode, b, res.Header.Get("Retry-After"))
		}
		mustErrorCode(t, b, "RATE_LIMITED")
	})
}

func TestRESTSendOTPOnlyNeedsNoURI(t *testing.T) {
	f := newFixture(t, fixtureOptions{typ: "OTP"})
	res, body := f.post(t, "/api/v1/passwordless/email/send", f.mustToken(t), `{"email":"otp@example.com"}`)
	if res.StatusCode != 200 || body["passwordless_type"] != "OTP" {
		t.Fatalf("got %d %v", res.StatusCode, body)
	}
	if m := f.mail.last(t, "otp@example.com"); m.Link != "" || m.Code == "" {
		t.Fatalf("mail %+v", m)
	}
}

// sendOne sends a login email over REST and returns its auth_request_id.
func (f *fixture) sendOne(t *testing.T, token, email, extra string) string {
	t.Helper()
	res, body := f.post(t, "/api/v1/passwordless/email/send", token, `{"email":"`+email+`","magiclink_auth_uri":"`+testLinkURI+`"`+extra+`}`)
	if res.StatusCode != 200 {
		t.Fatalf("send: %d %v", res.StatusCode, body)
	}
	return body["auth_request_id"].(string)
}

func TestRESTResend(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	token := f.mustToken(t)
	for _, tc := range []struct{ name, field string }{{"snake_case", "auth_request_id"}, {"lowerCamel", "authRequestId"}} {
		t.Run(tc.name, func(t *testing.T) {
			email := "resend-" + strings.ToLower(tc.name[:5]) + "@example.com"
			id := f.sendOne(t, token, email, `,"expires_in":900`)
			first := f.mail.last(t, email)

			// At once, as Scalekit allows: no cooldown on the provider face.
			res, body := f.post(t, "/api/v1/passwordless/email/resend", token, `{"`+tc.field+`":"`+id+`"}`)
			if res.StatusCode != 200 || body["auth_request_id"] != id || body["expires_in"].(float64) != 900 ||
				int64(body["expires_at"].(float64)) != f.clock.Now().Add(900*time.Second).Unix() {
				t.Fatalf("resend: %d %v", res.StatusCode, body)
			}
			second := f.mail.last(t, email)
			if second.Code == first.Code && second.Link == first.Link {
				t.Fatal("resend sent the same code and link")
			}
			// A third mail within the minute: limited, with Scalekit's wording.
			res, body = f.post(t, "/api/v1/passwordless/email/resend", token, `{"`+tc.field+`":"`+id+`"}`)
			if res.StatusCode != 429 || body["code"].(float64) != 8 || !strings.Contains(body["message"].(string), "rate") {
				t.Fatalf("a third mail in a minute: %d %v", res.StatusCode, body)
			}
			f.clock.Advance(2 * time.Minute) // a fresh send window for the next case
		})
	}
	for _, tc := range []struct {
		name, body string
		status     int
		msg, code  string
	}{
		{"missing id", `{}`, 400, "auth_request_id is required", "INVALID_REQUEST"},
		{"empty id camel", `{"authRequestId":""}`, 400, "auth_request_id is required", "INVALID_REQUEST"},
		{"unknown id", `{"auth_request_id":"nope"}`, 404, "auth request expired", "EXPIRED"},
		{"long id", `{"auth_request_id":"` + strings.Repeat("a", 201) + `"}`, 400, "at most 200", "INVALID_REQUEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := f.post(t, "/api/v1/passwordless/email/resend", token, tc.body)
			if res.StatusCode != tc.status || !strings.Contains(body["message"].(string), tc.msg) {
				t.Fatalf("got %d %v", res.StatusCode, body)
			}
			mustErrorCode(t, body, tc.code)
		})
	}
}

func TestRESTVerify(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	token := f.mustToken(t)
	verify := func(body string) (int, map[string]any) {
		res, b := f.post(t, "/api/v1/passwordless/email/verify", token, body)
		return res.StatusCode, b
	}

	t.Run("code snake_case", func(t *testing.T) {
		id := f.sendOne(t, token, "code-snake@example.com", `,"state":"st-1","template":"SIGNUP"`)
		code := f.mail.last(t, "code-snake@example.com").Code
		status, body := verify(`{"code":"000000x","auth_request_id":"` + id + `"}`)
		if status != 400 || body["code"].(float64) != 3 || !strings.Contains(body["message"].(string), "invalid") {
			t.Fatalf("malformed code: %d %v", status, body)
		}
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		status, body = verify(`{"code":"` + wrong + `","auth_request_id":"` + id + `"}`)
		if status != 400 || !strings.Contains(body["message"].(string), "invalid") {
			t.Fatalf("wrong code: %d %v", status, body)
		}
		mustErrorCode(t, body, "INVALID_CODE")
		status, body = verify(`{"code":"` + code + `","auth_request_id":"` + id + `"}`)
		if status != 200 || body["email"] != "code-snake@example.com" || body["state"] != "st-1" || body["template"] != "SIGNUP" || body["passwordless_type"] != "LINK_OTP" {
			t.Fatalf("right code: %d %v", status, body)
		}
		status, body = verify(`{"code":"` + code + `","auth_request_id":"` + id + `"}`)
		if status != 404 || body["code"].(float64) != 5 || body["message"] != "auth request expired" {
			t.Fatalf("reused code: %d %v", status, body)
		}
		mustErrorCode(t, body, "EXPIRED")
	})
	t.Run("code lowerCamel", func(t *testing.T) {
		id := f.sendOne(t, token, "code-camel@example.com", "")
		code := f.mail.last(t, "code-camel@example.com").Code
		status, body := verify(`{"code":"` + code + `","authRequestId":"` + id + `"}`)
		if status != 200 || body["email"] != "code-camel@example.com" || body["template"] != "SIGNIN" {
			t.Fatalf("%d %v", status, body)
		}
		if _, ok := body["state"]; ok {
			t.Errorf("state present without one sent: %v", body)
		}
	})
	for _, tc := range []struct{ name, tokenField, idField string }{
		{"link snake_case", "link_token", "auth_request_id"},
		{"link lowerCamel", "linkToken", "authRequestId"},
		{"link without id", "link_token", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			f.sendOne(t, token, email, `,"state":"st-link"`)
			lt, id := linkToken(t, f.mail.last(t, email))
			body := `{"` + tc.tokenField + `":"` + lt + `"`
			if tc.idField != "" {
				body += `,"` + tc.idField + `":"` + id + `"`
			}
			status, res := verify(body + "}")
			if status != 200 || res["email"] != email || res["state"] != "st-link" {
				t.Fatalf("%d %v", status, res)
			}
			status, res = verify(body + "}")
			if status != 404 || res["message"] != "auth request expired" {
				t.Fatalf("reused link: %d %v", status, res)
			}
		})
	}
	t.Run("too many wrong codes", func(t *testing.T) {
		id := f.sendOne(t, token, "guesser@example.com", "")
		code := f.mail.last(t, "guesser@example.com").Code
		wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1000000)
		for i := range 5 {
			status, body := verify(`{"code":"` + wrong + `","auth_request_id":"` + id + `"}`)
			if status != 400 || !strings.Contains(body["message"].(string), "invalid") {
				t.Fatalf("guess %d: %d %v", i, status, body)
			}
		}
		status, body := verify(`{"code":"` + code + `","auth_request_id":"` + id + `"}`)
		if status != 429 || body["code"].(float64) != 8 || !strings.Contains(body["message"].(string), "rate") {
			t.Fatalf("locked: %d %v", status, body)
		}
		mustErrorCode(t, body, "TOO_MANY_ATTEMPTS")
	})
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"no credential", `{"auth_request_id":"x"}`, 400, "code or link_token is required"},
		{"code without id", `{"code":"123456"}`, 400, "auth_request_id is required"},
		{"code with empty id camel", `{"code":"123456","authRequestId":""}`, 400, "auth_request_id is required"},
		{"empty code", `{"code":"","auth_request_id":"x"}`, 400, "code is required"},
		{"long code", `{"code":"` + strings.Repeat("1", 21) + `","auth_request_id":"x"}`, 400, "at most 20"},
		{"long link token", `{"link_token":"` + strings.Repeat("t", 101) + `"}`, 400, "at most 100"},
		{"both credentials", `{"code":"123456","link_token":"abc"}`, 400, "invalid request body"},
		{"unknown id", `{"code":"123456","auth_request_id":"unknown"}`, 404, "auth request expired"},
		{"unknown link", `{"link_token":"` + strings.Repeat("A", 43) + `"}`, 404, "auth request expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := verify(tc.body)
			if status != tc.status || !strings.Contains(body["message"].(string), tc.msg) {
				t.Fatalf("got %d %v, want %d %q", status, body, tc.status, tc.msg)
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// brokenEngine fails every call with err.
type brokenEngine struct{ err error }

func (b brokenEngine) Send(context.Context, auth.SendRequest) (*auth.Sent, error) { return nil, b.err }
func (b brokenEngine) Resend(context.Context, string, auth.Caller) (*auth.Sent, error) {
	return nil, b.err
}
func (b brokenEngine) VerifyCode(context.Context, string, string, auth.Caller) (*auth.Login, error) {
	return nil, b.err
}
func (b brokenEngine) VerifyLink(context.Context, auth.LinkProof) (*auth.Login, error) {
	return nil, b.err
}

func TestRESTEngineFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		status    int
		grpcCode  float64
		msg       string
		errorCode string
	}{
		{"store down", auth.Unavailable("redis", errors.New("dial tcp: connection refused")), 503, 14, "service temporarily unavailable", "UNAVAILABLE"},
		{"internal", errors.New("disk on fire at /var/lib/latch"), 500, 13, "internal error", "INTERNAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			f.setProvider(mustProvider(t, brokenEngine{tc.err}, ProviderConfig{
				Clients: []string{testClientID + ":" + testClientSecret}, Secret: testSecret, TokenKey: testTokenKey, Clock: f.clock, Logger: quiet,
			}))
			token := f.mustToken(t)
			for _, op := range []struct{ path, body string }{
				{"send", `{"email":"a@example.com","magiclink_auth_uri":"` + testLinkURI + `"}`},
				{"resend", `{"authRequestId":"abc"}`},
				{"verify", `{"code":"123456","auth_request_id":"abc"}`},
				{"verify", `{"linkToken":"abc"}`},
			} {
				res, body := f.post(t, "/api/v1/passwordless/email/"+op.path, token, op.body)
				if res.StatusCode != tc.status || body["code"].(float64) != tc.grpcCode || body["message"] != tc.msg {
					t.Fatalf("%s: %d %v", op.path, res.StatusCode, body)
				}
				mustErrorCode(t, body, tc.errorCode)
			}
		})
	}
}
