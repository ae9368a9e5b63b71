package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the baseline child: the tool
// re-executes os.Executable(), which under go test is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == serveBaselineArg {
		if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeLatch is a small in-memory server that keeps the HTTP contract of
// the routes the tool uses (API.md). Mail lands in its outbox a little
// after send answers, as with a queue, so the tool has to poll.
type fakeLatch struct {
	limitSends bool   // answer every send with 429, as default rate limits would
	smtpAddr   string // when set, mail goes to this SMTP server instead of the outbox

	mu       sync.Mutex
	mail     map[string][]map[string]string // to → messages {code, link}
	pending  map[string][2]string           // authRequestId → {code, link token}
	sessions map[string]bool
}

func newFakeLatch(t *testing.T, limitSends bool) *httptest.Server {
	return newFakeLatchSMTP(t, limitSends, "")
}

// newFakeLatchSMTP is newFakeLatch delivering its mail over SMTP to
// smtpAddr (when not empty), as a Latch with SMTP_URL set does.
func newFakeLatchSMTP(t *testing.T, limitSends bool, smtpAddr string) *httptest.Server {
	f := &fakeLatch{limitSends: limitSends, smtpAddr: smtpAddr, mail: map[string][]map[string]string{}, pending: map[string][2]string{}, sessions: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"status":"ok"}`) })
	mux.HandleFunc("POST /api/auth/passwordless/email/send", f.send)
	mux.HandleFunc("GET /dev/outbox.json", f.outbox)
	mux.HandleFunc("POST /api/auth/passwordless/email/verify/code", f.verifyCode)
	mux.HandleFunc("POST /api/auth/passwordless/verify", f.verifyLink)
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if !f.session(r) {
			http.Error(w, `{"code":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"user":{"id":"u","email":"e"},"session":{"expiresAt":1}}`)
	})
	mux.HandleFunc("POST /api/auth/logout", func(w http.ResponseWriter, r *http.Request) {
		if !f.session(r) {
			http.Error(w, `{"code":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		c, _ := r.Cookie("latch_session")
		f.mu.Lock()
		delete(f.sessions, c.Value)
		f.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "latch_session", Path: "/", MaxAge: -1})
		io.WriteString(w, `{"success":true}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeLatch) session(r *http.Request) bool {
	c, err := r.Cookie("latch_session")
	f.mu.Lock()
	defer f.mu.Unlock()
	return err == nil && f.sessions[c.Value]
}

func (f *fakeLatch) send(w http.ResponseWriter, r *http.Request) {
	if f.limitSends {
		w.Header().Set("Retry-After", "60")
		http.Error(w, `{"code":"rate_limited"}`, http.StatusTooManyRequests)
		return
	}
	var body struct {
		Email string `json:"email"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil || body.Email == "" {
		http.Error(w, `{"code":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	id, code, token := rand.Text(), fmt.Sprintf("%06d", time.Now().UnixNano()%1e6), rand.Text()
	f.mu.Lock()
	f.pending[id] = [2]string{code, token}
	f.mu.Unlock()
	if f.smtpAddr != "" {
		go smtp.SendMail(f.smtpAddr, nil, "latch@example.com", []string{body.Email},
			[]byte("Subject: "+code+" is your Latch sign-in code\r\nTo: "+body.Email+"\r\n\r\nThe code is "+code+".\r\n"))
	}
	time.AfterFunc(2*time.Millisecond, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		link := "http://localhost:1/api/auth/passwordless/verify?link_token=" + token + "&auth_request_id=" + id
		f.mail[body.Email] = append(f.mail[body.Email], map[string]string{"code": code, "link": link, "text": "…"})
	})
	http.SetCookie(w, &http.Cookie{Name: "latch_auth_request", Value: id + ".binding", Path: "/", HttpOnly: true})
	json.NewEncoder(w).Encode(map[string]any{"authRequestId": id, "expiresIn": 300})
}

func (f *fakeLatch) outbox(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	msgs := f.mail[r.URL.Query().Get("to")]
	if msgs == nil {
		msgs = []map[string]string{}
	}
	json.NewEncoder(w).Encode(map[string]any{"messages": msgs})
}

// consume checks a proof against a pending sign-in; the browser's
// auth-request cookie must come along, as it would from a browser.
func (f *fakeLatch) consume(w http.ResponseWriter, r *http.Request, id string, ok func([2]string) bool) bool {
	c, err := r.Cookie("latch_auth_request")
	f.mu.Lock()
	defer f.mu.Unlock()
	p, found := f.pending[id]
	if err == nil && c.Value == id+".binding" && found && !ok(p) {
		http.Error(w, `{"code":"invalid_code"}`, http.StatusBadRequest)
		return false
	}
	if err != nil || c.Value != id+".binding" || !found {
		http.Error(w, `{"code":"expired"}`, http.StatusGone)
		return false
	}
	delete(f.pending, id)
	token := rand.Text()
	f.sessions[token] = true
	http.SetCookie(w, &http.Cookie{Name: "latch_session", Value: token, Path: "/", HttpOnly: true})
	http.SetCookie(w, &http.Cookie{Name: "latch_auth_request", Path: "/", MaxAge: -1})
	return true
}

func (f *fakeLatch) verifyCode(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code          string `json:"code"`
		AuthRequestID string `json:"authRequestId"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		http.Error(w, `{"code":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if f.consume(w, r, body.AuthRequestID, func(p [2]string) bool { return p[0] == body.Code }) {
		io.WriteString(w, `{"user":{"id":"u","email":"e"}}`)
	}
}

func (f *fakeLatch) verifyLink(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, `{"code":"unsupported_media_type"}`, http.StatusUnsupportedMediaType)
		return
	}
	token := r.PostFormValue("link_token")
	if f.consume(w, r, r.PostFormValue("auth_request_id"), func(p [2]string) bool { return p[1] == token }) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
}

// mustRun runs the tool and decodes its one JSON line.
func mustRun(t *testing.T, args ...string) (*report, map[string]any) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("latchload %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 {
		t.Fatalf("stdout has %d lines, want one JSON line:\n%s", n, stdout.String())
	}
	var rep report
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode %s: %v", stdout.String(), err)
	}
	var raw map[string]any
	json.Unmarshal(stdout.Bytes(), &raw)
	t.Logf("%s", stdout.String())
	return &rep, raw
}

// checkReport checks what every run must satisfy.
func checkReport(t *testing.T, rep *report, raw map[string]any, mode string, steps []string, withPIDs bool) {
	t.Helper()
	if rep.Mode != mode || rep.Requests <= 0 || rep.RequestsPerS <= 0 || rep.DurationS <= 0 {
		t.Errorf("mode %s: requests %d, %v/s over %vs", rep.Mode, rep.Requests, rep.RequestsPerS, rep.DurationS)
	}
	if mode != modeMe && (rep.Flows <= 0 || rep.FlowsPerS <= 0) {
		t.Errorf("flows = %d (%v/s), want some", rep.Flows, rep.FlowsPerS)
	}
	if rep.Errors != 0 || len(rep.Non2xx) != 0 || rep.FlowErrors != 0 {
		t.Errorf("errors %d, non_2xx %v, flow_errors %d; want none", rep.Errors, rep.Non2xx, rep.FlowErrors)
	}
	if len(rep.Latency) != len(steps) {
		t.Errorf("latency has steps %v, want %v", keys(rep.Latency), steps)
	}
	var counted int64
	for _, s := range steps {
		st, ok := rep.Latency[s]
		if !ok || st.Count <= 0 {
			t.Errorf("no latency for step %s", s)
			continue
		}
		counted += int64(st.Count)
		if st.P50 > st.P90 || st.P90 > st.P99 || st.P99 > st.Max || st.Max <= 0 {
			t.Errorf("step %s: p50 %v, p90 %v, p99 %v, max %v out of order", s, st.P50, st.P90, st.P99, st.Max)
		}
	}
	if counted != rep.Requests {
		t.Errorf("latency counts add to %d, requests = %d (all should be successes)", counted, rep.Requests)
	}
	for _, k := range []string{"server_cpu_s", "cpu_us_per_request", "peak_rss_mb", "vm_hwm_mb"} {
		if _, ok := raw[k]; ok != withPIDs {
			t.Errorf("field %s present = %v, want %v", k, ok, withPIDs)
		}
	}
	if hasMail := mode == modeLogin || mode == modeLink; (rep.MailWait != nil) != hasMail {
		t.Errorf("mail_wait = %+v in mode %s", rep.MailWait, mode)
	} else if hasMail && (rep.MailWait.Count <= 0 || rep.MailWait.P50 > rep.MailWait.Max) {
		t.Errorf("mail_wait = %+v", rep.MailWait)
	}
	if withPIDs {
		if *rep.ServerCPUS < 0 || *rep.CPUUsPerRequest < 0 || *rep.PeakRSSMB <= 0 {
			t.Errorf("cpu %v s, %v µs/request, peak %v MB", *rep.ServerCPUS, *rep.CPUUsPerRequest, *rep.PeakRSSMB)
		}
		if _, ok := raw["cpu_us_per_flow"]; ok != (mode != modeMe) {
			t.Errorf("cpu_us_per_flow present = %v in mode %s", ok, mode)
		}
	}
}

func checkBaseline(t *testing.T, rep *report) {
	t.Helper()
	b := rep.Baseline
	if b == nil || rep.RatioToBaseline == nil {
		t.Fatal("no baseline in the report")
	}
	if b.Requests <= 0 || b.RequestsPerS <= 0 || b.CPUUsPerRequest == nil || b.PeakRSSMB == nil || *b.PeakRSSMB <= 0 || b.Latency["me"].Count <= 0 {
		t.Errorf("baseline = %+v", b)
	}
	if want := round(rep.RequestsPerS/b.RequestsPerS, 4); *rep.RatioToBaseline != want {
		t.Errorf("ratio_to_baseline = %v, want %v", *rep.RatioToBaseline, want)
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

var modeSteps = map[string][]string{
	modeMe:    {"me"},
	modeLogin: {"send", "outbox", "verify", "me", "logout"},
	modeLink:  {"send", "outbox", "link", "me", "logout"},
	modeSend:  {"send"},
}

func TestModesAgainstFake(t *testing.T) {
	srv := newFakeLatch(t, false)
	pid := strconv.Itoa(os.Getpid()) // the fake runs in this process
	for _, mode := range []string{modeMe, modeLogin, modeLink, modeSend} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"-url", srv.URL, "-mode", mode, "-c", "4", "-d", "500ms", "-warmup", "100ms", "-timeout", "5s"}
			withPIDs := mode != modeSend
			if withPIDs {
				args = append(args, "-pids", pid)
			}
			rep, raw := mustRun(t, args...)
			checkReport(t, rep, raw, mode, modeSteps[mode], withPIDs)
			if rep.Baseline != nil || rep.RatioToBaseline != nil {
				t.Error("baseline in the report without -baseline")
			}
		})
	}
}

func TestBaselineAgainstFake(t *testing.T) {
	srv := newFakeLatch(t, false)
	rep, raw := mustRun(t, "-url", srv.URL, "-mode", "me", "-c", "2", "-d", "500ms", "-warmup", "100ms",
		"-pids", strconv.Itoa(os.Getpid()), "-baseline")
	checkReport(t, rep, raw, modeMe, modeSteps[modeMe], true)
	checkBaseline(t, rep)
	if rep.CPURatioToBaseline == nil {
		t.Error("no cpu_ratio_to_baseline with -pids and -baseline")
	}
}

// A server with its rate limits on fails the sign-in of the me mode; the
// tool says how to start it instead of reporting 429s as performance.
func TestRateLimitedServer(t *testing.T) {
	srv := newFakeLatch(t, true)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL, "-mode", "me", "-c", "2", "-d", "200ms", "-warmup", "0"}, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "RATE_LIMIT_AUTH_IP_MAX=0") || !strings.Contains(err.Error(), "429") {
		t.Fatalf("run = %v, want the 429 and the advice", err)
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}

	// In the send mode the 429s are the result: reported, with advice.
	stdout.Reset()
	stderr.Reset()
	err = run(context.Background(), []string{"-url", srv.URL, "-mode", "send", "-c", "2", "-d", "200ms", "-warmup", "0"}, nil, &stdout, &stderr)
	if err == nil {
		t.Error("a run without a single success should fail")
	}
	var rep report
	if json.Unmarshal(stdout.Bytes(), &rep) != nil || rep.Non2xx["429"] == 0 || rep.FlowErrors == 0 {
		t.Errorf("report = %s, want 429s counted", stdout.String())
	}
	if !strings.Contains(stderr.String(), "RATE_LIMIT_MAX=0") {
		t.Errorf("stderr has no advice:\n%s", stderr.String())
	}
}

// A server without the development outbox is refused before any load.
func TestNoOutbox(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/health" {
			io.WriteString(w, `{"status":"ok"}`)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	err := run(context.Background(), []string{"-url", srv.URL, "-mode", "login"}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "APP_ENV=development") {
		t.Fatalf("run = %v, want advice about the outbox", err)
	}
}

// The tool against the real server: go build ./cmd/latch, run it on a
// free loopback port with a temporary data directory and the per-IP
// limits off, and load it in every mode, measuring its PID.
func TestModesAgainstLatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server (cmd/latch); skipped with -short")
	}
	base, pid := startLatch(t)
	for _, mode := range []string{modeMe, modeLogin, modeLink, modeSend} {
		t.Run(mode, func(t *testing.T) {
			// A flow is several requests, and under -race on two busy cores
			// one send has taken 600 ms: give the flow modes room for some.
			span := "1s"
			if mode == modeLogin || mode == modeLink {
				span = "3s"
			}
			args := []string{"-url", base, "-mode", mode, "-c", "4", "-d", span, "-warmup", "300ms", "-pids", pid}
			if mode == modeLogin {
				args = append(args, "-baseline")
			}
			rep, raw := mustRun(t, args...)
			checkReport(t, rep, raw, mode, modeSteps[mode], true)
			if mode == modeLogin {
				checkBaseline(t, rep)
			}
		})
	}
}

// startLatch builds and starts cmd/latch, with env added to its
// environment, and returns its URL and PID.
func startLatch(t *testing.T, env ...string) (base, pid string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build cmd/latch")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "latch")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/latch-auth/latch/cmd/latch").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/latch: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir // no .env from the source tree
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"APP_ENV=development", "HOST=127.0.0.1", "PORT=0", "DATA_DIR=" + filepath.Join(dir, "data"),
		"RATE_LIMIT_MAX=0", "RATE_LIMIT_AUTH_IP_MAX=0", "LOG_LEVEL=warn", "AUDIT_LOG=" + os.DevNull,
	}
	cmd.Env = append(cmd.Env, env...)
	var logs syncBuffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if a, ok := strings.CutPrefix(sc.Text(), "latch: listening on "); ok {
				addr <- a
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("latch exited with %v\n%s", waitErr, logs.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("latch did not stop on SIGTERM")
		}
	})
	select {
	case a := <-addr:
		return a, strconv.Itoa(cmd.Process.Pid)
	case <-exited:
		t.Fatalf("latch exited before listening: %v\n%s", waitErr, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("latch did not start:\n%s", logs.String())
	}
	return "", ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
