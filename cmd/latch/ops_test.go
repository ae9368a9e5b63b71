package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Operations: the healthcheck and version commands, the JSON access log,
// the metrics, and the binary's life cycle under SIGTERM.

func TestHealthcheckCommand(t *testing.T) {
	l := startLatch(t, testEnv(t.TempDir()))
	host, port := splitBase(t, l.base)

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/health/ready" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"unavailable","checks":{"store":"unavailable","mail":"ok"}}`)
	}))
	defer notReady.Close()
	nrHost, nrPort, _ := net.SplitHostPort(notReady.Listener.Addr().String())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // now nothing listens there

	tests := []struct {
		name    string
		env     map[string]string
		code    int
		mention string
	}{
		{"ready server", map[string]string{"HOST": host, "PORT": port}, 0, ""},
		{"HOST 0.0.0.0 probes loopback", map[string]string{"HOST": "0.0.0.0", "PORT": port}, 0, ""},
		{"server answers 503", map[string]string{"HOST": nrHost, "PORT": nrPort}, 1, "store: unavailable"},
		{"nothing listens", map[string]string{"HOST": "127.0.0.1", "PORT": closedPort}, 1, "not ready"},
		{"PORT is not a port", map[string]string{"PORT": "http"}, 2, "PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), []string{"healthcheck"}, func(k string) string { return tt.env[k] }, io.Discard)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("latch healthcheck = %v (exit %d), want exit %d", err, got, tt.code)
			}
			if tt.mention != "" && !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{version, commit, runtime.Version()} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output %q lacks %q", out.String(), want)
		}
	}
}

