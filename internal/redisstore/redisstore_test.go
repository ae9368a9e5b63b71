package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/redisstore"
	"github.com/latch-auth/latch/internal/redistest"
)

// redisURL returns LATCH_TEST_REDIS_URL, or the URL of a redis-server
// started for this test binary, or skips the test saying why.
func redisURL(t testing.TB) string {
	t.Helper()
	return redistest.URL(t)
}

// mustOpen returns a Store on url under a fresh random prefix, and deletes
// every key under that prefix when the test ends.
func mustOpen(t testing.TB, url string) *redisstore.Store {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	return mustOpenPrefix(t, url, "latchtest:"+hex.EncodeToString(b)+":")
}

// mustOpenPrefix is mustOpen with the given prefix.
func mustOpenPrefix(t testing.TB, url, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(redisstore.Options{URL: url, KeyPrefix: prefix})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := deleteKeys(s); err != nil {
			t.Errorf("delete test keys: %v", err)
		}
		s.Close()
	})
	return s
}

// deleteKeys deletes every key under s.Prefix(), on every master of a cluster.
func deleteKeys(s *redisstore.Store) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	del := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, s.Prefix()+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		// One key per UNLINK: a cluster refuses keys of several slots.
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		return err
	}
	if cc, ok := s.Client().(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return del(ctx, node) })
	}
	return del(ctx, s.Client())
}

func conformance(t *testing.T, url string) {
	authtest.TestStore(t, func(t *testing.T) auth.Store { return mustOpen(t, url) })
	authtest.TestLimiter(t, func(t *testing.T) auth.Limiter { return mustOpen(t, url) })
}

func TestConformance(t *testing.T) {
	conformance(t, redisURL(t))
}

// fromEnv reads a test topology's variable: 0 skips the test with help;
// empty, 1 or auto starts one with start (which skips when redis-server
// is not on PATH); anything else is a URL to use.
func fromEnv(t *testing.T, name, help string, start func(testing.TB) string) string {
	t.Helper()
	switch url := os.Getenv(name); url {
	case "0":
		t.Skip(name + "=0; " + help)
		return ""
	case "", "1", "auto":
		return start(t)
	default:
		return url
	}
}

// clusterURL is the cluster of LATCH_TEST_REDIS_CLUSTER.
func clusterURL(t *testing.T) string {
	return fromEnv(t, "LATCH_TEST_REDIS_CLUSTER", "unset, it starts a three-node cluster with redis-server and redis-cli; or set a redis-cluster:// URL", startCluster)
}

func TestClusterConformance(t *testing.T) {
	url := clusterURL(t)
	s := mustOpen(t, url)
	if _, ok := s.Client().(*redis.ClusterClient); !ok {
		t.Fatalf("LATCH_TEST_REDIS_CLUSTER=%q does not make a cluster client; use redis-cluster://host:port,…", url)
	}
	conformance(t, url)
}

func TestSentinelConformance(t *testing.T) {
	conformance(t, fromEnv(t, "LATCH_TEST_REDIS_SENTINEL", "unset, it starts a master and a Sentinel with redis-server; or set a redis-sentinel:// URL", startSentinel))
}

