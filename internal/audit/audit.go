// Package audit writes the engine's security events as structured log
// records on a logger of their own, with masked addresses and no secrets.
package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/latch-auth/latch/internal/auth"
)

// Request extracts per-request facts from a context. The web layer
// provides them; audit does not depend on it.
type Request struct {
	ID       func(ctx context.Context) string
	ClientIP func(ctx context.Context) string
	// Actor names who acts through an admin command (an admin client
	// "client:ID", or the operator on the control socket), "" otherwise.
	Actor func(ctx context.Context) string
}

// Log is an auth.Auditor that writes one JSON line per event.
type Log struct {
	log *slog.Logger
	req Request
}

var _ auth.Auditor = (*Log)(nil)

// New returns an audit log writing JSON lines to w.
func New(w io.Writer, req Request) *Log {
	return &Log{log: slog.New(slog.NewJSONHandler(w, nil)), req: req}
}

// Open returns the destination named by AUDIT_LOG: "stdout", "stderr" or
// a file path (appended to, created 0600). The closer is a no-op for the
// standard streams.
func Open(dest string, stdout io.Writer) (io.Writer, func() error, error) {
	switch dest {
	case "", "stdout":
		return stdout, func() error { return nil }, nil
	case "stderr":
		return os.Stderr, func() error { return nil }, nil
	}
	f, err := os.OpenFile(dest, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: open %s: %w", dest, err)
	}
	return f, f.Close, nil
}

// Audit writes e. The address is masked ("a***@example.com"); codes,
// links and tokens never reach an Event in the first place.
func (l *Log) Audit(ctx context.Context, e auth.Event) {
	attrs := []slog.Attr{slog.String("event", string(e.Kind))}
	if l.req.ID != nil {
		if id := l.req.ID(ctx); id != "" {
			attrs = append(attrs, slog.String("requestId", id))
		}
	}
	if l.req.ClientIP != nil {
		if ip := l.req.ClientIP(ctx); ip != "" {
			attrs = append(attrs, slog.String("clientIp", ip))
		}
	}
	if l.req.Actor != nil {
		if a := l.req.Actor(ctx); a != "" {
			attrs = append(attrs, slog.String("actor", a))
		}
	}
	if e.Email != "" {
		attrs = append(attrs, slog.String("email", auth.MaskEmail(e.Email)))
	}
	if e.UserID != "" {
		attrs = append(attrs, slog.String("userId", e.UserID))
	}
	if e.ChallengeID != "" {
		attrs = append(attrs, slog.String("authRequestId", e.ChallengeID))
	}
	if e.Method != "" {
		attrs = append(attrs, slog.String("method", e.Method))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", string(e.Reason)))
	}
	if e.Changed != "" {
		attrs = append(attrs, slog.String("changed", e.Changed))
	}
	if e.Passkey != "" {
		attrs = append(attrs, slog.String("passkey", e.Passkey))
	}
	if e.Suppressed {
		attrs = append(attrs, slog.Bool("suppressed", true))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// Tee sends every event to each auditor in turn.
type Tee []auth.Auditor

// Audit passes e to every auditor.
func (t Tee) Audit(ctx context.Context, e auth.Event) {
	for _, a := range t {
		a.Audit(ctx, e)
	}
}
