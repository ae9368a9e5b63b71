package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/latch-auth/latch/internal/adminapi"
	"github.com/latch-auth/latch/internal/auth"
)

// fetchOpenAPI gets /api/openapi.json from l and loads it as OpenAPI.
func fetchOpenAPI(t *testing.T, l *latch) *openapi3.T {
	t.Helper()
	res, err := http.Get(l.base + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("the document does not load as OpenAPI: %v", err)
	}
	return doc
}

// operations are a document's operations as "METHOD /path".
func operations(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// servedAPIRoutes are the /api route patterns registered in the code:
// every "METHOD /api/…" string in a non-test Go file (routes.go and the
// packages that mount their own routes, the admin route table included).
func servedAPIRoutes(t *testing.T) []string {
	t.Helper()
	pattern := regexp.MustCompile(`"((?:GET|POST|PUT|PATCH|DELETE) /api/[^"\s]*)"`)
	var out []string
	for _, dir := range []string{"../../internal", "."} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range pattern.FindAllSubmatch(b, -1) {
				out = append(out, string(m[1]))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestOpenAPIDocumentMatchesTheRoutes: /api/openapi.json is valid
// OpenAPI 3.1; every operation it documents is routed by the running
// server (the route pattern the server matched, as its metrics count
// them, is the documented one); every /api route in the code is
// documented; and what the routes answer validates against the
// document's schemas.
func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	// Every optional face mounted: the provider API (API_CLIENTS) and
	// passkeys (a BASE_URL with a host name, not an IP address).
	port := strconv.Itoa(freePort(t))
	env, secret := adminEnv(t, "API_CLIENTS", "app:0123456789abcdef0123", "RATE_LIMIT_AUTH_EMAIL_MAX", "10",
		"PORT", port, "BASE_URL", "http://localhost:"+port)
	l := startLatch(t, env)
	doc := fetchOpenAPI(t, l)
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	documented := operations(doc)

	// Documented → routed: call each, then read the route patterns the
	// server counted.
	c := newBrowser(t, l.base)
	wildcard := regexp.MustCompile(`\{[^}]+\}`)
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		c.do(method, wildcard.ReplaceAllString(path, "nobody@example.com"), "", "")
	}
	metrics := scrape(t, c)
	for _, op := range documented {
		if !strings.Contains(metrics, `route="`+op+`"`) {
			t.Errorf("documented but not routed: %s", op)
		}
	}

	// Routed → documented.
	served := servedAPIRoutes(t)
	if len(served) < 30 || !slices.Contains(served, "GET /api/me") || !slices.Contains(served, "DELETE /api/admin/users/{user}") {
		t.Fatalf("the scan of the code found too little (%d routes): %v", len(served), served)
	}
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("routed but not documented: %s", op)
		}
	}
	for _, rt := range adminapi.Routes {
		if !slices.Contains(documented, rt.Pattern) {
			t.Errorf("admin route %s (%s) is not documented", rt.Pattern, rt.Command)
		}
	}

	// What the routes answer is what the document says.
	doc.Servers = openapi3.Servers{{URL: l.base}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	a := mustAdmin(t, l.base, secret)
	validate := func(method, path, token, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, l.base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s: no route in the document: %v", method, path, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the request does not match the document: %v", method, path, err)
		}
		req, _ = http.NewRequest(method, l.base+path, strings.NewReader(body))
		req.Header = in.Request.Header
		res, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		check(t, route, in, res, raw)
	}
	validate("GET", "/api/health", "", "")
	validate("GET", "/api/me", "", "")
	validate("POST", "/api/auth/passkey/login/options", "", `{}`)
	validate("GET", "/api/auth/passkeys", "", "")
	validate("POST", "/api/auth/passwordless/email/send", "", `{"email":"ada@example.com"}`)
	validate("POST", "/api/admin/users", a.token, `{"email":"grace@example.com"}`)
	validate("GET", "/api/admin/users", a.token, "")
	validate("GET", "/api/admin/users/grace@example.com", a.token, "")
	validate("PUT", "/api/admin/users/grace@example.com/groups", a.token, `{"groups":["ops"]}`)
	validate("PUT", "/api/admin/users/grace@example.com/metadata", a.token, `{"metadata":{"plan":"pro"}}`)
	validate("GET", "/api/admin/users/grace@example.com/sessions", a.token, "")
	validate("POST", "/api/admin/users/grace@example.com/disable", a.token, "")
	validate("DELETE", "/api/admin/users/grace@example.com/sessions", a.token, "")
	validate("GET", "/api/admin/keys", a.token, "")
	validate("DELETE", "/api/admin/users/grace@example.com", a.token, "")
	validate("GET", "/api/admin/users/grace@example.com", a.token, "")
	validate("GET", "/api/admin/users", "", "")
}

func check(t *testing.T, route *routers.Route, in *openapi3filter.RequestValidationInput, res *http.Response, raw []byte) {
	t.Helper()
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(raw)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s answered %d %s, which the document does not describe: %v", in.Request.Method, route.Path, res.StatusCode, raw, err)
	}
}

// TestEveryAdminCommandHasARoute: the control socket and the admin API
// serve one map of commands; a command without a row in the route table
// would be reachable on the machine only.
func TestEveryAdminCommandHasARoute(t *testing.T) {
	for name := range adminCommands(nil, nil, auditFunc(func(context.Context, auth.Event) {}), eventCommands(nil)) {
		if _, ok := adminapi.RouteOf(name); !ok {
			t.Errorf("the admin command %s has no route in adminapi.Routes", name)
		}
	}
}

type auditFunc func(context.Context, auth.Event)

func (f auditFunc) Audit(ctx context.Context, e auth.Event) { f(ctx, e) }
