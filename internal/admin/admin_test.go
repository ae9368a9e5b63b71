package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustListen(t *testing.T, path string) *Server {
	t.Helper()
	s, err := Listen(path, map[string]Handler{
		"echo.upper": func(_ context.Context, args json.RawMessage) (any, error) {
			var in struct{ Text string }
			json.Unmarshal(args, &in)
			return map[string]string{"text": strings.ToUpper(in.Text)}, nil
		},
		"echo.fail": func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("it failed") },
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestControlSocket(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), SocketName)
	if err := Call(ctx, path, "echo.upper", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no server: %v, want ErrNotRunning", err)
	}
	s := mustListen(t, path)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v (%v), want a socket of mode 0600", fi.Mode(), err)
	}
	var out struct{ Text string }
	if err := Call(ctx, path, "echo.upper", map[string]string{"text": "hi"}, &out); err != nil || out.Text != "HI" {
		t.Fatalf("echo.upper: %q %v", out.Text, err)
	}
	if err := Call(ctx, path, "echo.fail", nil, nil); err == nil || err.Error() != "it failed" {
		t.Fatalf("a failing command: %v", err)
	}
	if err := Call(ctx, path, "users.list", nil, nil); err == nil || !strings.Contains(err.Error(), "does not know") {
		t.Fatalf("an unknown command: %v", err)
	}
	if _, err := Listen(path, nil, slog.Default()); err == nil {
		t.Fatal("a second server took over a live socket")
	}
	s.Close()
	if err := Call(ctx, path, "echo.upper", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after Close: %v, want ErrNotRunning", err)
	}

	// A socket file left by a killed process is replaced.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s = mustListen(t, path)
	defer s.Close()
	if err := Call(ctx, path, "echo.upper", nil, &out); err != nil {
		t.Fatalf("after replacing a stale socket: %v", err)
	}
}
