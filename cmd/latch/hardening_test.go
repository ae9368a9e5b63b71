package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/mail/smtpmail/smtptest"
)

// mustRefuse runs the program with env and checks it stops at start with
// exit code 2 and a problem that mentions every one of want.
func mustRefuse(t *testing.T, env map[string]string, want ...string) string {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out)
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 2 {
		t.Fatalf("run = %v, want exit code 2\n%s", err, out.String())
	}
	said := err.Error() + "\n" + out.String()
	for _, w := range want {
		if !strings.Contains(said, w) {
			t.Errorf("the problems do not mention %q:\n%s", w, said)
		}
	}
	return said
}

func TestDevOutboxNeedsALoopbackBaseURL(t *testing.T) {
	for _, env := range []string{"development", "test"} {
		mustRefuse(t, testEnv(t.TempDir(), "APP_ENV", env, "BASE_URL", "https://login.example.com"), "SMTP_URL", "loopback", "login.example.com")
		mustRefuse(t, testEnv(t.TempDir(), "APP_ENV", env, "HOST", "192.0.2.10"), "SMTP_URL", "loopback")
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		outbox bool
	}{
		{"default", map[string]string{}, true},
		{"127.0.0.1", map[string]string{"BASE_URL": "http://127.0.0.1:3000"}, true},
		{"::1", map[string]string{"BASE_URL": "http://[::1]:3000"}, true},
		{"every interface, localhost URL", map[string]string{"HOST": "0.0.0.0"}, true},
		{"SMTP", map[string]string{"BASE_URL": "https://login.example.com", "SMTP_URL": "smtp://127.0.0.1:25"}, false},
		{"pure upstream", map[string]string{"BASE_URL": "https://login.example.com", "SCALEKIT_ENVIRONMENT_URL": "https://up.example.com",
			"SCALEKIT_CLIENT_ID": "id", "SCALEKIT_CLIENT_SECRET": "secret-secret-secret"}, false},
	} {
		cfg, err := loadConfig(func(k string) string { return tc.env[k] })
		if err != nil || cfg.devOutbox != tc.outbox {
			t.Errorf("%s: %v, outbox %v; want no error and outbox %v", tc.name, err, cfg.devOutbox, tc.outbox)
		}
	}
}

// TestDevelopmentListensOnLoopbackByDefault: without HOST, development
// answers on 127.0.0.1 (and ::1 where there is IPv6) only, with a
// localhost BASE_URL; production listens on every interface.
func TestDevelopmentListensOnLoopbackByDefault(t *testing.T) {
	env := testEnv(t.TempDir())
	delete(env, "HOST")
	l := startLatch(t, env)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(l.base, "http://"))
	waitFor(t, "the banner", 5*time.Second, func() bool { return strings.Contains(l.log(), "sign in at http://localhost:"+port+"/login") })
	for _, line := range strings.Split(l.log(), "\n") {
		if a, ok := listeningOn(line); ok && !strings.HasPrefix(a, "http://127.0.0.1:") && !strings.HasPrefix(a, "http://[::1]:") {
			t.Errorf("development listens on %s", a)
		}
	}
	if ip := otherAddress(t); ip != "" {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second); err == nil {
			c.Close()
			t.Fatalf("development answered on %s, another interface", ip)
		}
	}
	if hosts := (&Config{AppEnv: "production"}).listenHosts(); len(hosts) != 1 || hosts[0] != "" {
		t.Fatalf("production listens on %v, want every interface", hosts)
	}
}

// otherAddress is an IPv4 address of this machine that is not loopback,
// or "" when it has none.
func otherAddress(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// TestDevOutboxRefusesOtherInterfaces: listening everywhere, the outbox
// still answers only a peer on this machine's loopback.
func TestDevOutboxRefusesOtherInterfaces(t *testing.T) {
	ip := otherAddress(t)
	if ip == "" {
		t.Skip("this machine has no non-loopback IPv4 address to call from")
	}
	l := startLatch(t, testEnv(t.TempDir(), "HOST", "0.0.0.0"))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(l.base, "http://"))
	for _, tc := range []struct {
		host string
		want int
	}{{"127.0.0.1", 200}, {ip, 404}} {
		res, err := http.Get("http://" + net.JoinHostPort(tc.host, port) + "/dev/outbox.json")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("/dev/outbox.json through %s: %d, want %d", tc.host, res.StatusCode, tc.want)
		}
	}
}

