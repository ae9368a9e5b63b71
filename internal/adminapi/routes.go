// Package adminapi is the admin HTTP API under /api/admin/: resource-style
// REST routes, each mapped onto the admin.Handler of the same command the
// control socket serves, so that every operation has one implementation
// and two transports. Calls carry the client-credentials token of a client
// marked admin in CLIENTS_FILE (never a person's session or access token).
// The package also holds the client that `latch … --url` uses: it reads
// the same route table to turn a command into a request.
package adminapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
)

// A Route maps one REST route onto one admin command. Its {wildcards}
// become the command's arguments of the same names; with Body, so do the
// fields of the JSON object in the request body.
type Route struct {
	// Pattern is a net/http pattern: "METHOD /api/admin/…".
	Pattern string
	// Command names the admin.Handler ("users.disable").
	Command string
	// Body: the request body is a JSON object of more arguments.
	Body bool
	// Status answers success (200 when 0).
	Status int
	// Limits guard the route (see guarded).
	Limits Limits
}

// Limits are a route's rate limits, per RATE_LIMIT_WINDOW.
type Limits struct {
	// FailuresPerIP counts failed calls per client IP (no or a bad
	// token, bad input) against RATE_LIMIT_MAX; a success gives its unit
	// back, so guessing tokens runs out while an operator's scripts don't.
	FailuresPerIP bool
	// PerClient caps the calls of one admin client (by its token) at
	// RATE_LIMIT_API_CLIENT_MAX.
	PerClient bool
}

// guarded is every admin route's limits. What a call costs beyond that
// is the engine's: an invitation spends the address's send limit and the
// admin's budget of mail to addresses that have not signed in yet.
var guarded = Limits{FailuresPerIP: true, PerClient: true}

// Routes is the admin API. Adding an operation is one row here (its
// handler registered under Command, its path in the OpenAPI document);
// the tests insist that every command has a row and every row a path.
var Routes = []Route{
	{Pattern: "GET /api/admin/users", Command: "users.list", Limits: guarded},
	{Pattern: "POST /api/admin/users", Command: "users.add", Body: true, Status: http.StatusCreated, Limits: guarded},
	{Pattern: "POST /api/admin/invitations", Command: "users.invite", Body: true, Status: http.StatusCreated, Limits: guarded},
	{Pattern: "GET /api/admin/users/{user}", Command: "users.show", Limits: guarded},
	{Pattern: "DELETE /api/admin/users/{user}", Command: "users.delete", Limits: guarded},
	{Pattern: "POST /api/admin/users/{user}/disable", Command: "users.disable", Limits: guarded},
	{Pattern: "POST /api/admin/users/{user}/enable", Command: "users.enable", Limits: guarded},
	{Pattern: "PUT /api/admin/users/{user}/groups", Command: "users.groups", Body: true, Limits: guarded},
	{Pattern: "PUT /api/admin/users/{user}/metadata", Command: "users.metadata", Body: true, Limits: guarded},
	{Pattern: "GET /api/admin/users/{user}/sessions", Command: "sessions.list", Limits: guarded},
	{Pattern: "DELETE /api/admin/users/{user}/sessions", Command: "sessions.revoke", Limits: guarded},
	{Pattern: "GET /api/admin/keys", Command: "keys.list", Limits: guarded},
	{Pattern: "POST /api/admin/keys/rotate", Command: "keys.rotate", Limits: guarded},
	{Pattern: "GET /api/admin/events/failed", Command: "events.failed", Limits: guarded},
	{Pattern: "POST /api/admin/events/failed/{id}/replay", Command: "events.replay", Limits: guarded},
}

// RouteOf returns the route of command.
func RouteOf(command string) (Route, bool) {
	for _, rt := range Routes {
		if rt.Command == command {
			return rt, true
		}
	}
	return Route{}, false
}

// Method is the route's HTTP method.
func (rt Route) Method() string { m, _, _ := strings.Cut(rt.Pattern, " "); return m }

// Path is the route's path, with its {wildcards}.
func (rt Route) Path() string { _, p, _ := strings.Cut(rt.Pattern, " "); return p }

// Wildcards are the names of the path's {wildcards}, in order.
func (rt Route) Wildcards() []string {
	var out []string
	for _, seg := range strings.Split(rt.Path(), "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			out = append(out, strings.TrimSuffix(name, "}"))
		}
	}
	return out
}

// pathValues reads the wildcards' values from an escaped request path
// that the route's pattern matched. (The web layer finds the handler with
// ServeMux.Handler, which leaves Request.PathValue empty.)
func (rt Route) pathValues(escaped string) (map[string]string, error) {
	pat, got := strings.Split(rt.Path(), "/"), strings.Split(escaped, "/")
	values := map[string]string{}
	if len(pat) != len(got) {
		return nil, auth.Errorf(auth.CodeNotFound, "There is nothing at %s.", escaped)
	}
	for i, seg := range pat {
		name, ok := strings.CutPrefix(seg, "{")
		if !ok {
			continue
		}
		v, err := url.PathUnescape(got[i])
		if err != nil || v == "" {
			return nil, auth.FieldError(strings.TrimSuffix(name, "}"), "is not a valid path segment")
		}
		values[strings.TrimSuffix(name, "}")] = v
	}
	return values, nil
}

func (rt Route) status() int {
	if rt.Status == 0 {
		return http.StatusOK
	}
	return rt.Status
}
