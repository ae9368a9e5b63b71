package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/admin"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/bearer"
	"github.com/latch-auth/latch/internal/web"
)

// Registry tells which clients of CLIENTS_FILE are admin clients;
// *oidc.Registry implements it. It is asked on every call, so a client
// removed, disabled or no longer marked admin (and the file re-read on
// SIGHUP) loses access at once, its live tokens included.
type Registry interface {
	// KnowsAdmin reports whether id is an enabled admin client.
	KnowsAdmin(id string) bool
	// Knows reports whether id is a client of the registry at all.
	Knows(id string) bool
	// AnyAdmin reports whether the registry has an enabled admin client.
	AnyAdmin() bool
	// AuthenticateAdmin reports whether secret is the secret of admin client id.
	AuthenticateAdmin(id, secret string) bool
	// AdminSecretTag names admin client id's current secret ("" for no
	// such client), so that a token ends when the secret it was issued
	// for is changed.
	AdminSecretTag(id string) string
}

// Limiter puts routes behind rate limits counted where the app routes'
// are; web.RouteLimits implements it. refuse answers a refused call with
// err (rate_limited with retryAfter, or unavailable).
type Limiter interface {
	FailuresPerIP(name string, max int, refuse func(w http.ResponseWriter, r *http.Request, err error), h http.Handler) http.Handler
	PerKey(name string, max int, key func(*http.Request) string, refuse func(w http.ResponseWriter, r *http.Request, err error), h http.Handler) http.Handler
}

// Config configures the admin API. Zero fields take the defaults beside them.
type Config struct {
	// Handlers are the admin commands, the very map the control socket
	// serves (already audited: admin.Audited). Required.
	Handlers map[string]admin.Handler
	// Registry says who is an admin client. Required.
	Registry Registry
	// TokenKey returns the key that signs admin tokens: a random key of
	// its own, sealed in the store, so that no other kind of token (the
	// provider API's, a person's access token) passes for one. Required.
	TokenKey func(ctx context.Context) ([]byte, error)
	// TokenTTL is how long an admin token lives (DefaultTokenTTL).
	TokenTTL time.Duration
	// FailuresPerIP caps failed calls per client IP and window
	// (RATE_LIMIT_MAX); TokenFailuresPerIP caps failed admin token
	// requests (RATE_LIMIT_AUTH_IP_MAX: they judge a secret); PerClient
	// caps one admin client's calls (RATE_LIMIT_API_CLIENT_MAX). 0 turns
	// a limit off.
	FailuresPerIP, TokenFailuresPerIP, PerClient int
	Clock                                        auth.Clock   // auth.SystemClock
	Logger                                       *slog.Logger // slog.Default()
}

// DefaultTokenTTL is the lifetime of an admin token: short, since the
// command line asks for a new one for every command.
const DefaultTokenTTL = 15 * time.Minute

// tokenPrefix starts every admin token.
const tokenPrefix = "lat1."

// callTimeout bounds one command, as on the control socket.
const callTimeout = 30 * time.Second

// API serves the admin routes.
type API struct {
	cfg    Config
	tokens *bearer.Tokens
}