func TestWeakSessionSecret(t *testing.T) {
	weak := "my-super-secret-session-key-2024"
	prod := testEnv(t.TempDir(), "APP_ENV", "production", "SESSION_SECRET", weak, "SMTP_URL", "smtp://127.0.0.1:1", "METRICS_ADDR", "127.0.0.1:0")
	mustRefuse(t, prod, "SESSION_SECRET", "predictable", "openssl rand -base64 32")
	for _, s := range []string{strings.Repeat("a", 40), "abcdefghijklmnopqrstuvwxyz0123456789", "qwertyuiopasdfghjklzxcvbnm1234567890"} {
		prod["SESSION_SECRET"] = s
		mustRefuse(t, prod, "SESSION_SECRET", "openssl rand -base64 32")
	}
	// Development says so, and starts.
	l := startLatch(t, testEnv(t.TempDir(), "SESSION_SECRET", weak))
	waitFor(t, "the warning", 5*time.Second, func() bool {
		return strings.Contains(l.log(), "SESSION_SECRET would be refused in production") && strings.Contains(l.log(), "openssl rand -base64 32")
	})
}

func TestProductionRefusesPlainHTTPOrigins(t *testing.T) {
	base := map[string]string{"APP_ENV": "production", "SESSION_SECRET": strongSecret, "SMTP_URL": "smtps://smtp.example.com", "BASE_URL": "https://login.example.com"}
	for _, tc := range []struct{ name, value string }{
		{"CORS_ALLOWED_ORIGINS", "http://app.example.com"},
		{"REDIRECT_ALLOWLIST", "http://app.example.com"},
		{"APP_URL", "http://app.example.com/home"},
		{"SCALEKIT_ENVIRONMENT_URL", "http://up.example.com"},
	} {
		env := map[string]string{tc.name: tc.value, "SCALEKIT_CLIENT_ID": "id", "SCALEKIT_CLIENT_SECRET": "secret-secret-secret"}
		if tc.name != "SCALEKIT_ENVIRONMENT_URL" {
			env["SCALEKIT_CLIENT_ID"], env["SCALEKIT_CLIENT_SECRET"] = "", ""
		}
		for k, v := range base {
			env[k] = v
		}
		_, err := loadConfig(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.name+": ") || !strings.Contains(err.Error(), "https") {
			t.Errorf("%s=%s in production: %v", tc.name, tc.value, err)
		}
		// Loopback is allowed, as for BASE_URL; development allows http.
		env[tc.name] = strings.Replace(tc.value, "app.example.com", "localhost:8080", 1)
		env[tc.name] = strings.Replace(env[tc.name], "up.example.com", "127.0.0.1:8080", 1)
		if tc.name == "APP_URL" {
			env["REDIRECT_ALLOWLIST"] = "http://localhost:8080"
		}
		if _, err := loadConfig(func(k string) string { return env[k] }); err != nil {
			t.Errorf("%s=%s in production: %v", tc.name, env[tc.name], err)
		}
	}
}

// TestUpstreamBannerInProduction: a production Latch whose upstream
// provider sends the mail has no outbox and does not claim one.
func TestUpstreamBannerInProduction(t *testing.T) {
	l := startLatch(t, testEnv(t.TempDir(), "APP_ENV", "production", "SESSION_SECRET", strongSecret, "METRICS_ADDR", "127.0.0.1:0",
		"BASE_URL", "http://localhost:3000", "LOG_FORMAT", "text", "SCALEKIT_ENVIRONMENT_URL", "https://up.example.com", "SCALEKIT_CLIENT_ID", "id", "SCALEKIT_CLIENT_SECRET", "secret-secret-secret"))
	c := newBrowser(t, l.base)
	if status, _, _ := c.do(http.MethodGet, "/dev/outbox.json", "", ""); status != 404 {
		t.Fatalf("/dev/outbox.json: %d", status)
	}
	time.Sleep(2 * logFlushEvery)
	if strings.Contains(l.log(), "/dev/outbox") || strings.Contains(l.log(), "development mode") {
		t.Fatalf("the production upstream banner claims a dev outbox:\n%s", l.log())
	}
}

