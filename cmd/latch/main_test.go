package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// latch is one running instance of the whole program.
type latch struct {
	t      *testing.T
	base   string
	cancel context.CancelFunc
	done   chan error
	out    *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEnv is a development environment on a free loopback port.
func testEnv(dataDir string, extra ...string) map[string]string {
	env := map[string]string{
		"APP_ENV":        "development",
		"HOST":           "127.0.0.1",
		"PORT":           "0",
		"DATA_DIR":       dataDir,
		"RATE_LIMIT_MAX": "1000",
		"LOG_LEVEL":      "warn",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// startLatch runs the program through run() and waits until it listens.
func startLatch(t *testing.T, env map[string]string) *latch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	l := &latch{t: t, cancel: cancel, done: make(chan error, 1), out: &syncBuffer{}}
	go func() {
		err := run(ctx, []string{"serve"}, func(k string) string { return env[k] }, pw)
		pw.CloseWithError(errors.New("latch stopped"))
		l.done <- err
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			l.out.Write([]byte(line + "\n"))
			if a, ok := listeningOn(line); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("latch exited before listening: %v\n%s", <-l.done, l.out)
		}
		l.base = a
	case <-time.After(20 * time.Second):
		t.Fatalf("latch did not start:\n%s", l.out)
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// listeningOn finds the main listener's URL in a line of output, plain
// ("latch: listening on http://…") or JSON (LOG_FORMAT=json).
func listeningOn(line string) (string, bool) {
	if a, ok := strings.CutPrefix(line, "latch: listening on "); ok {
		return a, true
	}
	var rec struct{ Msg, URL string }
	if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "latch: listening on" && rec.URL != "" {
		return rec.URL, true
	}
	return "", false
}

// strongSecret is a SESSION_SECRET that production accepts.
const strongSecret = "q3Z0x1mJr8Jm9wqz0hB2s5u1fGvKc7yD4nL6eT8pR0A="

// log returns everything the program has written so far.
func (l *latch) log() string { return l.out.String() }

// stop ends the program as SIGTERM would and checks it exits cleanly.
func (l *latch) stop() {
	l.t.Helper()
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	select {
	case err := <-l.done:
		if err != nil {
			l.t.Errorf("latch exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		l.t.Errorf("latch did not stop")
	}
}

type client struct {
	t    *testing.T
	http *http.Client
	base string
	seen map[string]int // mails read per address
}

func newBrowser(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path, contentType, body string) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (c *client) postJSON(path string, v any) (int, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	status, _, body := c.do(http.MethodPost, path, "application/json", string(b))
	var out map[string]any
	json.Unmarshal(body, &out)
	return status, out
}

func (c *client) getJSON(path string) (int, map[string]any) {
	c.t.Helper()
	status, _, body := c.do(http.MethodGet, path, "", "")
	var out map[string]any
	json.Unmarshal(body, &out)
	return status, out
}

// lastMail waits for a mail to addr newer than any this client has read
// (delivery goes through the queue, so it lands a moment after send) and
// returns its code and link.
func (c *client) lastMail(addr string) (code, link string) {
	c.t.Helper()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, v := c.getJSON("/dev/outbox.json?to=" + url.QueryEscape(addr))
		msgs, _ := v["messages"].([]any)
		if status == 200 && len(msgs) > c.seen[addr] {
			c.seen[addr] = len(msgs)
			m := msgs[len(msgs)-1].(map[string]any)
			code, _ = m["code"].(string)
			link, _ = m["link"].(string)
			return code, link
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no new mail to %s in the outbox (%d)", addr, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	l := startLatch(t, testEnv(dir))
	c := newBrowser(t, l.base)

	// Sign in by code.
	status, sent := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	if status != 200 {
		t.Fatalf("send: %d %v", status, sent)
	}
	code, link := c.lastMail("ada@example.com")
	if len(code) != 6 || !strings.HasPrefix(link, l.base+"/api/auth/passwordless/verify?") {
		t.Fatalf("mail: code %q link %q", code, link)
	}
	status, login := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code})
	if status != 200 {
		t.Fatalf("verify code: %d %v", status, login)
	}
	status, me := c.getJSON("/api/me")
	userID := me["user"].(map[string]any)["id"]
	if status != 200 || me["user"].(map[string]any)["email"] != "ada@example.com" {
		t.Fatalf("/api/me: %d %v", status, me)
	}
	if status, _ := c.postJSON("/api/auth/logout", nil); status != 200 {
		t.Fatalf("logout: %d", status)
	}
	if status, _ := c.getJSON("/api/me"); status != 401 {
		t.Fatalf("/api/me after logout: %d", status)
	}

	// Sign in by magic link in another browser: GET shows a page, POST signs in.
	c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	_, link = c.lastMail("ada@example.com")
	phone := newBrowser(t, l.base)
	path := strings.TrimPrefix(link, l.base)
	if status, _, body := phone.do(http.MethodGet, path, "", ""); status != 200 || !strings.Contains(string(body), "<form") {
		t.Fatalf("link page: %d", status)
	}
	u, _ := url.Parse(link)
	status, hdr, _ := phone.do(http.MethodPost, "/api/auth/passwordless/verify", "application/x-www-form-urlencoded", u.RawQuery)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Fatalf("link POST: %d, Location %q", status, hdr.Get("Location"))
	}
	status, me = phone.getJSON("/api/me")
	if status != 200 || me["user"].(map[string]any)["id"] != userID {
		t.Fatalf("/api/me after link: %d %v (want the same user id %v)", status, me, userID)
	}
	if status, _, _ := phone.do(http.MethodGet, "/", "", ""); status != 200 {
		t.Fatalf("account page: %d", status)
	}

	// Restart on the same data dir: the session is still valid.
	l.stop()
	l2 := startLatch(t, testEnv(dir))
	phone.base = l2.base
	status, me = phone.getJSON("/api/me")
	if status != 200 || me["user"].(map[string]any)["id"] != userID {
		t.Fatalf("/api/me after restart: %d %v", status, me)
	}
	if status, _ := phone.getJSON("/api/health/ready"); status != 200 {
		t.Fatalf("ready after restart: %d", status)
	}
}

func TestBadConfigurationListsEveryProblem(t *testing.T) {
	env := map[string]string{
		"APP_ENV":              "production",
		"BASE_URL":             "http://login.example.com",
		"CORS_ALLOWED_ORIGINS": "*",
		"PORT":                 "99999",
		"PASSWORDLESS_TYPE":    "SMOKE_SIGNAL",
		"SESSION_LIFETIME":     "forever",
		"TRUSTED_PROXIES":      "not-a-cidr",
		"MAIL_TEMPLATES_DIR":   filepath.Join(t.TempDir(), "missing"),
		"APP_LOGO_FILE":        filepath.Join(t.TempDir(), "missing.png"),
		"REDIS_URL":            "http://redis.example.com",
	}
	var out bytes.Buffer
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &out)
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 2 {
		t.Fatalf("run = %v, want exit code 2", err)
	}
	// main prints the error to stderr: the whole list is in it.
	list := err.Error()
	for _, want := range []string{"SESSION_SECRET", "BASE_URL", "CORS_ALLOWED_ORIGINS", "PORT", "PASSWORDLESS_TYPE", "SESSION_LIFETIME", "TRUSTED_PROXIES", "SMTP_URL", "MAIL_TEMPLATES_DIR", "APP_LOGO_FILE", "REDIS_URL"} {
		if !strings.Contains(list, want) {
			t.Errorf("the problems listed do not mention %s:\n%s", want, list)
		}
	}
	if n := strings.Count(list, "SESSION_LIFETIME"); n != 1 {
		t.Errorf("SESSION_LIFETIME is reported %d times, want once:\n%s", n, list)
	}
	if strings.Count(list, "REDIS_URL") != 1 || strings.Contains(list, "redisstore:") {
		t.Errorf("the REDIS_URL problem is prefixed twice or reported twice:\n%s", list)
	}
	if out.Len() != 0 {
		t.Errorf("a bad configuration wrote to stdout, want everything on stderr:\n%s", out.String())
	}
}

func TestProductionNeedsBaseURL(t *testing.T) {
	env := map[string]string{
		"APP_ENV": "production", "SESSION_SECRET": strongSecret, "SMTP_URL": "smtps://mail.example.com:465",
	}
	_, err := loadConfig(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "BASE_URL: required in production") {
		t.Fatalf("production without BASE_URL: %v, want it refused", err)
	}
	env["BASE_URL"] = "https://login.example.com"
	if _, err := loadConfig(func(k string) string { return env[k] }); err != nil {
		t.Fatalf("production with BASE_URL: %v", err)
	}
}

func TestRefusedCombinations(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		env        map[string]string
	}{
		{"wildcard CORS in development", "CORS_ALLOWED_ORIGINS", map[string]string{"CORS_ALLOWED_ORIGINS": "*"}},
		{"domain allow-list in upstream mode", "ALLOWED_EMAIL_DOMAINS", map[string]string{
			"ALLOWED_EMAIL_DOMAINS": "example.com", "SCALEKIT_ENVIRONMENT_URL": "http://127.0.0.1:1",
			"SCALEKIT_CLIENT_ID": "id", "SCALEKIT_CLIENT_SECRET": "secret-secret-secret"}},
		{"mail concurrency bound below its start", "MAIL_CONCURRENCY_MAX", map[string]string{
			"MAIL_WORKERS": "16", "MAIL_CONCURRENCY_MAX": "8"}},
		{"provider API in production without SMTP", "SMTP_URL", map[string]string{
			"APP_ENV": "production", "SESSION_SECRET": strongSecret, "BASE_URL": "https://l.example.com",
			"API_CLIENTS": "app:0123456789abcdef0123", "SCALEKIT_ENVIRONMENT_URL": "https://up.example.com",
			"SCALEKIT_CLIENT_ID": "id", "SCALEKIT_CLIENT_SECRET": "secret-secret-secret"}},
	} {
		_, err := loadConfig(func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want a problem with %s", tc.name, err, tc.want)
		}
	}
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com/"}[k]
	})
	if err != nil || cfg.CORSOrigins[0] != "https://app.example.com" {
		t.Fatalf("an origin with a trailing slash: %v, %v", cfg.CORSOrigins, err)
	}
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Port != 3000 || cfg.SessionLifetime != 7*24*time.Hour || cfg.DataDir != "./data" || cfg.passwordless != "LINK_OTP" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out); err != nil || !strings.HasPrefix(out.String(), "latch ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	err := run(context.Background(), []string{"fly"}, func(string) string { return "" }, &out)
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 2 {
		t.Fatalf("unknown command: %v", err)
	}
}
