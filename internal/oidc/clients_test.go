package oidc

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestClientSecrets(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret-s3cret"), bcrypt.MinCost)
	for _, tc := range []struct {
		name   string
		c      Client
		secret string
		want   bool
	}{
		{"plain, right", Client{Secret: "s3cret-s3cret"}, "s3cret-s3cret", true},
		{"plain, wrong", Client{Secret: "s3cret-s3cret"}, "s3cret-s3creT", false},
		{"plain, empty", Client{Secret: "s3cret-s3cret"}, "", false},
		{"bcrypt, right", Client{Secret: string(hash)}, "s3cret-s3cret", true},
		{"bcrypt, wrong", Client{Secret: string(hash)}, "nope", false},
		{"bcrypt, the hash itself", Client{Secret: string(hash)}, string(hash), false},
		{"public never authenticates", Client{Public: true}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Authenticate(tc.secret); got != tc.want {
				t.Fatalf("Authenticate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRedirectURIs(t *testing.T) {
	c := Client{RedirectURIs: []string{"https://app.example.org/cb", "http://127.0.0.1/native", "http://[::1]/cb", "com.example.app:/oauth"}}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"https://app.example.org/cb", true},
		{"https://app.example.org/cb/", false},
		{"https://app.example.org/cb?x=1", false},
		{"https://app.example.org:444/cb", false},
		{"http://127.0.0.1:51234/native", true}, // RFC 8252 §7.3: any port
		{"http://127.0.0.1:51234/other", false},
		{"http://[::1]:8080/cb", true},
		{"http://localhost:8080/native", false},
		{"https://127.0.0.1:51234/native", false},
		{"com.example.app:/oauth", true},
		{"com.example.evil:/oauth", false},
		{"", false},
	} {
		if got := c.RedirectAllowed(tc.uri); got != tc.want {
			t.Errorf("RedirectAllowed(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
}

func TestParseClients(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"json as in API.md", `[{"id": "grafana", "secret": "x", "name": "Grafana", "redirectUris": ["https://grafana.example.com/login/generic_oauth"],
			"postLogoutRedirectUris": ["https://grafana.example.com/"], "public": false, "requirePkce": false, "consent": false,
			"allow": {"emails": [], "domains": [], "groups": []}, "passwordlessApi": false}]`, true},
		{"yaml", "- id: app\n  public: true\n  redirectUris: [\"com.example:/cb\"]\n", true},
		{"empty file", "", true},
		{"unknown field", `[{"id": "a", "secret": "x", "redirectUris": ["https://a/cb"], "scopes": []}]`, false},
		{"public with a secret", `[{"id": "a", "public": true, "secret": "x", "redirectUris": ["https://a/cb"]}]`, false},
		{"confidential without a secret", `[{"id": "a", "redirectUris": ["https://a/cb"]}]`, false},
		{"no redirect URI", `[{"id": "a", "secret": "x"}]`, false},
		{"fragment", `[{"id": "a", "secret": "x", "redirectUris": ["https://a/cb#x"]}]`, false},
		{"twice", `[{"id": "a", "secret": "x", "redirectUris": ["https://a/cb"]}, {"id": "a", "secret": "y", "redirectUris": ["https://a/cb"]}]`, false},
		{"admin", `[{"id": "ops", "secret": "x", "admin": true}]`, true},
		{"admin with redirect URIs", `[{"id": "ops", "secret": "x", "admin": true, "redirectUris": ["https://a/cb"]}]`, false},
		{"admin and public", `[{"id": "ops", "public": true, "admin": true}]`, false},
		{"admin and the passwordless API", `[{"id": "ops", "secret": "x", "admin": true, "passwordlessApi": true}]`, false},
		{"admin without a secret", `[{"id": "ops", "admin": true}]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseClients([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestAllow(t *testing.T) {
	a := Allow{Emails: []string{"Ada@Example.org"}, Domains: []string{"ops.example"}, Groups: []string{"admins"}}
	for _, tc := range []struct {
		email  string
		groups []string
		want   bool
	}{
		{"ada@example.org", nil, true},
		{"bob@ops.example", nil, true},
		{"bob@sub.ops.example", nil, false},
		{"eve@example.org", []string{"admins"}, true},
		{"eve@example.org", []string{"users"}, false},
	} {
		if got := a.Allows(tc.email, tc.groups); got != tc.want {
			t.Errorf("Allows(%s, %v) = %v", tc.email, tc.groups, got)
		}
	}
	if !(Allow{}).Allows("anyone@x", nil) {
		t.Error("an empty allow refused someone")
	}
}

// TestAdminClients: only an enabled client marked admin is one, and only
// its own secret authenticates it.
func TestAdminClients(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clients.json")
	os.WriteFile(path, []byte(`[{"id": "ops", "secret": "s3cret", "admin": true},
		{"id": "off", "secret": "s3cret", "admin": true, "disabled": true},
		{"id": "app", "secret": "s3cret", "redirectUris": ["https://a/cb"]},
		{"id": "api", "secret": "s3cret", "passwordlessApi": true}]`), 0o600)
	r, err := NewRegistry(path)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"ops": true, "off": false, "app": false, "api": false, "nobody": false} {
		if r.KnowsAdmin(id) != want || r.AuthenticateAdmin(id, "s3cret") != want {
			t.Errorf("%s: KnowsAdmin %v, AuthenticateAdmin %v; want %v", id, r.KnowsAdmin(id), r.AuthenticateAdmin(id, "s3cret"), want)
		}
	}
	if r.AuthenticateAdmin("ops", "wrong") || r.AuthenticateAdmin("ops", "") {
		t.Error("a wrong or empty secret authenticated the admin client")
	}
	if r.KnowsAPI("ops") {
		t.Error("an admin client is a passwordless API client too")
	}
}