// TestSTARTTLSRequiredInProduction: production mail to a relay that
// offers no STARTTLS is not sent in clear; the queue keeps retrying and
// logs why. The URL's explicit ?starttls=opportunistic opts out.
func TestSTARTTLSRequiredInProduction(t *testing.T) {
	relay := smtptest.Start(t, smtptest.Options{})
	env := testEnv(t.TempDir(), "APP_ENV", "production", "SESSION_SECRET", strongSecret, "METRICS_ADDR", "127.0.0.1:0",
		"BASE_URL", "http://localhost:3000", "LOG_LEVEL", "info", "SMTP_URL", relay.URL(""), "MAIL_RETRY_BASE_DELAY", "100ms", "MAIL_RETRY_MAX_DELAY", "200ms")
	l := startLatch(t, env)
	if status, _ := newBrowser(t, l.base).postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"}); status != 200 {
		t.Fatalf("send: %d", status)
	}
	waitFor(t, "a retry that names STARTTLS", 15*time.Second, func() bool {
		return strings.Contains(l.log(), "mail delivery failed; will retry") && strings.Contains(l.log(), "STARTTLS required")
	})
	if n := len(relay.Messages()); n != 0 {
		t.Fatalf("the relay without STARTTLS got %d messages", n)
	}
	l.stop()

	env["SMTP_URL"] = relay.URL("starttls=opportunistic")
	env["DATA_DIR"] = t.TempDir()
	l = startLatch(t, env)
	newBrowser(t, l.base).postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	relay.WaitMessages(t, 1, 15*time.Second)
}

func TestMetricsOffThePublicPortInProduction(t *testing.T) {
	prod := map[string]string{"APP_ENV": "production", "SESSION_SECRET": strongSecret, "SMTP_URL": "smtps://smtp.example.com", "BASE_URL": "https://login.example.com"}
	cfg, err := loadConfig(func(k string) string { return prod[k] })
	if err != nil || cfg.MetricsAddr != "127.0.0.1:9090" {
		t.Fatalf("production METRICS_ADDR = %q (%v), want 127.0.0.1:9090", cfg.MetricsAddr, err)
	}
	prod["METRICS_TOKEN"] = "short"
	if _, err := loadConfig(func(k string) string { return prod[k] }); err == nil || !strings.Contains(err.Error(), "METRICS_TOKEN") {
		t.Fatalf("a short METRICS_TOKEN: %v", err)
	}

	// With a token, /metrics stays on the main port and needs it.
	token := "metrics-token-0123456789"
	l := startLatch(t, testEnv(t.TempDir(), "APP_ENV", "production", "SESSION_SECRET", strongSecret, "SMTP_URL", "smtp://127.0.0.1:1",
		"BASE_URL", "http://localhost:3000", "METRICS_TOKEN", token))
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong-token-0123456789", 401}, {"Basic " + token, 401}, {"Bearer " + token, 200}} {
		req, _ := http.NewRequest(http.MethodGet, l.base+"/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want || (tc.want == 200 && !bytes.Contains(body, []byte("latch_build_info"))) {
			t.Errorf("/metrics with %q: %d, want %d", tc.auth, res.StatusCode, tc.want)
		}
	}
}

// TestHSTSOnEveryResponse: with an https BASE_URL in production, every
// answer of the main port carries Strict-Transport-Security, also when
// the request came through a proxy that is not in TRUSTED_PROXIES and
// says the client used http.
func TestHSTSOnEveryResponse(t *testing.T) {
	l := startLatch(t, testEnv(t.TempDir(), "APP_ENV", "production", "SESSION_SECRET", strongSecret, "SMTP_URL", "smtp://127.0.0.1:1",
		"METRICS_ADDR", "127.0.0.1:0", "BASE_URL", "https://login.example.com", "RATE_LIMIT_MAX", "3"))
	for _, tc := range []struct{ method, path, contentType, body string }{
		{"GET", "/api/health", "", ""},
		{"GET", "/login", "", ""},
		{"GET", "/nowhere", "", ""},
		{"GET", "/api/nowhere", "", ""},
		{"DELETE", "/api/me", "", ""},
		{"GET", "/api/me", "", ""},
		{"POST", "/api/auth/passwordless/email/send", "text/plain", "x"},
		{"POST", "/api/auth/passwordless/email/send", "application/json", strings.Repeat("x", 20<<10)},
		{"GET", "/api/me", "", ""},
		{"GET", "/api/me", "", ""}, // 429
		{"GET", "/static/app.css", "", ""},
	} {
		req, _ := http.NewRequest(tc.method, l.base+tc.path, strings.NewReader(tc.body))
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if !strings.HasPrefix(res.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("%s %s (%d): no HSTS", tc.method, tc.path, res.StatusCode)
		}
	}
}

