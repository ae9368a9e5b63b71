package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// serveBaselineArg makes the program the baseline server (hidden: the
// tool re-executes itself with it, so the server is a process of its own
// whose CPU and memory are measured like Latch's).
const serveBaselineArg = "-serve-baseline"

const baselineReady = "latchload baseline: listening on "

// serveBaseline serves the baseline on addr (loopback only) until ctx
// ends or stdin closes, which happens when the parent is done or gone.
func serveBaseline(ctx context.Context, addr string, stdin io.Reader, stdout io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !loopbackHost(host) {
		return exitError{2, fmt.Errorf("%s %q: want a loopback host:port", serveBaselineArg, addr)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           baselineHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "%shttp://%s\n", baselineReady, ln.Addr())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, done := context.WithTimeout(context.Background(), 2*time.Second)
	defer done()
	return srv.Shutdown(shutdown)
}

// baselineHandler answers every request as a minimal JSON API would
// answer /api/me: one cookie read, one body encoded. It is the floor that
// net/http and encoding/json set on this machine.
func baselineHandler() http.Handler {
	type user struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	type me struct {
		User    user `json:"user"`
		Session struct {
			ExpiresAt int64 `json:"expiresAt"`
		} `json:"session"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body me
		body.User = user{ID: "usr_baseline0123456789", Email: "baseline@example.com"}
		if c, err := r.Cookie("latch_session"); err == nil {
			body.Session.ExpiresAt = int64(len(c.Value))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(body)
	})
}

// baselineProc is a running baseline child.
type baselineProc struct {
	pid    int
	url    string
	cmd    *exec.Cmd
	stdin  io.Closer
	exited <-chan struct{}
}

// readyWriter takes the child's stdout and sends the URL of its first
// "listening" line.
type readyWriter struct {
	buf   []byte
	ready chan<- string
	sent  bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	if w.sent {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		line, rest, ok := bytes.Cut(w.buf, []byte("\n"))
		if !ok {
			break
		}
		w.buf = rest
		if u, ok := strings.CutPrefix(string(line), baselineReady); ok {
			w.ready <- u
			w.sent, w.buf = true, nil
			break
		}
	}
	return len(p), nil
}

// startBaseline re-executes this program as the baseline server on a free
// loopback port and waits until it listens.
func startBaseline(ctx context.Context, stderr io.Writer) (*baselineProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, serveBaselineArg, "127.0.0.1:0")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	cmd.Stdout = &readyWriter{ready: ready}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &baselineProc{pid: cmd.Process.Pid, cmd: cmd, stdin: stdin}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.exited = exited
	select {
	case u := <-ready:
		p.url = u
	case <-exited:
		return nil, errors.New("the baseline server exited before listening")
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, errors.New("the baseline server did not start within 10s")
	}
	if _, err := loopbackURL(p.url); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// stop ends the child: closing its stdin asks it to shut down; it is
// killed if it has not within a few seconds.
func (p *baselineProc) stop() {
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}
