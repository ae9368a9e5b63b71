package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/redistest"
)

// testRedisURL returns LATCH_TEST_REDIS_URL, or the URL of a
// redis-server started for this test binary, or skips the test saying why.
func testRedisURL(t *testing.T) string {
	t.Helper()
	return redistest.URL(t)
}

// redisEnv is a development environment whose state lives in Redis under
// a prefix of its own, with a shared secret so replicas agree.
func redisEnv(t *testing.T, url, prefix string) map[string]string {
	return testEnv(t.TempDir(), "REDIS_URL", url, "REDIS_KEY_PREFIX", prefix,
		"SESSION_SECRET", "replica-secret-replica-secret-0123456789",
		"RATE_LIMIT_MAX", "100000", "RATE_LIMIT_AUTH_IP_MAX", "100000")
}

// deleteKeys removes what a test left under prefix (users never expire).
func deleteKeys(t *testing.T, url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Errorf("clean up: %v", err)
		return
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Unlink(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("clean up: %v", err)
	}
}

func randomPrefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "latch-test-" + hex.EncodeToString(b) + ":"
}

// mailFrom polls the outboxes of every replica (any replica's worker may
// deliver a queued mail) for a mail to addr that is not in seen.
func mailFrom(t *testing.T, addr string, seen map[string]bool, replicas ...*latch) (code, link string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range replicas {
			c := newBrowser(t, l.base)
			_, v := c.getJSON("/dev/outbox.json?to=" + addr)
			msgs, _ := v["messages"].([]any)
			for _, m := range msgs {
				m := m.(map[string]any)
				if id, _ := m["id"].(string); !seen[id] {
					seen[id] = true
					return m["code"].(string), m["link"].(string)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no new mail to %s on any replica", addr)
	return "", ""
}

func TestReplicasShareOneRedis(t *testing.T) {
	url := testRedisURL(t)
	prefix := randomPrefix()
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	a := startLatch(t, redisEnv(t, url, prefix))
	b := startLatch(t, redisEnv(t, url, prefix))
	seen := map[string]bool{}

	// Send on A, verify on B, /api/me on A, logout on B: A answers 401.
	c := newBrowser(t, a.base)
	status, sent := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	if status != 200 {
		t.Fatalf("send on A: %d %v", status, sent)
	}
	code, _ := mailFrom(t, "ada@example.com", seen, a, b)
	c.base = b.base
	if status, v := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code}); status != 200 {
		t.Fatalf("verify on B: %d %v", status, v)
	}
	c.base = a.base
	if status, v := c.getJSON("/api/me"); status != 200 {
		t.Fatalf("/api/me on A: %d %v", status, v)
	}
	c.base = b.base
	if status, _ := c.postJSON("/api/auth/logout", nil); status != 200 {
		t.Fatalf("logout on B: %d", status)
	}
	c.base = a.base
	if status, _ := c.getJSON("/api/me"); status != 401 {
		t.Fatalf("/api/me on A after logout on B: %d, want 401", status)
	}

	// 40 concurrent wrong guesses over both replicas: at most 5 are judged.
	status, sent = c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "grace@example.com"})
	if status != 200 {
		t.Fatalf("send: %d", status)
	}
	right, _ := mailFrom(t, "grace@example.com", seen, a, b)
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	counts := hammer(t, 40, []*latch{a, b}, func(cl *client) int {
		s, _ := cl.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": wrong})
		return s
	})
	if counts[400] != 5 || counts[429] != 35 {
		t.Fatalf("40 wrong guesses over two replicas: %v; want 5×400 and 35×429", counts)
	}

	// 20 concurrent replays of a used code all fail.
	status, sent = c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "alan@example.com"})
	if status != 200 {
		t.Fatalf("send: %d", status)
	}
	code, _ = mailFrom(t, "alan@example.com", seen, a, b)
	if s, _ := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code}); s != 200 {
		t.Fatalf("first use: %d", s)
	}
	counts = hammer(t, 20, []*latch{a, b}, func(cl *client) int {
		s, _ := cl.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code})
		return s
	})
	if counts[410] != 20 {
		t.Fatalf("20 replays: %v; want 20×410", counts)
	}
}