// TestRecoversWhenRedisStarts makes a Store while nothing listens on its
// port, checks that it answers unavailable, then starts Redis there and
// checks that the same Store recovers by itself.
func TestRecoversWhenRedisStarts(t *testing.T) {
	bin := lookPath(t, "redis-server")
	port := freePort(t, false)
	s, err := redisstore.New(redisstore.Options{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port)})
	if err != nil {
		t.Fatalf("New with Redis down: %v; want a Store that is not ready yet", err)
	}
	t.Cleanup(func() { s.Close() })

	now := time.Now()
	c := authtest.NewChallenge(t, now)
	sess := authtest.NewSession(t, "usr_outage", now)
	ops := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"Ping", s.Ping},
		{"CreateChallenge", func(ctx context.Context) error { return s.CreateChallenge(ctx, c) }},
		{"Challenge", func(ctx context.Context) error { _, err := s.Challenge(ctx, c.ID, now); return err }},
		{"ChallengeByToken", func(ctx context.Context) error { _, err := s.ChallengeByToken(ctx, c.TokenHash, now); return err }},
		{"AttemptCode", func(ctx context.Context) error {
			_, err := s.AttemptCode(ctx, c.ID, [][]byte{c.CodeHash}, 5, now)
			return err
		}},
		{"ConsumeLink", func(ctx context.Context) error { _, err := s.ConsumeLink(ctx, c.ID, c.TokenHash, now); return err }},
		{"RenewChallenge", func(ctx context.Context) error {
			_, err := s.RenewChallenge(ctx, c.ID, auth.Renewal{CodeHash: c.CodeHash, TokenHash: c.TokenHash, SentAt: now, ExpiresAt: c.ExpiresAt}, 5, now)
			return err
		}},
		{"CreateSession", func(ctx context.Context) error { return s.CreateSession(ctx, sess) }},
		{"Session", func(ctx context.Context) error { _, err := s.Session(ctx, sess.ID, now); return err }},
		{"TouchSession", func(ctx context.Context) error { return s.TouchSession(ctx, sess.ID, now) }},
		{"DeleteSession", func(ctx context.Context) error { return s.DeleteSession(ctx, sess.ID) }},
		{"DeleteUserSessions", func(ctx context.Context) error { _, err := s.DeleteUserSessions(ctx, sess.UserID); return err }},
		{"EnsureUser", func(ctx context.Context) error {
			_, err := s.EnsureUser(ctx, auth.User{ID: "usr_outage", Email: "outage@example.com", CreatedAt: now})
			return err
		}},
		{"Take", func(ctx context.Context) error { _, err := s.Take(ctx, "k", 5, time.Minute, now); return err }},
		{"Peek", func(ctx context.Context) error { _, err := s.Peek(ctx, "k", 5, time.Minute, now); return err }},
	}
	for _, o := range ops {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := o.op(ctx)
		cancel()
		if code := auth.ErrorCode(err); code != auth.CodeUnavailable {
			t.Errorf("%s with Redis down: %v (code %q); want code %q", o.name, err, code, auth.CodeUnavailable)
		}
	}

	startRedis(t, bin, port, t.TempDir(), "")
	// The Store has not been recreated; it must notice Redis by itself.
	// go-redis probes a failing node once a second.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping still fails 20s after Redis started: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The new server has no cached scripts: the pipelined EVALSHAs of
	// RenewChallenge and CreateSession must fall back to EVAL.
	ctx := context.Background()
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatalf("CreateChallenge after recovery: %v", err)
	}
	r := authtest.NewChallenge(t, now)
	renewed, err := s.RenewChallenge(ctx, c.ID, auth.Renewal{CodeHash: r.CodeHash, TokenHash: r.TokenHash, SentAt: now, ExpiresAt: r.ExpiresAt}, 5, now)
	if err != nil || renewed.ID != c.ID {
		t.Fatalf("RenewChallenge after recovery: %v, %v", renewed, err)
	}
	if got, err := s.ChallengeByToken(ctx, r.TokenHash, now); err != nil || got.ID != c.ID {
		t.Fatalf("ChallengeByToken after recovery: %v, %v", got, err)
	}
	if a, err := s.AttemptCode(ctx, c.ID, [][]byte{r.CodeHash}, 5, now); err != nil || a.Outcome != auth.Accepted {
		t.Fatalf("AttemptCode after recovery: %+v, %v", a, err)
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession after recovery: %v", err)
	}
	if _, err := s.Session(ctx, sess.ID, now); err != nil {
		t.Fatalf("Session after recovery: %v", err)
	}
	if n, err := s.DeleteUserSessions(ctx, sess.UserID); err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions after recovery: %d, %v", n, err)
	}
	if d, err := s.Take(ctx, "k", 5, time.Minute, now); err != nil || !d.Allowed {
		t.Fatalf("Take after recovery: %+v, %v", d, err)
	}
}

// TestNotFoundIsNotUnavailable checks that nothing live is ErrNotFound,
// not a store failure, and that a closed Store is unavailable.
func TestNotFoundIsNotUnavailable(t *testing.T) {
	s := mustOpen(t, redisURL(t))
	ctx := context.Background()
	_, err := s.Session(ctx, "missing", time.Now())
	if !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Session(missing) = %v; want ErrNotFound", err)
	}
	if err := s.TouchSession(ctx, "missing", time.Now()); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("TouchSession(missing) = %v; want ErrNotFound", err)
	}
	closed, err := redisstore.New(redisstore.Options{URL: redisURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := closed.Session(ctx, "missing", time.Now()); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Fatalf("Session on a closed Store = %v; want unavailable", err)
	}
}

