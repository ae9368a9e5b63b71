package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/passkey"
	"github.com/latch-auth/latch/internal/web"
)

type harness struct {
	t      *testing.T
	srv    *httptest.Server
	clock  *authtest.Clock
	mail   *authtest.Mailbox
	client *http.Client
	logs   *bytes.Buffer
}

type options struct {
	auth func(*auth.Config)
	web  func(*web.Config)
	// passkeys turns passkeys on (relying party localhost).
	passkeys bool
}

func newHarness(t *testing.T, opts options) *harness {
	t.Helper()
	h := &harness{t: t, clock: authtest.NewClock(authtest.Epoch), mail: &authtest.Mailbox{}, logs: &bytes.Buffer{}}
	store := memstore.New()
	acfg := authtest.Config(t, store, h.clock)
	if opts.auth != nil {
		opts.auth(&acfg)
	}
	// The link must point at the test server, which does not exist yet:
	// start it unstarted, then fill in the URL.
	h.srv = httptest.NewUnstartedServer(nil)
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	base, _ := url.Parse(h.srv.URL)
	acfg.LinkURL = h.srv.URL + "/api/auth/passwordless/verify"
	svc, err := auth.NewService(acfg, store, h.mail)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := web.Config{BaseURL: base, RateLimitMax: 1000, RateLimitWindow: 60e9}
	if opts.web != nil {
		opts.web(&wcfg)
	}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: h.logs}, nil))
	deps := web.Deps{Login: svc, Sessions: svc, Languages: svc, Watcher: svc, IPLimiter: store, Clock: h.clock, Logger: log,
		Ready: []web.Check{{Name: "store", Fn: store.Ping}}}
	if opts.passkeys {
		pk, err := passkey.New(passkey.Config{RPID: "localhost", RPName: "Latch", Origin: "http://localhost:" + base.Port(), Clock: h.clock}, store, svc)
		if err != nil {
			t.Fatal(err)
		}
		deps.Passkeys = pk
	}
	s, err := web.New(wcfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Config.Handler = s
	h.client = newClient()
	return h
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// newClient is a browser-like client: it keeps cookies and does not
// follow redirects, so tests see each 303.
func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.StatusCode, err, r.body)
	}
	return v
}

func (h *harness) do(c *http.Client, method, path, contentType string, body io.Reader, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, b}
}

func (h *harness) postJSON(c *http.Client, path string, v any) response {
	h.t.Helper()
	b, _ := json.Marshal(v)
	return h.do(c, http.MethodPost, path, "application/json", bytes.NewReader(b))
}

func (h *harness) postForm(c *http.Client, path string, form url.Values) response {
	h.t.Helper()
	return h.do(c, http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

func (h *harness) get(c *http.Client, path string) response {
	h.t.Helper()
	return h.do(c, http.MethodGet, path, "", nil)
}

// send asks for a login email for addr and returns the authRequestId and the mail.
func (h *harness) send(c *http.Client, addr string) (string, *auth.LoginMail) {
	h.t.Helper()
	r := h.postJSON(c, "/api/auth/passwordless/email/send", map[string]string{"email": addr})
	if r.StatusCode != http.StatusOK {
		h.t.Fatalf("send: %d %s", r.StatusCode, r.body)
	}
	return r.json(h.t)["authRequestId"].(string), h.mail.Last(h.t, addr)
}

// wantError checks the one error shape, the status and the code.
func wantError(t *testing.T, r response, status int, code auth.Code) map[string]any {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", r.StatusCode, status, r.body)
	}
	v := r.json(t)
	if v["code"] != string(code) {
		t.Fatalf("code %v, want %s; body %s", v["code"], code, r.body)
	}
	if msg, _ := v["error"].(string); msg == "" {
		t.Fatalf("error message missing: %s", r.body)
	}
	if v["requestId"] == "" || v["requestId"] != r.Header.Get("X-Request-Id") {
		t.Fatalf("requestId %v does not match X-Request-Id %q", v["requestId"], r.Header.Get("X-Request-Id"))
	}
	return v
}

func linkPath(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
