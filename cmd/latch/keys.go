package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latch-auth/latch/internal/admin"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/redisstore"
	"github.com/latch-auth/latch/internal/token"
	"github.com/latch-auth/latch/internal/vault"
)

// maxTokenTTL bounds every token Latch signs (JWT_TTL's upper bound); a
// retired key stays published this long after it retires.
const maxTokenTTL = 24 * time.Hour

// newIssuer is the JWT issuer of cfg on store.
func newIssuer(cfg *Config, store kv.Store, vlt *vault.Vault) (*token.Issuer, error) {
	iss := "http://localhost"
	if cfg.baseURL != nil {
		iss = strings.TrimSuffix(cfg.baseURL.String(), "/")
	}
	return token.New(token.Config{
		Issuer:    iss,
		Audience:  cfg.JWTAudience,
		Alg:       cfg.SigningKeyAlg,
		Rotation:  cfg.SigningKeyRotation,
		AccessTTL: cfg.JWTTTL,
		MaxTTL:    maxTokenTTL,
	}, store, vlt, auth.SystemClock{})
}

// controlSocket is where the running server listens for commands.
func controlSocket(cfg *Config) string { return filepath.Join(cfg.DataDir, admin.SocketName) }

// adminCommands are every admin command, audited: the control socket
// and the admin HTTP API serve this one map (more: the events commands).
func adminCommands(iss *token.Issuer, svc *auth.Service, auditor auth.Auditor, more ...map[string]admin.Handler) map[string]admin.Handler {
	handlers := keyCommands(iss)
	maps.Copy(handlers, userCommands(svc))
	for _, h := range more {
		maps.Copy(handlers, h)
	}
	return admin.Audited(handlers, auditor)
}

// listenControl serves the admin commands on the control socket. A
// server that cannot (a read-only DATA_DIR, another replica on the same
// directory) still serves; the operator's commands say why they fail.
func listenControl(cfg *Config, handlers map[string]admin.Handler, log *slog.Logger) func() error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		log.Warn("latch: no control socket (latch keys … will not reach this server)", "err", err)
		return func() error { return nil }
	}
	srv, err := admin.Listen(controlSocket(cfg), handlers, log)
	if err != nil {
		log.Warn("latch: no control socket (latch keys … will not reach this server)", "err", err)
		return func() error { return nil }
	}
	return srv.Close
}

// keyJSON is one key as the commands print it.
type keyJSON struct {
	ID      string    `json:"kid"`
	Alg     string    `json:"alg"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Until   time.Time `json:"until"`
}

func keysBody(infos []token.KeyInfo) []keyJSON {
	out := make([]keyJSON, 0, len(infos))
	for _, k := range infos {
		out = append(out, keyJSON{ID: k.ID, Alg: k.Alg, State: string(k.State), Created: k.Created.UTC(), Until: k.Until.UTC()})
	}
	return out
}

func keyCommands(iss *token.Issuer) map[string]admin.Handler {
	return map[string]admin.Handler{
		"keys.list": func(ctx context.Context, _ json.RawMessage) (any, error) {
			infos, err := iss.Keys(ctx)
			return keysBody(infos), err
		},
		"keys.rotate": func(ctx context.Context, _ json.RawMessage) (any, error) {
			if _, err := iss.Rotate(ctx); err != nil {
				return nil, err
			}
			infos, err := iss.Keys(ctx)
			return keysBody(infos), err
		},
	}
}

const keysHelp = `latch keys list     the JWT signing keys: next, current, retired (still published)
latch keys rotate   make a new key current now; the old one stays published until
                    every token it signed has expired

--json prints one JSON document. Works against the Latch running on this machine
with the same DATA_DIR (through its control socket, DATA_DIR/latch.sock); with
REDIS_URL set and no server on this machine, it opens the store itself; or a
remote one:` + remoteHelp

// keysCommand runs `latch keys list|rotate`.
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	args, o, err := adminFlags(args)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	if len(args) != 1 || (args[0] != "list" && args[0] != "rotate") {
		return exitError{code: 2, err: fmt.Errorf("usage: latch keys list|rotate [--json]")}
	}
	var keys []keyJSON
	remote, err := o.remote(getenv)
	if err != nil {
		return err
	}
	if remote != nil {
		err = callAdmin(ctx, getenv, o, "keys."+args[0], nil, &keys)
	} else {
		keys, err = keysLocal(ctx, getenv, args[0])
	}
	if err != nil {
		return err
	}
	if o.json {
		return writeJSONDoc(stdout, keys)
	}
	if args[0] == "rotate" && len(keys) > 0 {
		fmt.Fprintf(stdout, "rotated: new tokens are signed by %s\n\n", keys[0].ID)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tUNTIL")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.State, k.Created.Format(time.RFC3339), k.Until.Format(time.RFC3339))
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nUNTIL: when a next key starts signing, the current one is replaced, a retired one is unpublished.")
	return nil
}

// keysLocal runs a keys command through the control socket, or on a
// Redis store directly when no server runs on this machine.
func keysLocal(ctx context.Context, getenv func(string) string, verb string) ([]keyJSON, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, exitError{code: 2, err: configError(err)}
	}
	var keys []keyJSON
	err = admin.Call(ctx, controlSocket(cfg), "keys."+verb, nil, &keys)
	if errors.Is(err, admin.ErrNotRunning) {
		if cfg.RedisURL == "" {
			return nil, fmt.Errorf("no Latch is running with DATA_DIR=%s (nothing answers on %s); start it (latch serve) and run this again, or reach a remote one with --url", cfg.DataDir, controlSocket(cfg))
		}
		return keysDirect(ctx, cfg, verb)
	}
	return keys, err
}

// keysDirect works on a Redis store without a server on this machine.
func keysDirect(ctx context.Context, cfg *Config, verb string) ([]keyJSON, error) {
	rs, err := redisstore.New(redisstore.Options{URL: cfg.RedisURL, KeyPrefix: cfg.RedisKeyPrefix, ReadTimeout: cfg.RedisTimeout, WriteTimeout: cfg.RedisTimeout})
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	secret, err := sessionSecret(cfg)
	if err != nil {
		return nil, err
	}
	vlt, err := vault.New(rs, auth.SystemClock{}, secret, cfg.SessionSecretPrevious)
	if err != nil {
		return nil, err
	}
	iss, err := newIssuer(cfg, rs, vlt)
	if err != nil {
		return nil, err
	}
	h := keyCommands(iss)["keys."+verb]
	out, err := h(ctx, nil)
	if err != nil {
		return nil, err
	}
	return out.([]keyJSON), nil
}