// TestReplicasHoldTheFailureCap: 8 challenges for one address and 5 wrong
// codes racing on each, spread over two replicas: exactly the per-address
// cap of 15 is judged, because each wrong code takes its unit before it is
// judged.
func TestReplicasHoldTheFailureCap(t *testing.T) {
	url := testRedisURL(t)
	prefix := randomPrefix()
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	env := redisEnv(t, url, prefix)
	env["RATE_LIMIT_AUTH_EMAIL_MAX"] = "8" // eight mails to one address this minute
	env["RATE_LIMIT_AUTH_IP_MAX"] = "0"    // the per-IP limits would refuse first
	a, b := startLatch(t, env), startLatch(t, env)
	seen := map[string]bool{}
	type pending struct{ id, wrong string }
	var challenges []pending
	for range 8 {
		c := newBrowser(t, a.base)
		status, sent := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "victim@example.com"})
		if status != 200 {
			t.Fatalf("send: %d %v", status, sent)
		}
		code, _ := mailFrom(t, "victim@example.com", seen, a, b)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		challenges = append(challenges, pending{sent["authRequestId"].(string), wrong})
	}
	var next atomic.Int32
	counts := hammer(t, 40, []*latch{a, b}, func(cl *client) int {
		p := challenges[int(next.Add(1)-1)%len(challenges)]
		s, _ := cl.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": p.id, "code": p.wrong})
		return s
	})
	if counts[400] != 15 || counts[429] != 25 {
		t.Fatalf("40 racing wrong codes for one address over two replicas: %v; want 15×400 and 25×429", counts)
	}
}

// hammer runs n requests at once, spread over the replicas, and counts statuses.
func hammer(t *testing.T, n int, replicas []*latch, f func(*client) int) map[int]int {
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		cl := newBrowser(t, replicas[i%len(replicas)].base)
		wg.Go(func() {
			<-start
			s := f(cl)
			mu.Lock()
			counts[s]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return counts
}

// redisServer is a redis-server of the test's own on a loopback port.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (r *redisServer) start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Skip("redis-server not installed; apt-get install -y redis-server to run the outage tests")
	}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for range 100 {
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port)); err == nil {
			conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatal("redis-server did not start")
}

func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// waitStatus polls path until it answers want.
func waitStatus(t *testing.T, c *client, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, _ := c.getJSON(path)
		if s == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %d, want %d", path, s, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRedisOutageAndRecovery(t *testing.T) {
	testRedisURL(t)
	r := &redisServer{t: t, port: freePort(t)}
	r.start()
	t.Cleanup(r.stop)
	l := startLatch(t, redisEnv(t, fmt.Sprintf("redis://127.0.0.1:%d/0", r.port), "latch:"))
	c := newBrowser(t, l.base)
	seen := map[string]bool{}
	_, sent := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	code, _ := mailFrom(t, "ada@example.com", seen, l)
	if s, _ := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code}); s != 200 {
		t.Fatalf("sign-in: %d", s)
	}

	r.stop()
	if s, v := c.getJSON("/api/me"); s != http.StatusServiceUnavailable || v["code"] != "unavailable" {
		t.Fatalf("/api/me with Redis down: %d %v; want 503 unavailable", s, v)
	}
	s, v := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "grace@example.com"})
	if s != http.StatusServiceUnavailable || v["code"] != "unavailable" {
		t.Fatalf("send with Redis down: %d %v; want 503 unavailable", s, v)
	}
	s, v = c.getJSON("/api/health/ready")
	if s != 503 || v["checks"].(map[string]any)["store"] != "unavailable" {
		t.Fatalf("ready with Redis down: %d %v", s, v)
	}
	if s, _ := c.getJSON("/api/health"); s != 200 {
		t.Fatalf("liveness with Redis down: %d", s)
	}

	// Redis returns (empty: it keeps nothing on disk); Latch recovers by itself.
	r.start()
	waitStatus(t, c, "/api/health/ready", 200)
	_, sent = c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "grace@example.com"})
	code, _ = mailFrom(t, "grace@example.com", seen, l)
	if s, v := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code}); s != 200 {
		t.Fatalf("sign-in after recovery: %d %v", s, v)
	}
}

func TestStartsNotReadyWithRedisDown(t *testing.T) {
	testRedisURL(t)
	r := &redisServer{t: t, port: freePort(t)}
	l := startLatch(t, redisEnv(t, fmt.Sprintf("redis://127.0.0.1:%d/0", r.port), "latch:"))
	c := newBrowser(t, l.base)
	if s, _ := c.getJSON("/api/health"); s != 200 {
		t.Fatalf("liveness: %d", s)
	}
	if s, _ := c.getJSON("/api/health/ready"); s != 503 {
		t.Fatalf("ready with Redis down at start: %d", s)
	}
	r.start()
	t.Cleanup(r.stop)
	waitStatus(t, c, "/api/health/ready", 200)
}