// TestTTLs checks the safety-net TTLs: relative to the caller's now, and
// kept by TouchSession within the absolute expiry.
func TestTTLs(t *testing.T) {
	s := mustOpen(t, redisURL(t))
	ctx := context.Background()
	// A clock an hour in the past: TTLs follow deadline − now, not the
	// server's clock.
	now := time.Now().Add(-time.Hour)
	c := authtest.NewChallenge(t, now)
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	sess := authtest.NewSession(t, "usr_ttl", now)
	sess.ExpiresAt = now.Add(90 * time.Minute)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, "ttl", 5, time.Minute, now); err != nil {
		t.Fatal(err)
	}
	keys := scanKeys(t, s)
	if len(keys) != 5 {
		t.Fatalf("keys %v; want challenge, token index, session, session index, counter", keys)
	}
	want := map[string][2]time.Duration{
		"{c:": {4*time.Minute + 50*time.Second, 5 * time.Minute},
		"{t:": {4*time.Minute + 50*time.Second, 5 * time.Minute},
		"{s:": {59 * time.Minute, time.Hour},                 // idle deadline
		"{u:": {89 * time.Minute, 90 * time.Minute},          // absolute expiry
		"{r:": {time.Millisecond, time.Minute + time.Second}, // window end
	}
	for _, k := range keys {
		kind := strings.TrimPrefix(k, s.Prefix())[:3]
		got := s.Client().PTTL(ctx, k).Val()
		if w, ok := want[kind]; !ok || got < w[0] || got > w[1] {
			t.Errorf("TTL of %s = %s; want within %v", k, got, w)
		}
	}

	// Touch near the absolute expiry: the TTL stops at it.
	at := now.Add(80 * time.Minute)
	for _, step := range []time.Time{now.Add(50 * time.Minute), at} {
		if err := s.TouchSession(ctx, sess.ID, step); err != nil {
			t.Fatalf("TouchSession: %v", err)
		}
	}
	if got := s.Client().PTTL(ctx, s.Prefix()+"{s:"+sess.ID+"}").Val(); got > 10*time.Minute || got < 9*time.Minute {
		t.Fatalf("TTL after a touch 10 minutes before the absolute expiry = %s; want 10m", got)
	}
}

func scanKeys(t *testing.T, s *redisstore.Store) []string {
	t.Helper()
	// SCAN visits the keyspace a slice at a time: follow the cursor, or a
	// database holding other keys hides some of these.
	var all []string
	var cursor uint64
	for {
		keys, next, err := s.Client().Scan(context.Background(), cursor, s.Prefix()+"*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, keys...)
		if cursor = next; cursor == 0 {
			return all
		}
	}
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found in PATH; install Redis (Debian: apt-get install redis-server) to run this test", name)
	}
	return p
}

// freePort returns a loopback port nobody listens on. With bus, port+10000
// (the cluster bus) is free too.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !bus {
			return port
		}
		if port+10000 > 65535 {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startRedis runs redis-server on port without persistence until the
// test ends, and waits until it answers. conf, if not empty, is a config
// file, which redis-server wants before any option.
func startRedis(t testing.TB, bin string, port int, dir, conf string, opts ...string) {
	t.Helper()
	var args []string
	if conf != "" {
		args = append(args, conf)
	}
	args = append(args,
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)))
	cmd := exec.Command(bin, append(args, opts...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)))
			t.Fatalf("redis-server on port %d does not answer:\n%s", port, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startCluster starts a three-master Redis Cluster on loopback and returns
// its URL.
func startCluster(t testing.TB) string {
	t.Helper()
	server, cli := lookPath(t, "redis-server"), lookPath(t, "redis-cli")
	dir := t.TempDir()
	var addrs []string
	for range 3 {
		port := freePort(t, true)
		startRedis(t, server, port, dir, "", "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)))
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for !strings.Contains(c.ClusterInfo(context.Background()).Val(), "cluster_state:ok") {
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok after 30s:\n%s", addr, c.ClusterInfo(context.Background()).Val())
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// startSentinel starts a master and one Sentinel watching it on loopback
// and returns the Sentinel URL.
func startSentinel(t testing.TB) string {
	t.Helper()
	server := lookPath(t, "redis-server")
	dir := t.TempDir()
	master := freePort(t, false)
	startRedis(t, server, master, dir, "")
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "sentinel monitor latchtest 127.0.0.1 %d 1\n", master), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinel := freePort(t, false)
	startRedis(t, server, sentinel, dir, conf, "--sentinel")
	return fmt.Sprintf("redis-sentinel://127.0.0.1:%d/latchtest", sentinel)
}
