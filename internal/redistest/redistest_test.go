package redistest_test

import (
	"net"
	"net/url"
	"os"
	"testing"

	"github.com/latch-auth/latch/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Run(m)) }

// TestURLAnswers: the URL names a Redis that answers, and the same one
// for every test of the binary.
func TestURLAnswers(t *testing.T) {
	first := redistest.URL(t)
	if again := redistest.URL(t); again != first {
		t.Fatalf("URL = %q, then %q; want one server per test binary", first, again)
	}
	u, err := url.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("%s: %v", first, err)
	}
	defer c.Close()
	c.Write([]byte("PING\r\n"))
	buf := make([]byte, 7)
	if n, _ := c.Read(buf); string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("%s answered PING with %q", first, buf[:n])
	}
}