// New returns the admin API.
func New(cfg Config) (*API, error) {
	if cfg.Handlers == nil || cfg.Registry == nil || cfg.TokenKey == nil {
		return nil, errors.New("adminapi: Handlers, Registry and TokenKey are required")
	}
	for _, rt := range Routes {
		if cfg.Handlers[rt.Command] == nil {
			return nil, fmt.Errorf("adminapi: route %s names the command %s, which has no handler", rt.Pattern, rt.Command)
		}
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Clock == nil {
		cfg.Clock = auth.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &API{cfg: cfg, tokens: &bearer.Tokens{Prefix: tokenPrefix, Purpose: "admin bearer token", Key: cfg.TokenKey, TTL: cfg.TokenTTL}}, nil
}

// Mount registers every route of the table on mux, behind its limits.
func (a *API) Mount(mux *http.ServeMux, limits Limiter) {
	for _, rt := range Routes {
		var h http.Handler = a.serve(rt, a.cfg.Handlers[rt.Command])
		if limits != nil {
			if rt.Limits.PerClient {
				h = limits.PerKey("admin_client", a.cfg.PerClient, a.clientOf, a.refuse, h)
			}
			if rt.Limits.FailuresPerIP {
				h = limits.FailuresPerIP("admin_ip", a.cfg.FailuresPerIP, a.refuse, h)
			}
		}
		mux.Handle(rt.Pattern, h)
	}
}

// serve runs one route: authorize, gather the arguments, run the command.
func (a *API) serve(rt Route, h admin.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, err := a.authorize(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		args, err := arguments(rt, r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		ctx, cancel := context.WithTimeout(admin.WithActor(r.Context(), "client:"+client), callTimeout)
		defer cancel()
		out, err := h(ctx, args)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, rt.status(), out)
	})
}

var errNoToken = auth.Errorf(auth.CodeUnauthorized, "The admin API needs an admin client's token: Authorization: Bearer <token from POST /oauth/token with grant_type=client_credentials>.")

// authorize returns the admin client whose live token r carries. Nothing
// else is looked at: a session cookie, a person's access token or a
// provider API token is no admin token.
func (a *API) authorize(r *http.Request) (string, error) {
	token := bearer.FromHeader(r.Header.Get("Authorization"))
	if token == "" {
		return "", errNoToken
	}
	subject, err := a.tokens.Check(r.Context(), token, a.cfg.Clock.Now())
	// "<client id> <secret tag>": the tag has no space, an id may.
	var id, tag string
	if i := strings.LastIndexByte(subject, ' '); i >= 0 {
		id, tag = subject[:i], subject[i+1:]
	}
	switch {
	case errors.Is(err, bearer.ErrKey):
		return "", auth.Unavailable("admin token key", err)
	case err != nil || tag == "" || tag != a.cfg.Registry.AdminSecretTag(id):
		return "", auth.Errorf(auth.CodeUnauthorized, "The token is not a live admin token (expired, of another kind, its client is no longer an admin client, or its secret has changed).")
	}
	return id, nil
}

// clientOf names the admin client of r's token for the per-client limit,
// or "" (the call is then refused, and no client is charged).
func (a *API) clientOf(r *http.Request) string {
	id, err := a.authorize(r)
	if err != nil {
		return ""
	}
	return id
}

func (a *API) refuse(w http.ResponseWriter, r *http.Request, err error) { a.fail(w, r, err) }

// fail answers in Latch's JSON error shape; a 401 says how to authenticate.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := auth.ErrorCode(err)
	switch {
	case code == auth.CodeUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="latch-admin"`)
	case web.Status(code) >= 500:
		a.cfg.Logger.ErrorContext(r.Context(), "adminapi: call failed", "route", r.Pattern, "err", err, "requestId", web.RequestID(r.Context()))
	}
	web.WriteError(w, r, err)
}

// arguments gathers a call's arguments: the path's wildcards, and with
// Body the fields of the JSON object in the body. A route without Body
// takes no body.
func arguments(rt Route, r *http.Request) (json.RawMessage, error) {
	args := map[string]json.RawMessage{}
	if rt.Body {
		fields, err := readObject(r)
		if err != nil {
			return nil, err
		}
		args = fields
	} else if r.ContentLength > 0 {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "%s takes no request body.", rt.Pattern)
	}
	values, err := rt.pathValues(r.URL.EscapedPath())
	if err != nil {
		return nil, err
	}
	for name, value := range values {
		if _, dup := args[name]; dup {
			return nil, auth.FieldError(name, "is given by the path, not the body")
		}
		v, _ := json.Marshal(value)
		args[name] = v
	}
	if len(args) == 0 {
		return nil, nil
	}
	return json.Marshal(args)
}

// readObject reads the body as one JSON object, refusing another content
// type (415), a body over web.MaxBodyBytes (413) and a key given twice.
func readObject(r *http.Request) (map[string]json.RawMessage, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, auth.Errorf(auth.CodeUnsupportedMedia, "Send the request body as JSON (Content-Type: application/json).")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, web.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, auth.Errorf(auth.CodePayloadTooLarge, "The request body is larger than %d KiB.", web.MaxBodyBytes>>10)
	}
	if err != nil {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "The request body could not be read.")
	}
	notObject := auth.Errorf(auth.CodeInvalidRequest, "The request body must be one JSON object.")
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, notObject
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notObject
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject
		}
		if _, dup := out[key]; dup {
			return nil, auth.FieldError(key, "appears more than once")
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil || dec.More() {
		return nil, notObject
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, notObject
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"Internal server error.","code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