// TestJSONAccessLog runs the program with LOG_FORMAT=json: every log line
// is a JSON object, and each request has one access line with its id,
// route, status, duration and client address.
func TestJSONAccessLog(t *testing.T) {
	l := startLatch(t, testEnv(t.TempDir(), "LOG_FORMAT", "json", "LOG_LEVEL", "info"))

	get := func(path, id string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, l.base+path, nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	const kept = "ops-test.kept_1"
	if resp := get("/api/me", kept); resp.StatusCode != 401 || resp.Header.Get("X-Request-Id") != kept {
		t.Fatalf("GET /api/me with an id: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	generated := get("/api/health", "").Header.Get("X-Request-Id")
	replaced := get("/api/health", "bad id\twith spaces").Header.Get("X-Request-Id")
	for _, id := range []string{generated, replaced} {
		if !regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`).MatchString(id) {
			t.Fatalf("generated X-Request-Id %q is not a well-formed id", id)
		}
	}

	var lines map[string]map[string]any
	waitFor(t, "the access log lines of three requests", 20*time.Second, func() bool {
		lines = accessLines(t, l.out.String())
		return lines[kept] != nil && lines[generated] != nil && lines[replaced] != nil
	})
	line := lines[kept]
	checks := map[string]any{"msg": "request", "requestId": kept, "route": "GET /api/me", "method": "GET", "path": "/api/me", "status": 401.0, "clientIp": "127.0.0.1"}
	for k, want := range checks {
		if line[k] != want {
			t.Errorf("access line %s = %v, want %v\n%v", k, line[k], want, line)
		}
	}
	for _, k := range []string{"time", "level", "duration"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access line lacks %q: %v", k, line)
		}
	}
	if d, ok := line["duration"].(float64); !ok || d < 0 {
		t.Errorf("duration %v is not a number", line["duration"])
	}
	if lines[generated]["route"] != "GET /api/health" || lines[generated]["status"] != 200.0 {
		t.Errorf("access line of GET /api/health: %v", lines[generated])
	}
}

// accessLines parses every line of out that starts with '{' (each must be
// JSON) and returns the access lines by request id.
func accessLines(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	byID := map[string]map[string]any{}
	for _, s := range strings.Split(out, "\n") {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("a log line is not JSON (%v): %s", err, s)
		}
		if id, ok := v["requestId"].(string); ok && v["msg"] == "request" {
			byID[id] = v
		}
	}
	return byID
}

// TestMetricsMoveAfterLogin signs in by code and watches the counters of
// the verify route and of successful logins go up.
func TestMetricsMoveAfterLogin(t *testing.T) {
	l := startLatch(t, testEnv(t.TempDir()))
	c := newBrowser(t, l.base)
	const verifyRoute = "POST /api/auth/passwordless/email/verify/code"
	verifies := func(m string) float64 {
		return metricSum(t, m, "latch_http_requests_total", map[string]string{"route": verifyRoute, "status": "200"})
	}
	logins := func(m string) float64 {
		return metricSum(t, m, "latch_auth_events_total", map[string]string{"event": "login_succeeded"})
	}

	before := scrape(t, c)
	if !strings.Contains(before, "latch_build_info{") {
		t.Fatalf("/metrics lacks latch_build_info:\n%s", before)
	}

	status, sent := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "metrics@example.com"})
	if status != 200 {
		t.Fatalf("send: %d %v", status, sent)
	}
	code, _ := c.lastMail("metrics@example.com")
	if status, body := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code}); status != 200 {
		t.Fatalf("verify: %d %v", status, body)
	}

	var after string
	waitFor(t, "the metrics to count the login", 20*time.Second, func() bool {
		after = scrape(t, c)
		return verifies(after) >= verifies(before)+1 && logins(after) >= logins(before)+1
	})
	if verifies(after) != verifies(before)+1 || logins(after) != logins(before)+1 {
		t.Errorf("one login moved verify requests %v → %v and logins %v → %v",
			verifies(before), verifies(after), logins(before), logins(after))
	}
}

func scrape(t *testing.T, c *client) string {
	t.Helper()
	status, hdr, body := c.do(http.MethodGet, "/metrics", "", "")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", status, hdr.Get("Content-Type"))
	}
	return string(body)
}

// metricSum adds up the samples of the metric name (Prometheus text
// format) whose labels include every one of want.
func metricSum(t *testing.T, text, name string, want map[string]string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		n, labels, value, err := parseSample(line)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		if n != name {
			continue
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			sum += value
		}
	}
	return sum
}

// parseSample parses `name{k="v",…} value [timestamp]`.
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	labels = map[string]string{}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", nil, 0, errors.New("no value")
	}
	name, rest := line[:i], line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			k, r, ok := strings.Cut(rest, `="`)
			if !ok {
				return "", nil, 0, errors.New("bad label")
			}
			var v strings.Builder
			j := 0
			for ; j < len(r) && r[j] != '"'; j++ {
				if r[j] == '\\' && j+1 < len(r) {
					j++
					if r[j] == 'n' {
						v.WriteByte('\n')
						continue
					}
				}
				v.WriteByte(r[j])
			}
			if j == len(r) {
				return "", nil, 0, errors.New("unterminated label value")
			}
			labels[k] = v.String()
			rest = r[j+1:]
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, errors.New("no value")
	}
	value, err = strconv.ParseFloat(fields[0], 64)
	return name, labels, value, err
}

const (
	binaryVersion = "1.2.3-ops"
	binaryCommit  = "0123abc"
)

// TestBinary builds the real binary (as the Dockerfile does, with the
// version stamped in) and checks what only a process shows: exit codes,
// and that SIGTERM lets a request in flight finish before a clean exit.
func TestBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGTERM")
	}
	bin := buildLatch(t)

	t.Run("version", func(t *testing.T) {
		cmd := exec.Command(bin, "version")
		cmd.Dir = t.TempDir()
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{binaryVersion, binaryCommit, runtime.Version()} {
			if !strings.Contains(string(out), want) {
				t.Errorf("latch version printed %q, which lacks %q", out, want)
			}
		}
	})

	t.Run("SIGTERM drains a request in flight", func(t *testing.T) {
		p := startProcess(t, bin, testEnv(t.TempDir(), "LOG_LEVEL", "info", "SHUTDOWN_TIMEOUT", "60s", "RATE_LIMIT_WINDOW", "1h"))
		if code := p.healthcheck(); code != 0 {
			t.Fatalf("latch healthcheck against the running server: exit %d\n%s", code, p.out)
		}

		// The probe reads how many /api requests this address has made, to
		// see the slow request arrive in the handler chain; it also shows a
		// generated request id.
		probes := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		probe := func() int {
			resp, err := probes.Get("http://" + p.addr + "/api/me")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Header.Get("X-Request-Id") == "" {
				t.Fatal("a response without X-Request-Id")
			}
			n, err := strconv.Atoi(resp.Header.Get("RateLimit-Remaining"))
			if err != nil {
				return -1
			}
			return n
		}
		first := probe()

		// Start the slow request by hand: headers and the start of a body
		// whose rest comes only after SIGTERM.
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		const reqID = "slow-request-1"
		body := `{"email":"slow@example.com"}`
		fmt.Fprintf(conn, "POST /api/auth/passwordless/email/send HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\nX-Request-Id: %s\r\n\r\n%s", p.addr, len(body), reqID, body[:4])

		arrived := false
		deadline := time.Now().Add(15 * time.Second)
		for k := 1; first >= 0 && time.Now().Before(deadline); k++ {
			if first-probe() >= k+1 { // this probe, the ones before it, and the slow request
				arrived = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !arrived {
			t.Log("could not see the slow request arrive; sending SIGTERM anyway")
		}

		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// Shutdown has begun once the listener refuses new connections.
		waitFor(t, "the listener to close after SIGTERM", 30*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", p.addr, time.Second)
			if err != nil {
				return true
			}
			c.Close()
			return false
		})
		select {
		case err := <-p.done:
			t.Fatalf("latch exited (%v) before the request in flight finished\n%s", err, p.out)
		default:
		}

		// Trickle the rest of the body (about a second); the request must
		// still be served.
		for i := 4; i < len(body); i += 4 {
			time.Sleep(150 * time.Millisecond)
			if _, err := io.WriteString(conn, body[i:min(i+4, len(body))]); err != nil {
				t.Fatalf("writing the body after SIGTERM: %v\n%s", err, p.out)
			}
		}
		conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("the request in flight got no answer: %v\n%s", err, p.out)
		}
		var sent map[string]any
		json.NewDecoder(resp.Body).Decode(&sent)
		resp.Body.Close()
		if resp.StatusCode != 200 || sent["authRequestId"] == nil {
			t.Fatalf("the request in flight: %d %v", resp.StatusCode, sent)
		}
		if got := resp.Header.Get("X-Request-Id"); got != reqID {
			t.Errorf("X-Request-Id %q, want the one sent, %q", got, reqID)
		}

		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("latch exited with %v after SIGTERM, want exit 0\n%s", err, p.out)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("latch did not exit after SIGTERM\n%s", p.out)
		}
		if !strings.Contains(p.out.String(), "shutting down") {
			t.Errorf("no shutdown line in the log:\n%s", p.out)
		}
		if code := p.healthcheck(); code != 1 {
			t.Errorf("latch healthcheck with the server gone: exit %d, want 1", code)
		}
	})
}

