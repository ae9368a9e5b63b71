package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOAuth2ProxySignsInThroughLatch runs oauth2-proxy (the real binary,
// its generic OIDC provider, discovery and PKCE) in front of a tiny
// upstream and signs in through Latch's /login: the upstream sees the
// person's email.
func TestOAuth2ProxySignsInThroughLatch(t *testing.T) {
	exe, err := exec.LookPath("oauth2-proxy")
	if err != nil {
		t.Skip("oauth2-proxy not on PATH (.ci/run installs it: go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6)")
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Header.Get("X-Forwarded-Email"))
	}))
	defer upstream.Close()

	proxyPort := freePort(t)
	proxy := "http://127.0.0.1:" + strconv.Itoa(proxyPort)
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.json")
	os.WriteFile(file, []byte(`[{"id": "proxy", "secret": "`+rpSecret+`", "requirePkce": true, "redirectUris": ["`+proxy+`/oauth2/callback"]}]`), 0o600)
	l := startLatch(t, testEnv(dir, "CLIENTS_FILE", file))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, exe,
		"--provider=oidc", "--oidc-issuer-url="+l.base, "--client-id=proxy", "--client-secret="+rpSecret,
		"--code-challenge-method=S256", "--redirect-url="+proxy+"/oauth2/callback", "--upstream="+upstream.URL+"/",
		"--http-address=127.0.0.1:"+strconv.Itoa(proxyPort), "--cookie-secret=0123456789abcdef0123456789abcdef",
		"--cookie-secure=false", "--email-domain=*", "--skip-provider-button=true")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	b := newBrowser(t, l.base)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := b.http.Get(proxy + "/ping"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not start:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Follow redirects from the protected page to Latch's /login.
	follow := func(from string, stop func(*url.URL) bool) (*url.URL, string) {
		t.Helper()
		next := from
		for range 10 {
			resp, err := b.http.Get(next)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if loc == "" {
				return nil, string(body)
			}
			u, _ := resp.Request.URL.Parse(loc)
			if stop(u) {
				return u, ""
			}
			next = u.String()
		}
		t.Fatalf("too many redirects from %s\n%s", from, out.String())
		return nil, ""
	}
	login, _ := follow(proxy+"/", func(u *url.URL) bool { return u.Path == "/login" })
	back := b.signInAt(login, "ada@example.org")
	_, page := follow(l.base+back.String(), func(*url.URL) bool { return false })
	if !strings.Contains(page, "hello ada@example.org") {
		t.Fatalf("after signing in, the upstream answered %q\noauth2-proxy:\n%s", page, out.String())
	}
}
