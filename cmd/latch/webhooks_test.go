package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hookReceiver is compat/webhooks-node/receiver.mjs running: a Node app
// that verifies every delivery with the standardwebhooks package.
type hookReceiver struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// hookLine is one request as the receiver logged it.
type hookLine struct {
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Status    int    `json:"status"`
	Verified  bool   `json:"verified"`
	Error     string `json:"error"`
	Event     struct {
		Type      string            `json:"type"`
		Timestamp string            `json:"timestamp"`
		Data      map[string]string `json:"data"`
	} `json:"event"`
}

func startReceiver(t *testing.T, node, dir string, port int, secret, mode string) *hookReceiver {
	t.Helper()
	r := &hookReceiver{t: t, out: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(node, "receiver.mjs")
	r.cmd.Dir = dir
	r.cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "WEBHOOK_SECRET="+secret, "MODE="+mode)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.stop)
	waitFor(t, "the receiver to listen", 20*time.Second, func() bool {
		select {
		case <-r.done:
			t.Fatalf("the receiver exited:\n%s", r.out)
		default:
		}
		return strings.Contains(r.out.String(), "listening ")
	})
	return r
}

func (r *hookReceiver) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Kill()
	<-r.done
}

// lines returns every request the receiver logged, failing the test on a
// line that is not one.
func (r *hookReceiver) lines() []hookLine {
	r.t.Helper()
	var out []hookLine
	sc := bufio.NewScanner(strings.NewReader(r.out.String()))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "listening ") {
			continue
		}
		var l hookLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			r.t.Fatalf("receiver line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// accepted returns the events the receiver verified and took (204), by
// webhook-id, failing the test on any delivery that did not verify.
func (r *hookReceiver) accepted() map[string]hookLine {
	r.t.Helper()
	out := map[string]hookLine{}
	for _, l := range r.lines() {
		if !l.Verified {
			r.t.Fatalf("a delivery did not verify with standardwebhooks: %+v", l)
		}
		if l.Status == 204 {
			out[l.ID] = l
		}
	}
	return out
}

// ofType returns the accepted events of type typ whose data has the pairs kv.
func ofType(got map[string]hookLine, typ string, kv ...string) []hookLine {
	var out []hookLine
	for _, l := range got {
		if l.Event.Type != typ {
			continue
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			match = match && l.Event.Data[kv[i]] == kv[i+1]
		}
		if match {
			out = append(out, l)
		}
	}
	return out
}

// runBinary runs a latch command with exactly env and returns its output.
func runBinary(t *testing.T, bin string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustBinary(t *testing.T, bin string, env map[string]string, args ...string) string {
	t.Helper()
	out, err := runBinary(t, bin, env, args...)
	if err != nil {
		t.Fatalf("latch %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// The Done-when test of webhooks, through the real binary and a real
// receiver that verifies every delivery with the standardwebhooks package:
// events reach it signed; a refused delivery comes again with the same
// webhook-id; events queued while it is down survive a kill -9 of Latch
// in the middle of a POST and arrive once it is back, the one in flight
// with its webhook-id; an event it refuses for good is listed by
// `latch events failed` and delivered by `latch events replay ID`.
func TestWebhooksReachAVerifyingReceiver(t *testing.T) {
	node, err := exec.LookPath("node")
	dir, _ := filepath.Abs(filepath.Join("..", "..", "compat", "webhooks-node"))
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks"))
	}
	if err != nil {
		t.Skipf("needs node with compat/webhooks-node's npm dependencies (npm ci there; .ci/run does): %v", err)
	}
	bin := buildLatch(t)
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	port := freePort(t)
	env := testEnv(t.TempDir(),
		"WEBHOOK_URL", "http://127.0.0.1:"+strconv.Itoa(port)+"/hooks/latch",
		"WEBHOOK_SECRET", secret,
		"WEBHOOK_RETRY_BASE_DELAY", "100ms",
		"WEBHOOK_RETRY_MAX_DELAY", "300ms",
		"WEBHOOK_RETRY_MAX_ATTEMPTS", "1000",
		"WEBHOOK_TIMEOUT", "1s", // a lease of 12s
		"LOG_LEVEL", "info")

	// 1. A flaky receiver refuses each event once: it comes again with
	// the same webhook-id, and is taken.
	rcv := startReceiver(t, node, dir, port, secret, "flaky")
	p := startProcess(t, bin, env)
	c := newBrowser(t, "http://"+p.addr)
	adaID := mustSignIn(t, c, "ada@example.com")
	waitFor(t, "user.created and session.created", 20*time.Second, func() bool {
		got := rcv.accepted()
		return len(ofType(got, "user.created", "userId", adaID)) == 1 && len(ofType(got, "session.created", "userId", adaID, "method", "code")) == 1
	})
	refusedOnce := map[string]bool{}
	for _, l := range rcv.lines() {
		if l.Status == 503 {
			refusedOnce[l.ID] = true
		}
	}
	for id, l := range rcv.accepted() {
		if !refusedOnce[id] {
			t.Errorf("%s (%s) was taken without the 503 first: a new webhook-id on the retry?", id, l.Event.Type)
		}
		if !strings.HasPrefix(id, "msg_") || l.Event.Data["email"] != "ada@example.com" {
			t.Errorf("event %+v", l)
		}
		for k := range l.Event.Data {
			if !slices.Contains([]string{"userId", "email", "sessionId", "method", "changed", "reason"}, k) {
				t.Errorf("event %s carries %q: data holds ids, the address and what changed, nothing else", l.Event.Type, k)
			}
		}
	}
	// The receiver does verify: a forged delivery is refused.
	forged, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(port)+"/hooks/latch", strings.NewReader(`{"type":"user.deleted","timestamp":"2026-01-01T00:00:00Z","data":{}}`))
	forged.Header.Set("webhook-id", "msg_forged")
	forged.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	forged.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	if resp, err := http.DefaultClient.Do(forged); err != nil || resp.StatusCode != 400 {
		t.Fatalf("the receiver took a forged delivery: %v %v", resp, err)
	}
	rcv.out = &syncBuffer{} // forget the forged line

	// 2. The receiver goes down; events are queued and retried.
	rcv.stop()
	mustBinary(t, bin, env, "users", "add", "grace@example.com")
	mustBinary(t, bin, env, "users", "disable", "ada@example.com")
	waitFor(t, "failed attempts", 20*time.Second, func() bool {
		text := scrape(t, c)
		return metricSum(t, text, "latch_webhook_events_total", map[string]string{"outcome": "retried"}) >= 6 &&
			metricSum(t, text, "latch_webhook_queue_length", nil) >= 3
	})

	// 3. A receiver that takes the connection and never answers: kill -9
	// of Latch while a POST is in flight. A new process on the same
	// DATA_DIR still holds every undelivered event, the one it was
	// posting included (once its lease, 2×WEBHOOK_TIMEOUT+10s, runs out).
	rcv = startReceiver(t, node, dir, port, secret, "hang")
	waitFor(t, "a POST in flight", 20*time.Second, func() bool { return len(rcv.lines()) > 0 })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	inFlight := rcv.lines()
	rcv.stop()
	p = startProcess(t, bin, env)
	c = newBrowser(t, "http://"+p.addr)
	if n := metricSum(t, scrape(t, c), "latch_webhook_queue_length", nil); n < 3 {
		t.Fatalf("after kill -9 the queue holds %v events, want the 3 undelivered", n)
	}

	// 4. The receiver is back: every event arrives, verified.
	rcv = startReceiver(t, node, dir, port, secret, "accept")
	waitFor(t, "the queued events", 40*time.Second, func() bool {
		got := rcv.accepted()
		return len(ofType(got, "user.created", "email", "grace@example.com")) == 1 &&
			len(ofType(got, "user.updated", "userId", adaID, "changed", "disabled")) == 1 &&
			len(ofType(got, "session.revoked", "userId", adaID)) == 1
	})
	waitFor(t, "an empty queue", 10*time.Second, func() bool {
		return metricSum(t, scrape(t, c), "latch_webhook_queue_length", nil) == 0
	})
	got := rcv.accepted()
	for _, l := range inFlight {
		if !l.Verified {
			t.Fatalf("the POST in flight did not verify: %+v", l)
		}
		if _, ok := got[l.ID]; !ok {
			t.Errorf("%s (%s), in flight at the kill -9, did not arrive again with its webhook-id", l.ID, l.Event.Type)
		}
	}

	// 5. A receiver that refuses for good (410): the event is dead-lettered
	// at once, listed, and replayed with its webhook-id.
	rcv.stop()
	rcv = startReceiver(t, node, dir, port, secret, "refuse")
	mustBinary(t, bin, env, "users", "enable", "ada@example.com")
	var failed []failedJSON
	waitFor(t, "a dead letter", 20*time.Second, func() bool {
		out := mustBinary(t, bin, env, "events", "failed", "--json")
		if err := json.Unmarshal([]byte(out), &failed); err != nil {
			t.Fatalf("events failed --json: %v\n%s", err, out)
		}
		return len(failed) == 1
	})
	if f := failed[0]; f.Type != "user.updated" || f.Attempts != 1 || !f.Replayable || !strings.Contains(f.LastError, "410") {
		t.Fatalf("the dead letter: %+v", f)
	}
	if out := mustBinary(t, bin, env, "events", "failed"); !strings.Contains(out, failed[0].ID) || !strings.Contains(out, "user.updated") {
		t.Fatalf("events failed:\n%s", out)
	}
	rcv.stop()
	rcv = startReceiver(t, node, dir, port, secret, "accept")
	if out := mustBinary(t, bin, env, "events", "replay", failed[0].ID); !strings.Contains(out, "queued "+failed[0].ID) {
		t.Fatalf("events replay:\n%s", out)
	}
	waitFor(t, "the replayed event", 20*time.Second, func() bool {
		l, ok := rcv.accepted()[failed[0].ID]
		return ok && l.Event.Type == "user.updated" && l.Event.Data["changed"] == "enabled"
	})
	if out := mustBinary(t, bin, env, "events", "failed"); !strings.Contains(out, "no failed webhook events") {
		t.Fatalf("events failed after the replay:\n%s", out)
	}
	if out, err := runBinary(t, bin, env, "events", "replay", failed[0].ID); err == nil || !strings.Contains(out, "no failed event has the id") {
		t.Fatalf("a second replay: %v\n%s", err, out)
	}
}

// A malformed or missing webhook setting stops Latch at start, naming the
// setting and never quoting the secret; nothing is generated in its place.
func TestWebhookSettingsAreChecked(t *testing.T) {
	good := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	for _, tc := range []struct {
		name     string
		env      []string
		want     string
		leakable string
	}{
		{"no prefix", []string{"WEBHOOK_URL", "http://127.0.0.1:9/h", "WEBHOOK_SECRET", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}, "WEBHOOK_SECRET: a webhook secret starts with whsec_", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"},
		{"not base64", []string{"WEBHOOK_URL", "http://127.0.0.1:9/h", "WEBHOOK_SECRET", "whsec_hunter2!hunter2!hunter2!hunter2!"}, "WEBHOOK_SECRET: a webhook secret is whsec_ followed by standard base64", "hunter2"},
		{"too short", []string{"WEBHOOK_URL", "http://127.0.0.1:9/h", "WEBHOOK_SECRET", "whsec_c2hvcnQ="}, "WEBHOOK_SECRET: a webhook secret holds 24 to 64 bytes", "c2hvcnQ="},
		{"secret without URL", []string{"WEBHOOK_SECRET", good}, "WEBHOOK_URL: required with WEBHOOK_SECRET", good},
		{"URL without secret", []string{"WEBHOOK_URL", "http://127.0.0.1:9/h"}, "WEBHOOK_SECRET: required with WEBHOOK_URL", ""},
		{"not a URL", []string{"WEBHOOK_URL", "127.0.0.1:9/h", "WEBHOOK_SECRET", good}, "WEBHOOK_URL: not an absolute http or https URL", good},
		{"no attempts", []string{"WEBHOOK_URL", "http://127.0.0.1:9/h", "WEBHOOK_SECRET", good, "WEBHOOK_RETRY_MAX_ATTEMPTS", "0"}, "WEBHOOK_RETRY_*", good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			said := mustRefuse(t, testEnv(t.TempDir(), tc.env...), tc.want)
			if tc.leakable != "" && strings.Contains(said, tc.leakable) {
				t.Errorf("the refusal quotes the secret:\n%s", said)
			}
		})
	}
	t.Run("production needs https", func(t *testing.T) {
		env := map[string]string{"APP_ENV": "production", "SESSION_SECRET": strongSecret, "SMTP_URL": "smtps://smtp.example.com", "BASE_URL": "https://login.example.com",
			"WEBHOOK_URL": "http://app.example.com/hooks", "WEBHOOK_SECRET": good}
		if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "WEBHOOK_URL: production needs an https URL") {
			t.Fatalf("http WEBHOOK_URL in production: %v", err)
		}
		env["WEBHOOK_URL"] = "http://127.0.0.1:8080/hooks"
		if _, err := loadConfig(func(k string) string { return env[k] }); err != nil {
			t.Fatalf("a loopback WEBHOOK_URL in production: %v", err)
		}
	})
}

// Without WEBHOOK_URL the events commands say that webhooks are off.
func TestEventsCommandsWithWebhooksOff(t *testing.T) {
	env := testEnv(t.TempDir())
	startLatch(t, env)
	if _, err := cli(t, env, "events", "failed"); err == nil || !strings.Contains(err.Error(), "webhooks are off") {
		t.Fatalf("events failed without webhooks: %v", err)
	}
	if _, err := cli(t, env, "events", "replay"); exitCode(err) != 2 {
		t.Fatalf("events replay without an ID: %v, want a usage error", err)
	}
}

// With REDIS_URL the webhook queue lives in Redis beside the mail queue
// (keys {hookq}): two replicas share it, and an event queued on one while
// the receiver refuses is delivered, once it takes it, with its webhook-id.
func TestWebhooksWithRedis(t *testing.T) {
	url := testRedisURL(t)
	prefix := randomPrefix()
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	type got struct{ id, typ string }
	var mu sync.Mutex
	var seen []got
	var refusing atomic.Bool
	refusing.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
		if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte("v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))) {
			t.Errorf("a delivery with a bad signature: %s", r.Header.Get("webhook-signature"))
			w.WriteHeader(400)
			return
		}
		var b struct{ Type string }
		json.Unmarshal(body, &b)
		mu.Lock()
		seen = append(seen, got{r.Header.Get("webhook-id"), b.Type})
		mu.Unlock()
		if refusing.Load() {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	env := func() map[string]string {
		e := redisEnv(t, url, prefix)
		for k, v := range map[string]string{"WEBHOOK_URL": srv.URL, "WEBHOOK_SECRET": secret, "WEBHOOK_RETRY_BASE_DELAY": "100ms", "WEBHOOK_RETRY_MAX_DELAY": "200ms"} {
			e[k] = v
		}
		return e
	}
	envA := env()
	startLatch(t, envA)
	b := startLatch(t, env())
	// A user is created by an operator on A; the event is refused (by
	// whichever replica posts it), then taken.
	mustCLI(t, envA, "users", "add", "grace@example.com")
	waitFor(t, "a refused attempt", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= 2 })
	refusing.Store(false)
	waitFor(t, "the event taken", 10*time.Second, func() bool {
		return metricSum(t, scrape(t, newBrowser(t, b.base)), "latch_webhook_queue_length", nil) == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if seen[0].typ != "user.created" {
		t.Fatalf("first delivery %+v, want user.created", seen[0])
	}
	for _, s := range seen {
		if s.id != seen[0].id {
			t.Fatalf("deliveries %+v: the retries changed the webhook-id", seen)
		}
	}
}