// process is the latch binary running as a child process.
type process struct {
	t    *testing.T
	bin  string
	cmd  *exec.Cmd
	addr string // host:port it listens on
	out  *syncBuffer
	done chan error // Wait's result
}

// startProcess runs `latch serve` with exactly env (nothing inherited)
// in an empty directory, and waits until it listens.
func startProcess(t *testing.T, bin string, env map[string]string) *process {
	t.Helper()
	p := &process{t: t, bin: bin, out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Dir = t.TempDir() // no .env
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { p.done <- p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			p.cmd.Process.Kill()
			<-exited
		}
	})
	listening := regexp.MustCompile(`latch: listening on http://(\S+)`)
	waitFor(t, "latch to listen", 60*time.Second, func() bool {
		if m := listening.FindStringSubmatch(p.out.String()); m != nil {
			p.addr = m[1]
			return true
		}
		select {
		case <-exited:
			t.Fatalf("latch exited before listening\n%s", p.out)
		default:
		}
		return false
	})
	return p
}

// healthcheck runs `latch healthcheck` against the process's address
// and returns its exit code.
func (p *process) healthcheck() int {
	p.t.Helper()
	host, port, _ := net.SplitHostPort(p.addr)
	cmd := exec.Command(p.bin, "healthcheck")
	cmd.Dir = p.t.TempDir()
	cmd.Env = []string{"HOST=" + host, "PORT=" + port}
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return 0
}

// buildLatch builds cmd/latch with the version stamped in, with -race when
// the tests have it (which also reuses their compiled packages).
func buildLatch(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "latch")
	args := []string{"build", "-o", bin, "-ldflags", "-X main.version=" + binaryVersion + " -X main.commit=" + binaryCommit}
	if raceEnabled() {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitCode is the code main would exit with for run's error.
func exitCode(err error) int {
	var ex exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ex):
		return ex.code
	}
	return 1
}

// splitBase splits a base URL like http://127.0.0.1:PORT into host and port.
func splitBase(t *testing.T, base string) (host, port string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname(), u.Port()
}
