package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/mail/smtpmail/smtptest"
)

// The hosts of the proxy tests, all served by one proxy on 127.0.0.1
// (the client dials the proxy whatever the name, as curl --resolve does).
// app lets example.com addresses in, ops only the ops group, and other
// has no rule.
const (
	latchHost = "latch.example.test"
	appHost   = "app.example.test"
	opsHost   = "ops.example.test"
	otherHost = "other.example.test"
)

const testRules = `[
  {"host": "app.example.test", "allow": {"domains": ["example.com"]}},
  {"host": "ops.example.test", "allow": {"groups": ["ops"]}}
]`

// proxied is Latch and an echoing app behind one real reverse proxy.
type proxied struct {
	t     *testing.T
	latch *latch
	port  int
	rules string // the access rules file
	// relay receives Latch's mail: with a BASE_URL others could reach,
	// there is no dev outbox.
	relay *smtptest.Server
}

var mailCode = regexp.MustCompile(`\b[0-9]{6}\b`)

// code waits for the newest sign-in mail to addr and returns its code.
func (p *proxied) code(addr string, seen int) string {
	p.t.Helper()
	var code string
	waitFor(p.t, "a sign-in mail to "+addr, 15*time.Second, func() bool {
		var to []*smtptest.Message
		for _, m := range p.relay.Messages() {
			if slices.Contains(m.To, addr) {
				to = append(to, m)
			}
		}
		if len(to) <= seen {
			return false
		}
		code = mailCode.FindString(to[len(to)-1].Text())
		return code != ""
	})
	return code
}

func (p *proxied) url(host, path string) string {
	return fmt.Sprintf("http://%s:%d%s", host, p.port, path)
}

// client is a browser-like client that dials the proxy for every host,
// keeps cookies and does not follow redirects.
func (p *proxied) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	addr := fmt.Sprintf("127.0.0.1:%d", p.port)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	p.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (p *proxied) get(c *http.Client, rawURL string, header ...string) answer {
	p.t.Helper()
	return p.send(c, http.MethodGet, rawURL, "", "", header...)
}

func (p *proxied) send(c *http.Client, method, rawURL, contentType, body string, header ...string) answer {
	p.t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// seen is what the echoing app received.
type seen struct {
	Host    string              `json:"host"`
	URI     string              `json:"uri"`
	Headers map[string][]string `json:"headers"`
}

func mustSeen(t *testing.T, a answer) seen {
	t.Helper()
	var s seen
	if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &s) != nil {
		t.Fatalf("want the app's echo, got %d %s", a.status, a.body)
	}
	return s
}

// header is one header as the app saw it ("" when absent or empty).
func (s seen) header(name string) string {
	return strings.Join(s.Headers[http.CanonicalHeaderKey(name)], ",")
}

