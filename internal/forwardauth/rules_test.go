package forwardauth_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/forwardauth"
)

func TestParseRules(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		wantErr   string // "" = valid
		hosts     []string
	}{
		{name: "json", doc: `[{"host": "Grafana.Example.com", "allow": {"emails": [], "domains": ["example.com"], "groups": ["ops"]}}]`, hosts: []string{"grafana.example.com"}},
		{name: "json with tabs", doc: "[\n\t{\"host\": \"a.example.com\",\n\t\"allow\": {}}\n]", hosts: []string{"a.example.com"}},
		{name: "yaml", doc: "- host: '*.example.com'\n  allow:\n    groups: [ops]\n- host: example.com\n  allow: {}\n", hosts: []string{"*.example.com", "example.com"}},
		{name: "empty file", doc: "", hosts: []string{}},
		{name: "unknown key (json)", doc: `[{"host": "a.example.com", "alow": {}}]`, wantErr: `unknown field "alow"`},
		{name: "unknown key (yaml)", doc: "- host: a.example.com\n  allow: {group: [ops]}\n", wantErr: "field group not found"},
		{name: "allow missing", doc: `[{"host": "a.example.com"}]`, wantErr: "allow is missing"},
		{name: "port", doc: `[{"host": "a.example.com:443", "allow": {}}]`, wantErr: "not a host name"},
		{name: "scheme", doc: `[{"host": "https://a.example.com", "allow": {}}]`, wantErr: "not a host name"},
		{name: "inner star", doc: `[{"host": "a.*.example.com", "allow": {}}]`, wantErr: "only one leading"},
		{name: "two stars", doc: `[{"host": "*.*.example.com", "allow": {}}]`, wantErr: "only one leading"},
		{name: "empty host", doc: `[{"host": "", "allow": {}}]`, wantErr: "is empty"},
		{name: "duplicate", doc: `[{"host": "a.example.com", "allow": {}}, {"host": "A.example.com", "allow": {"groups": ["x"]}}]`, wantErr: "has a rule above"},
		{name: "bad email", doc: `[{"host": "a.example.com", "allow": {"emails": ["ada"]}}]`, wantErr: "not an email address"},
		{name: "bad domain", doc: `[{"host": "a.example.com", "allow": {"domains": ["exa mple.com"]}}]`, wantErr: "not a domain"},
		{name: "comma in group", doc: `[{"host": "a.example.com", "allow": {"groups": ["a,b"]}}]`, wantErr: "not a group name"},
		{name: "text after the list", doc: `[] []`, wantErr: "text after the list"},
		{name: "not a list", doc: `{"host": "a.example.com"}`, wantErr: "not a JSON list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := forwardauth.ParseRules([]byte(tc.doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rules.Hosts(), " "); got != strings.Join(tc.hosts, " ") {
				t.Fatalf("hosts %q, want %q", got, tc.hosts)
			}
		})
	}
}

func TestRulesMatchFirst(t *testing.T) {
	rules, err := forwardauth.ParseRules([]byte(`[
		{"host": "admin.example.com", "allow": {"groups": ["admins"]}},
		{"host": "*.example.com", "allow": {"domains": ["example.com"]}},
		{"host": "example.org", "allow": {}}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, want string }{
		{"admin.example.com", "admin.example.com"},
		{"grafana.example.com", "*.example.com"},
		{"a.b.example.com", "*.example.com"},
		{"example.com", ""}, // *. needs a name below it
		{"badexample.com", ""},
		{"example.org", "example.org"},
		{"www.example.org", ""},
	} {
		got := ""
		if r := rules.Match(tc.host); r != nil {
			got = r.Host
		}
		if got != tc.want {
			t.Errorf("Match(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestAllowPermits(t *testing.T) {
	allow := forwardauth.Allow{Emails: []string{"ada@example.org"}, Domains: []string{"example.com"}, Groups: []string{"ops"}}
	for _, tc := range []struct {
		email  string
		groups []string
		want   bool
	}{
		{"ada@example.org", nil, true},
		{"bob@example.org", nil, false},
		{"bob@example.com", nil, true},
		{"bob@sub.example.com", nil, false},
		{"bob@evil.example", []string{"dev", "ops"}, true},
		{"bob@evil.example", []string{"dev"}, false},
		{"", nil, false},
	} {
		if got := allow.Permits(tc.email, tc.groups); got != tc.want {
			t.Errorf("Permits(%q, %v) = %v, want %v", tc.email, tc.groups, got, tc.want)
		}
	}
	if !(&forwardauth.Allow{}).Permits("anyone@anywhere.example", nil) {
		t.Error("an empty allow refuses a signed-in person; it should let anyone in")
	}
}

func TestRuleFileReloadKeepsRulesOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	mustWrite(t, path, "- host: a.example.com\n  allow: {}\n")
	f, err := forwardauth.OpenRules(path)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, path, "- host: b.example.com\n  allow: {}\n")
	if err := f.Reload(); err != nil || f.Rules().Match("b.example.com") == nil {
		t.Fatalf("reload: %v; b.example.com matched: %v", err, f.Rules().Match("b.example.com") != nil)
	}
	mustWrite(t, path, "- host: c.example.com\n")
	if err := f.Reload(); err == nil {
		t.Fatal("a rule without allow was accepted")
	}
	if f.Rules().Match("b.example.com") == nil || f.Rules().Match("c.example.com") != nil {
		t.Fatal("a broken reload replaced the rules in force")
	}
	if _, err := forwardauth.OpenRules(filepath.Join(t.TempDir(), "absent.json")); err == nil {
		t.Fatal("an absent rules file was accepted")
	}
}

func mustWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
