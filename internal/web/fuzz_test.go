package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/web"
)

// fuzzServer is the whole web layer over memstore, with limits out of the way.
func fuzzServer(f *testing.F) http.Handler {
	store := memstore.New()
	cfg := authtest.Config(f, store, auth.SystemClock{})
	cfg.LinkURL = "http://latch.test/api/auth/passwordless/verify"
	cfg.EmailSendLimit, cfg.EmailSendGlobalLimit, cfg.RequesterMailLimit, cfg.RequesterFailureLimit = 1<<30, 1<<30, -1, -1
	svc, err := auth.NewService(cfg, store, &authtest.Mailbox{})
	if err != nil {
		f.Fatal(err)
	}
	base, _ := url.Parse("http://latch.test")
	s, err := web.New(web.Config{BaseURL: base}, web.Deps{Login: svc, Sessions: svc, IPLimiter: store, Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

var knownStatus = map[int]bool{200: true, 303: true, 400: true, 401: true, 403: true, 404: true, 405: true, 410: true, 413: true, 415: true, 429: true}

// fuzzBody posts arbitrary bytes as JSON to path and checks the answer is
// a success or one of the contract's errors, never a 5xx.
func fuzzBody(f *testing.F, path string, seeds ...string) {
	h := fuzzServer(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !knownStatus[rec.Code] {
			t.Fatalf("POST %s %q answered %d: %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Error, Code, RequestID string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Error == "" || e.RequestID == "" {
				t.Fatalf("POST %s %q: error body not in the one shape: %s", path, body, rec.Body)
			}
			if web.Status(auth.Code(e.Code)) != rec.Code {
				t.Fatalf("POST %s %q: code %s with status %d", path, body, e.Code, rec.Code)
			}
		}
	})
}

func FuzzSendBody(f *testing.F) {
	fuzzBody(f, "/api/auth/passwordless/email/send",
		`{"email":"ada@example.com"}`, `{"email":"a@b.co","state":"x","template":"SIGNUP","redirectTo":"/x"}`, `{"email":1}`, `[]`, `{"email":"a@b.co"}{}`, `{"emai`)
}

func FuzzResendBody(f *testing.F) {
	fuzzBody(f, "/api/auth/passwordless/email/resend", `{"authRequestId":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, `{"authRequestId":null}`, `{}`)
}

func FuzzVerifyCodeBody(f *testing.F) {
	fuzzBody(f, "/api/auth/passwordless/email/verify/code", `{"authRequestId":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","code":"123456"}`, `{"code":"12 34-56"}`, `{"authRequestId":"x","code":"١٢٣٤٥٦"}`)
}

func FuzzVerifyLinkBody(f *testing.F) {
	fuzzBody(f, "/api/auth/passwordless/verify", `{"link_token":"abc"}`, `{"linkToken":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","authRequestId":"x"}`, `{"link_token":"a","linkToken":"b"}`)
}

// FuzzLinkPage opens the magic-link page with arbitrary query strings: it
// must consume nothing, never fail with a 5xx, and never reflect the query
// unescaped.
func FuzzLinkPage(f *testing.F) {
	h := fuzzServer(f)
	for _, s := range []string{"link_token=abc", "link_token=%3Cscript%3E&auth_request_id=x", "link_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "auth_request_id=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/api/auth/passwordless/verify", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !knownStatus[rec.Code] {
			t.Fatalf("GET link page ?%s answered %d", query, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "<script>") {
			t.Fatalf("GET link page ?%s reflected a script tag", query)
		}
	})
}