// echoApp is the app behind the proxy: it answers with the headers it
// received, and completes a WebSocket-style upgrade, naming the
// Remote-Email it saw in the 101.
func echoApp(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprintf(buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSeen-Email: %s\r\n\r\n", r.Header.Get("Remote-Email"))
			buf.Flush()
			line, _ := buf.ReadString('\n')
			fmt.Fprint(conn, "echo "+line)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Host: r.Host, URI: r.RequestURI, Headers: r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startProxied starts Latch (through run()) behind a proxy that the
// start function launches on port, serving latchHost from Latch and the
// app hosts through forward-auth from the echoing app.
func startProxied(t *testing.T, start func(t *testing.T, dir string, port int, latchAddr, appAddr string)) *proxied {
	t.Helper()
	dir := t.TempDir()
	p := &proxied{t: t, port: freePort(t), rules: filepath.Join(dir, "rules.json")}
	if err := os.WriteFile(p.rules, []byte(testRules), 0o600); err != nil {
		t.Fatal(err)
	}
	app := echoApp(t)
	p.relay = smtptest.Start(t, smtptest.Options{})
	p.latch = startLatch(t, testEnv(filepath.Join(dir, "data"),
		"BASE_URL", p.url(latchHost, ""),
		"SMTP_URL", p.relay.URL(""),
		"COOKIE_DOMAIN", "example.test",
		"TRUSTED_PROXIES", "127.0.0.1/32",
		"ACCESS_RULES_FILE", p.rules))
	start(t, dir, p.port, strings.TrimPrefix(p.latch.base, "http://"), strings.TrimPrefix(app.URL, "http://"))
	return p
}

// mustRunProxy starts a proxy program and waits until port answers.
func mustRunProxy(t *testing.T, port int, logFile string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(logFile), "XDG_DATA_HOME="+filepath.Dir(logFile), "XDG_CONFIG_HOME="+filepath.Dir(logFile))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited before listening:\n%s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("%s did not listen on %d:\n%s", name, port, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startNginx(t *testing.T, dir string, port int, latchAddr, appAddr string) {
	conf := filepath.Join(dir, "nginx.conf")
	text := strings.NewReplacer("{dir}", dir, "{port}", fmt.Sprint(port), "{latch}", latchAddr, "{app}", appAddr).Replace(nginxConf)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRunProxy(t, port, filepath.Join(dir, "nginx.log"), "nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
}

// nginxConf is docs/forward-auth.md's nginx recipe on loopback ports.
const nginxConf = `daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }

  server {
    listen 127.0.0.1:{port};
    server_name latch.example.test;
    location / {
      proxy_pass http://{latch};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }

  server {
    listen 127.0.0.1:{port};
    server_name app.example.test ops.example.test other.example.test;

    location = /latch-authz {
      internal;
      proxy_pass http://{latch}/api/authz/auth-request;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $remote_addr;
    }

    location / {
      auth_request /latch-authz;
      auth_request_set $latch_user $upstream_http_remote_user;
      auth_request_set $latch_email $upstream_http_remote_email;
      auth_request_set $latch_groups $upstream_http_remote_groups;
      auth_request_set $latch_login $upstream_http_location;
      error_page 401 = @latch_login;

      proxy_set_header Remote-User $latch_user;
      proxy_set_header Remote-Email $latch_email;
      proxy_set_header Remote-Groups $latch_groups;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_pass http://{app};
    }

    location @latch_login {
      if ($http_accept ~* "text/html") {
        return 302 $latch_login;
      }
      return 401;
    }
  }
}
`

func startCaddy(t *testing.T, dir string, port int, latchAddr, appAddr string) {
	conf := filepath.Join(dir, "Caddyfile")
	text := strings.NewReplacer("{dir}", dir, "{port}", fmt.Sprint(port), "{latch}", latchAddr, "{app}", appAddr).Replace(caddyConf)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRunProxy(t, port, filepath.Join(dir, "caddy.log"), "caddy", "run", "--config", conf, "--adapter", "caddyfile")
}

// caddyConf is docs/forward-auth.md's Caddy recipe on loopback ports.
const caddyConf = `{
	admin off
	auto_https off
	storage file_system {dir}/caddy
}

http://latch.example.test:{port} {
	bind 127.0.0.1
	reverse_proxy {latch}
}

http://app.example.test:{port}, http://ops.example.test:{port}, http://other.example.test:{port} {
	bind 127.0.0.1
	forward_auth {latch} {
		uri /api/authz/forward-auth
		copy_headers Remote-User Remote-Email Remote-Groups
	}
	reverse_proxy {app}
}
`

func TestForwardAuthNginx(t *testing.T) {
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx is not on PATH (apt-get install nginx-light)")
	}
	testBehindProxy(t, startProxied(t, startNginx))
}

func TestForwardAuthCaddy(t *testing.T) {
	if _, err := exec.LookPath("caddy"); err != nil {
		t.Skip("caddy is not on PATH (apt-get install caddy)")
	}
	testBehindProxy(t, startProxied(t, startCaddy))
}

var hiddenField = regexp.MustCompile(`name="(redirect_to|auth_request_id)" value="([^"]*)"`)

// fields returns the hidden inputs of a login page.
func fields(body string) map[string]string {
	out := map[string]string{}
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		if out[m[1]] == "" { // the page's script templates come after, empty
			out[m[1]] = html.UnescapeString(m[2])
		}
	}
	return out
}

// testBehindProxy is the whole story of an app behind a proxy and Latch.
func testBehindProxy(t *testing.T, p *proxied) {
	browser := p.client()
	original := p.url(appHost, "/reports/q3?tab=costs&sort=desc")
	const htmlAccept = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"

	// An anonymous browser is sent to sign in, carrying the original URL.
	a := p.get(browser, original, "Accept", htmlAccept)
	if a.status != http.StatusFound {
		t.Fatalf("anonymous browser: %d %s, want 302 to the login page", a.status, a.body)
	}
	login, err := url.Parse(a.header.Get("Location"))
	if err != nil || login.Host != fmt.Sprintf("%s:%d", latchHost, p.port) || login.Path != "/login" || login.Query().Get("rd") != original {
		t.Fatalf("Location %q, want %s/login?rd=<the original URL>", a.header.Get("Location"), p.url(latchHost, ""))
	}

	// curl (no text/html in Accept) and a WebSocket upgrade get 401.
	if a := p.get(p.client(), original, "Accept", "*/*"); a.status != http.StatusUnauthorized {
		t.Fatalf("anonymous API client: %d, want 401", a.status)
	}
	if status, _ := wsUpgrade(t, p, appHost, ""); !strings.Contains(status, " 401 ") {
		t.Fatalf("anonymous upgrade: %q, want 401", status)
	}

	// The login page keeps rd; signing in by code lands on the original URL.
	page := p.get(browser, login.String(), "Accept", htmlAccept)
	if page.status != http.StatusOK || fields(page.body)["redirect_to"] != original {
		t.Fatalf("login page: %d, redirect_to %q, want %q", page.status, fields(page.body)["redirect_to"], original)
	}
	form := url.Values{"email": {"ada@example.com"}, "redirect_to": {original}}
	step := p.send(browser, http.MethodPost, p.url(latchHost, "/login"), "application/x-www-form-urlencoded", form.Encode())
	id := fields(step.body)["auth_request_id"]
	if step.status != http.StatusOK || id == "" {
		t.Fatalf("login form: %d %s", step.status, step.body)
	}
	code := p.code("ada@example.com", 0)
	form = url.Values{"code": {code}, "auth_request_id": {id}, "email": {"ada@example.com"}}
	done := p.send(browser, http.MethodPost, p.url(latchHost, "/login/code"), "application/x-www-form-urlencoded", form.Encode())
	if done.status != http.StatusSeeOther || done.header.Get("Location") != original {
		t.Fatalf("code: %d to %q, want 303 to %s", done.status, done.header.Get("Location"), original)
	}

	// Back at the original URL, the app sees who it is, query and all, and
	// identity headers the client forges never arrive.
	s := mustSeen(t, p.get(browser, original, "Accept", htmlAccept,
		"Remote-Email", "mallory@example.com", "Remote-User", "usr_mallory", "Remote-Groups", "ops"))
	if s.URI != "/reports/q3?tab=costs&sort=desc" {
		t.Errorf("app saw %q, want the original path and query", s.URI)
	}
	if s.header("Remote-Email") != "ada@example.com" || !strings.HasPrefix(s.header("Remote-User"), "usr_") {
		t.Errorf("app saw Remote-Email %q, Remote-User %q; want ada's", s.header("Remote-Email"), s.header("Remote-User"))
	}
	if g := s.header("Remote-Groups"); g != "" {
		t.Errorf("app saw Remote-Groups %q: a forged header passed (ada is in no group)", g)
	}

	// Other methods are asked about too (nginx's subrequest is a GET).
	post := p.send(browser, http.MethodPost, p.url(appHost, "/form?x=1"), "application/x-www-form-urlencoded", "a=b", "Accept", htmlAccept)
	if s := mustSeen(t, post); s.header("Remote-Email") != "ada@example.com" {
		t.Errorf("POST: app saw Remote-Email %q", s.header("Remote-Email"))
	}

	// A WebSocket upgrade of a signed-in browser passes, with the identity.
	if status, rest := wsUpgrade(t, p, appHost, cookieHeader(browser, original)); !strings.Contains(status, " 101 ") || !strings.Contains(rest, "Seen-Email: ada@example.com") {
		t.Errorf("signed-in upgrade: %q %q, want 101 with ada's email at the app", status, rest)
	}

	// An access token of the same session passes in place of the cookie.
	tok := p.send(browser, http.MethodPost, p.url(latchHost, "/api/auth/token"), "application/json", "{}")
	var minted struct {
		AccessToken string `json:"accessToken"`
	}
	if tok.status != http.StatusOK || json.Unmarshal([]byte(tok.body), &minted) != nil || minted.AccessToken == "" {
		t.Fatalf("POST /api/auth/token: %d %s", tok.status, tok.body)
	}
	bearer := "Bearer " + minted.AccessToken
	if s := mustSeen(t, p.get(p.client(), original, "Accept", "*/*", "Authorization", bearer)); s.header("Remote-Email") != "ada@example.com" {
		t.Errorf("bearer: app saw Remote-Email %q", s.header("Remote-Email"))
	}

	// Signed in but not allowed: 403, never a redirect to sign in again.
	for _, host := range []string{opsHost, otherHost} {
		if a := p.get(browser, p.url(host, "/"), "Accept", htmlAccept); a.status != http.StatusForbidden {
			t.Errorf("%s: %d (Location %q), want 403", host, a.status, a.header.Get("Location"))
		}
	}

	// rd to a host without a rule, or to a foreign one, is refused.
	for _, rd := range []string{"https://evil.example.org/", p.url(otherHost, "/"), "//evil.example.org/"} {
		a := p.get(p.client(), p.url(latchHost, "/login?rd="+url.QueryEscape(rd)), "Accept", htmlAccept)
		if a.status != http.StatusBadRequest {
			t.Errorf("login?rd=%s: %d, want 400 invalid_redirect", rd, a.status)
		}
	}

	// Signing out everywhere ends it: the next request goes to sign in.
	out := p.send(browser, http.MethodPost, p.url(latchHost, "/api/auth/logout?scope=global"), "application/json", "{}")
	if out.status != http.StatusOK {
		t.Fatalf("logout: %d %s", out.status, out.body)
	}
	if a := p.get(browser, original, "Accept", htmlAccept); a.status != http.StatusFound {
		t.Fatalf("after signing out everywhere: %d, want 302 to the login page", a.status)
	}
	// The token outlives its session only on paper.
	if a := p.get(p.client(), original, "Accept", "*/*", "Authorization", bearer); a.status != http.StatusUnauthorized {
		t.Fatalf("bearer after signing out everywhere: %d, want 401", a.status)
	}
}

// cookieHeader is the Cookie header browser would send to rawURL.
func cookieHeader(c *http.Client, rawURL string) string {
	u, _ := url.Parse(rawURL)
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// wsUpgrade asks host, through the proxy, to switch to WebSocket and
// returns the status line and, after a 101, the headers and the app's
// echo of one line.
func wsUpgrade(t *testing.T, p *proxied, host, cookie string) (status, rest string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET /socket HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", host, p.port)
	if cookie != "" {
		req += "Cookie: " + cookie + "\r\n"
	}
	fmt.Fprint(conn, req+"\r\n")
	br := bufio.NewReader(conn)
	status, err = br.ReadString('\n')
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if !strings.Contains(status, " 101 ") {
		return status, ""
	}
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("upgrade headers: %v", err)
		}
		b.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	fmt.Fprint(conn, "hello\n")
	echo, _ := br.ReadString('\n')
	return status, b.String() + echo
}

// askForwardAuth asks Latch directly, as a proxy on loopback would, about
// a request to host.
func askForwardAuth(t *testing.T, c *client, host string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+"/api/authz/forward-auth", nil)
	req.Header.Set("X-Forwarded-Host", host)
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("X-Forwarded-Uri", "/")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAccessRulesReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("- host: app.example.test\n  allow: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := startLatch(t, testEnv(filepath.Join(dir, "data"), "TRUSTED_PROXIES", "127.0.0.1/32", "ACCESS_RULES_FILE", rules, "LOG_LEVEL", "info"))
	c := newBrowser(t, l.base)
	mustSignIn(t, c, "ada@example.com")
	if got := askForwardAuth(t, c, opsHost); got != http.StatusForbidden {
		t.Fatalf("ops before the reload: %d, want 403", got)
	}
	reload := func(content, logged string) {
		t.Helper()
		if err := os.WriteFile(rules, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		before := strings.Count(l.log(), logged)
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		for deadline := time.Now().Add(10 * time.Second); strings.Count(l.log(), logged) == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", logged, l.log())
			}
		}
	}
	reload("- host: app.example.test\n  allow: {}\n- host: '*.example.test'\n  allow: {domains: [example.com]}\n", "access rules reloaded")
	if got := askForwardAuth(t, c, opsHost); got != http.StatusOK {
		t.Fatalf("ops after the reload: %d, want 200", got)
	}
	// A broken file keeps the rules in force.
	reload("- host: app.example.test\n  alow: {}\n", "access rules not reloaded")
	if got := askForwardAuth(t, c, opsHost); got != http.StatusOK {
		t.Fatalf("ops after a broken reload: %d, want 200 (the previous rules)", got)
	}
}

func TestAccessRulesCheckedAtStart(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"typo.json":    `[{"host": "app.example.com", "alow": {}}]`,
		"missing.yaml": "- host: app.example.com\n",
		"port.json":    `[{"host": "app.example.com:8443", "allow": {}}]`,
		"email.yaml":   "- host: '*.example.com'\n  allow: {emails: [not-an-address]}\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			os.WriteFile(path, []byte(content), 0o600)
			env := testEnv(dir, "ACCESS_RULES_FILE", path)
			err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard)
			var ex exitError
			if !errors.As(err, &ex) || ex.code != 2 || !strings.Contains(err.Error(), "ACCESS_RULES_FILE") {
				t.Fatalf("run: %v, want exit 2 naming ACCESS_RULES_FILE", err)
			}
		})
	}
	env := testEnv(dir, "ACCESS_RULES_FILE", filepath.Join(dir, "absent.json"))
	if err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard); err == nil || !strings.Contains(err.Error(), "ACCESS_RULES_FILE") {
		t.Fatalf("absent file: %v, want a configuration error", err)
	}
}
