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

	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/kv/kvtest"
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
	kvtest.Run(t, func(t *testing.T) kv.Store { return mustOpen(t, url) })
	authtest.RunEngine(t, func(t *testing.T) kv.Store { return mustOpen(t, url) })
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
	ops := map[string]func(ctx context.Context) error{
		"Ping":   s.Ping,
		"Get":    func(ctx context.Context) error { _, err := s.Get(ctx, "k", now); return err },
		"Put":    func(ctx context.Context) error { return s.Put(ctx, "k", []byte("v"), now.Add(time.Minute), now) },
		"Delete": func(ctx context.Context) error { return s.Delete(ctx, "k") },
		"Update": func(ctx context.Context) error {
			return s.Update(ctx, "k", now, func([]byte) (kv.Change, error) { return kv.Change{Op: kv.Write, Value: []byte("v")}, nil })
		},
		"Reserve":      func(ctx context.Context) error { _, err := s.Reserve(ctx, "c", 5, time.Minute, now); return err },
		"Release":      func(ctx context.Context) error { return s.Release(ctx, "c", time.Minute, now) },
		"Count":        func(ctx context.Context) error { _, err := s.Count(ctx, "c", time.Minute, now); return err },
		"AddMember":    func(ctx context.Context) error { return s.AddMember(ctx, "set", "m", now.Add(time.Minute), now) },
		"RemoveMember": func(ctx context.Context) error { return s.RemoveMember(ctx, "set", "m") },
		"Members":      func(ctx context.Context) error { _, err := s.Members(ctx, "set", now); return err },
		"Scan": func(ctx context.Context) error {
			return s.Scan(ctx, "", now, func(string, []byte) error { return nil })
		},
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := op(ctx)
		cancel()
		if !errors.Is(err, kv.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v; want kv.ErrUnavailable", name, err)
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
	// The new server has no cached scripts: they must load by themselves.
	for name, op := range ops {
		if err := op(context.Background()); err != nil && !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("%s after recovery: %v", name, err)
		}
	}
}

// TestNotFoundIsNotUnavailable checks that nothing live is ErrNotFound,
// not a store failure, and that a closed Store is unavailable.
func TestNotFoundIsNotUnavailable(t *testing.T) {
	s := mustOpen(t, redisURL(t))
	ctx := context.Background()
	if _, err := s.Get(ctx, "missing", time.Now()); !errors.Is(err, kv.ErrNotFound) || errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("Get(missing) = %v; want ErrNotFound", err)
	}
	closed, err := redisstore.New(redisstore.Options{URL: redisURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := closed.Get(ctx, "missing", time.Now()); !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("Get on a closed Store = %v; want unavailable", err)
	}
}

// TestTTLs checks the safety-net TTLs: relative to the caller's now, so a
// clock an hour behind the server's still frees what it should.
func TestTTLs(t *testing.T) {
	s := mustOpen(t, redisURL(t))
	ctx := context.Background()
	now := time.Now().Add(-time.Hour)
	if err := s.Put(ctx, "rec", []byte("v"), now.Add(5*time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "forever", []byte("v"), time.Time{}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "set", "a", now.Add(30*time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "set", "b", now.Add(90*time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, "ctr", 5, time.Minute, now); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, "upd", now, func([]byte) (kv.Change, error) {
		return kv.Change{Op: kv.Write, Value: []byte("v"), Expires: now.Add(10 * time.Minute)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]time.Duration{
		"rec":     {4*time.Minute + 50*time.Second, 5 * time.Minute},
		"forever": {-1, -1},
		"set":     {89 * time.Minute, 90 * time.Minute},       // the latest member
		"ctr":     {time.Minute - 2*time.Second, time.Minute}, // until its unit leaves the window
		"upd":     {9*time.Minute + 50*time.Second, 10 * time.Minute},
	}
	for k, w := range want {
		got := s.Client().PTTL(ctx, s.Prefix()+"{"+k+"}").Val()
		if w[0] == -1 && got >= 0 || w[0] != -1 && (got < w[0] || got > w[1]) {
			t.Errorf("TTL of %s = %s; want within %v", k, got, w)
		}
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
