package scalekit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/memstore"
)

const (
	testClientID     = "app"
	testClientSecret = "app-secret-0123456789"
	testSecret       = "test-secret-test-secret-test-secret-0"
	testLinkURI      = "https://app.example.com/auth/verify"
)

// quiet discards log lines.
var quiet = slog.New(slog.DiscardHandler)

type mailbox struct{ *authtest.Mailbox }

func (m mailbox) last(t *testing.T, addr string) *auth.LoginMail { t.Helper(); return m.Last(t, addr) }
func (m mailbox) count() int                                     { return m.Count() }

// linkToken returns the link_token and auth_request_id of a mail's link.
func linkToken(t *testing.T, lm *auth.LoginMail) (token, id string) {
	t.Helper()
	u, err := url.Parse(lm.Link)
	if err != nil || lm.Link == "" {
		t.Fatalf("mail has no usable link: %q", lm.Link)
	}
	return u.Query().Get("link_token"), u.Query().Get("auth_request_id")
}

// fixture is a provider API over a real engine on an h2c test server.
type fixture struct {
	srv      *httptest.Server
	clock    *authtest.Clock
	mail     *mailbox
	provider *Provider
	// tokenRequests counts calls of /oauth/token.
	tokenRequests atomic.Int64
	// handler can be swapped to simulate a provider that changed its keys.
	handler atomic.Pointer[http.Handler]
}

type fixtureOptions struct {
	typ auth.PasswordlessType
}

func newFixture(t *testing.T, opts fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{clock: authtest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)), mail: &mailbox{&authtest.Mailbox{}}}
	store := memstore.New()
	cfg := authtest.Config(t, store, f.clock)
	cfg.Type, cfg.LinkURL = opts.typ, "https://latch.example.com/api/auth/passwordless/verify"
	svc, err := auth.NewService(cfg, store, f.mail)
	if err != nil {
		t.Fatal(err)
	}
	f.provider = mustProvider(t, svc, ProviderConfig{
		Clients:  []string{testClientID + ":" + testClientSecret, "other:other-secret-0123456789"},
		Secret:   testSecret,
		TokenKey: testTokenKey,
		Type:     svc.Config().Type,
		Clock:    f.clock,
		Logger:   quiet,
	})
	f.setProvider(f.provider)
	f.srv = newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			f.tokenRequests.Add(1)
		}
		(*f.handler.Load()).ServeHTTP(w, r)
	}))
	return f
}

func mustProvider(t *testing.T, e Engine, cfg ProviderConfig) *Provider {
	t.Helper()
	p, err := NewProvider(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) setProvider(p *Provider) {
	mux := http.NewServeMux()
	p.Mount(mux, Limits{})
	var h http.Handler = mux
	f.handler.Store(&h)
}

// newH2CServer serves h over HTTP/1.1 and unencrypted HTTP/2, as Latch does.
func newH2CServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// h2cClient speaks unencrypted HTTP/2 only, as gRPC clients do.
func h2cClient() *http.Client {
	tr := &http.Transport{}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// mustToken gets a bearer token from the token endpoint.
func (f *fixture) mustToken(t *testing.T) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {testClientSecret}}
	res, body := f.do(t, "POST", "/oauth/token", "application/x-www-form-urlencoded", form.Encode(), "")
	if res.StatusCode != 200 {
		t.Fatalf("token: %d %s", res.StatusCode, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	mustUnmarshal(t, body, &tr)
	return tr.AccessToken
}

// do sends one HTTP/1.1 request, like curl.
func (f *fixture) do(t *testing.T, method, path, contentType, body, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := newRequest(method, f.srv.URL+path, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doRequest(t, f.srv.Client(), req)
}

func newRequest(method, url, contentType, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// doRequest sends req and reads the whole answer.
func doRequest(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// post sends a JSON body to the REST API with a token.
func (f *fixture) post(t *testing.T, path, token, body string) (*http.Response, map[string]any) {
	t.Helper()
	res, b := f.do(t, "POST", path, "application/json", body, token)
	var m map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		mustUnmarshal(t, b, &m)
	}
	return res, m
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// freeAddr returns a loopback address nothing listens on (just now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testTokenKey is a fixed bearer-token key for tests.
func testTokenKey(context.Context) ([]byte, error) {
	return []byte("test-bearer-token-key-0123456789"), nil
}
