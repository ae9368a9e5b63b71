// Package admin is the control socket of a running Latch: a unix socket
// in DATA_DIR (mode 0600, and only a peer of the same user is answered)
// through which commands on the same machine, such as `latch keys
// rotate`, ask the server to act. It is how a command reaches a server
// whose store it cannot open itself (bbolt holds a file lock).
//
// The protocol is one JSON line each way per connection:
//
//	→ {"command":"keys.rotate","args":{…}}
//	← {"result":{…}}  or  {"error":"a sentence for a person"}
//
// Commands are named "<noun>.<verb>" (keys.rotate, users.disable, …)
// and registered by the program as Handlers; the admin HTTP API
// (package adminapi) serves the same Handlers over REST routes.
package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// SocketName is the socket's file name in DATA_DIR.
const SocketName = "latch.sock"

// ErrNotRunning means no server answers on the socket.
var ErrNotRunning = errors.New("admin: no Latch is running")

// Handler runs one command with its JSON arguments (nil when none; read
// them with DecodeArgs) and returns what to send back, encoded as JSON.
// Its error's text is sent to the socket's caller, who is the machine's
// operator; an *auth.Error's code also sets the HTTP API's status.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// Limits of one exchange.
const (
	maxRequest     = 64 << 10
	commandTimeout = 30 * time.Second
)

type request struct {
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args,omitempty"`
}

type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Server answers commands on the socket until Close.
type Server struct {
	ln       *net.UnixListener
	path     string
	handlers map[string]Handler
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// Listen serves handlers on a unix socket at path. A socket left there by
// a process that is gone is replaced; one that a live server answers on
// is an error.
func Listen(path string, handlers map[string]Handler, log *slog.Logger) (*Server, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin: another Latch already serves the control socket %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin: remove the stale socket: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin: listen on %s: %w", path, err)
	}
	// The peer check below refuses other users even in the moment before
	// the mode is set.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, path: path, handlers: handlers, log: log, ctx: ctx, cancel: cancel}
	s.wg.Go(s.serve)
	return s, nil
}

// Path is where the socket is.
func (s *Server) Path() string { return s.path }

// Close stops serving, waits for commands in flight and removes the socket.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) serve() {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("admin: accept", "err", err)
			}
			return
		}
		s.wg.Go(func() { s.handle(c) })
	}
}

func (s *Server) handle(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(commandTimeout + 5*time.Second))
	if err := samePeer(c); err != nil {
		s.log.Warn("admin: refused a connection", "err", err)
		return
	}
	var req request
	line, err := bufio.NewReader(io.LimitReader(c, maxRequest)).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	resp := response{}
	switch h := s.handlers[req.Command]; {
	case err != nil:
		resp.Error = "the request is not one JSON line"
	case h == nil:
		resp.Error = fmt.Sprintf("this Latch does not know the command %q (is it an older release?)", req.Command)
	default:
		ctx, cancel := context.WithTimeout(WithActor(s.ctx, Operator), commandTimeout)
		out, err := h(ctx, req.Args)
		cancel()
		if err != nil {
			resp.Error = err.Error()
			s.log.Warn("admin: command failed", "command", req.Command, "err", err)
		} else if resp.Result, err = json.Marshal(out); err != nil {
			resp.Error = "the result could not be encoded"
		} else {
			s.log.Info("admin: command", "command", req.Command)
		}
	}
	b, _ := json.Marshal(resp)
	c.Write(append(b, '\n'))
}

// Call runs command on the server at path, decoding its result into
// result (which may be nil). It wraps ErrNotRunning when nothing answers.
func Call(ctx context.Context, path, command string, args, result any) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (no server on %s)", ErrNotRunning, path)
		}
		return fmt.Errorf("admin: connect to %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(commandTimeout + 10*time.Second))
	}
	req := request{Command: command}
	if args != nil {
		if req.Args, err = json.Marshal(args); err != nil {
			return fmt.Errorf("admin: encode the arguments: %w", err)
		}
	}
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("admin: send %s: %w", command, err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("admin: %s: no answer from the server (%v); see its log", command, err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("admin: %s: the answer is not JSON: %w", command, err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	if result != nil && resp.Result != nil {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("admin: %s: decode the result: %w", command, err)
		}
	}
	return nil
}
