// Package redistest gives tests a Redis server: the one named by
// LATCH_TEST_REDIS_URL, or else a redis-server of the test binary's own,
// started on a free loopback port the first time a test asks and stopped
// when the binary's tests end. Without either, the tests that need Redis
// skip, saying why in one line.
//
// A package that uses URL runs its tests through Run:
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Run(m)) }
//
// Tests share the server, so each keeps to keys of its own (a random
// prefix) and cleans them up.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvURL names the variable of an existing Redis to test against.
const EnvURL = "LATCH_TEST_REDIS_URL"

// server is the redis-server this test binary started, if any. It is
// state of the test binary by design: one server for all its tests.
var server struct {
	run  bool // Run is in charge (it stops the server)
	once sync.Once
	url  string
	skip string // why there is no Redis, when there is none
	err  error  // why the server did not start
	cmd  *exec.Cmd
	dir  string
}

// Run runs the tests and then stops the redis-server that URL started.
// Call it from TestMain.
func Run(m *testing.M) int {
	server.run = true
	defer stop()
	return m.Run()
}

// URL returns a redis:// URL for t: LATCH_TEST_REDIS_URL when set, else
// that of a redis-server started for this test binary (once). Without
// either it skips t with the reason.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	if !server.run {
		t.Fatal("redistest.URL: run the package's tests through redistest.Run (func TestMain(m *testing.M) { os.Exit(redistest.Run(m)) }), which stops the redis-server it starts")
	}
	server.once.Do(start)
	switch {
	case server.skip != "":
		t.Skip(server.skip)
	case server.err != nil:
		t.Fatal(server.err)
	}
	return server.url
}

func start() {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		server.skip = "no Redis: " + EnvURL + " is not set and redis-server is not on PATH (Debian: apt-get install redis-server)"
		return
	}
	port, err := freePort()
	if err != nil {
		server.err = fmt.Errorf("redistest: %w", err)
		return
	}
	if server.dir, err = os.MkdirTemp("", "latch-redistest-"); err != nil {
		server.err = fmt.Errorf("redistest: %w", err)
		return
	}
	logFile := filepath.Join(server.dir, "redis.log")
	server.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", server.dir, "--logfile", logFile)
	if err := server.cmd.Start(); err != nil {
		server.err = fmt.Errorf("redistest: start redis-server: %w", err)
		return
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for !answers(addr) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			server.err = fmt.Errorf("redistest: redis-server on %s did not answer PING within 15s:\n%s", addr, log)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	server.url = "redis://" + addr + "/0"
}

// answers reports whether a Redis at addr answers PING.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func stop() {
	if server.cmd != nil && server.cmd.Process != nil {
		server.cmd.Process.Kill()
		server.cmd.Wait()
	}
	if server.dir != "" {
		os.RemoveAll(server.dir)
	}
}