// TestH2COnlyWithTheProviderAPI: cleartext HTTP/2 is served only when the
// provider API (whose gRPC clients need it) is mounted, and then with the
// short idle timeout.
func TestH2COnlyWithTheProviderAPI(t *testing.T) {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func(base string) error {
		res, err := h2c.Get(base + "/api/health")
		if err == nil {
			res.Body.Close()
			if res.ProtoMajor != 2 {
				return fmt.Errorf("answered over %s", res.Proto)
			}
		}
		return err
	}
	if err := get(startLatch(t, testEnv(t.TempDir())).base); err == nil {
		t.Fatal("h2c served without the provider API")
	}
	if err := get(startLatch(t, testEnv(t.TempDir(), "API_CLIENTS", "app:app-secret-0123456789abcdef")).base); err != nil {
		t.Fatalf("h2c with the provider API: %v", err)
	}
	if s := newServer(http.NotFoundHandler(), false, nil); s.Protocols.UnencryptedHTTP2() || s.IdleTimeout != idleTimeout {
		t.Fatalf("without h2c: h2c %v, idle %s", s.Protocols.UnencryptedHTTP2(), s.IdleTimeout)
	}
	if s := newServer(http.NotFoundHandler(), true, nil); !s.Protocols.UnencryptedHTTP2() || s.IdleTimeout > s.ReadTimeout || s.HTTP2 == nil || s.HTTP2.SendPingTimeout == 0 {
		t.Fatalf("with h2c: idle %s, HTTP2 %+v", s.IdleTimeout, s.HTTP2)
	}
}

// failingListener fails its first Accept, as a listener whose socket
// broke does.
type failingListener struct{ net.Listener }

func (l failingListener) Accept() (net.Conn, error) { return nil, errors.New("accept: broken") }

// TestServeErrorClosesSideListeners: when the main server fails, the
// metrics and pprof listeners close with it.
func TestServeErrorClosesSideListeners(t *testing.T) {
	main, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sideLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	side := []sideServer{{name: "metrics", ln: sideLn, srv: &http.Server{Handler: http.NotFoundHandler()}}}
	done := make(chan error, 1)
	go func() {
		done <- serveUntil(context.Background(), slog.New(slog.DiscardHandler), time.Second, newServer(http.NotFoundHandler(), false, nil), []net.Listener{failingListener{main}}, side, nil)
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("serveUntil returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serveUntil did not return after the main listener failed")
	}
	if c, err := net.DialTimeout("tcp", sideLn.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the side listener still accepts after the main server failed")
	}
}

// TestJSONLogsOnly runs the binary with LOG_FORMAT=json and Redis down,
// so that go-redis has something to say, and checks every line it writes
// on stdout and stderr is JSON.
func TestJSONLogsOnly(t *testing.T) {
	bin := buildLatch(t)
	env := testEnv(t.TempDir(), "LOG_FORMAT", "json", "LOG_LEVEL", "info", "REDIS_URL", fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t)), "REDIS_TIMEOUT", "200ms")
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	var base string
	waitFor(t, "latch to listen", 60*time.Second, func() bool {
		for _, line := range strings.Split(stdout.String(), "\n") {
			if a, ok := listeningOn(line); ok {
				base = a
				return true
			}
		}
		return false
	})
	waitFor(t, "go-redis to report the outage", 20*time.Second, func() bool {
		if res, err := http.Get(base + "/api/health/ready"); err == nil {
			res.Body.Close()
		}
		return strings.Contains(stdout.String(), `"msg":"redis: `)
	})
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("latch did not stop on SIGTERM")
	}
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" && !json.Valid([]byte(line)) {
				t.Errorf("a line on %s is not JSON: %s", name, line)
			}
		}
	}
}

// TestJSONConfigProblems: with LOG_FORMAT=json (or production's default)
// a bad configuration is reported on stderr as a JSON record too.
func TestJSONConfigProblems(t *testing.T) {
	for _, env := range []map[string]string{
		{"LOG_FORMAT": "json", "PORT": "99999", "TRUSTED_PROXIES": "nope"},
		{"APP_ENV": "production", "PORT": "99999"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out)
		var ex exitError
		if !errors.As(err, &ex) || ex.code != 2 || !ex.json {
			t.Fatalf("run = %v, want exit code 2, to be reported as JSON", err)
		}
		var stderr bytes.Buffer
		writeFailure(&stderr, err)
		for _, line := range strings.Split(strings.TrimSpace(out.String()+stderr.String()), "\n") {
			if line != "" && !json.Valid([]byte(line)) {
				t.Errorf("not JSON: %s", line)
			}
		}
		var rec struct{ Problems []string }
		json.Unmarshal(stderr.Bytes(), &rec)
		if len(rec.Problems) == 0 || !strings.HasPrefix(rec.Problems[0], "PORT: ") {
			t.Errorf("the record does not list the problems: %s", stderr.String())
		}
	}
}
