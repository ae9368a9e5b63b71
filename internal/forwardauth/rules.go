package forwardauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/latch-auth/latch/internal/auth"
)

// Allow says who may use a host. A person is allowed when their address
// is listed, or its domain is, or they are in one of the groups; all
// three empty allows anyone who is signed in.
type Allow struct {
	Emails  []string `json:"emails" yaml:"emails"`
	Domains []string `json:"domains" yaml:"domains"`
	Groups  []string `json:"groups" yaml:"groups"`
}

// Rule is one entry of ACCESS_RULES_FILE. Host is a host name
// ("grafana.example.com") or one leading "*." and a domain
// ("*.example.com": every name below example.com, at any depth, but not
// example.com itself). Allow must be present, even when empty, so that a
// misspelt key never opens a host to everyone.
type Rule struct {
	Host  string `json:"host" yaml:"host"`
	Allow *Allow `json:"allow" yaml:"allow"`
}

// Rules is a checked list of access rules; the first whose host matches
// decides. The zero value has no rules and so denies every host.
type Rules struct {
	list []Rule
}

// ParseRules reads rules from JSON or YAML (a document that starts with
// '[' or '{' is read as JSON). Unknown keys are refused, and every
// problem is reported at once.
func ParseRules(data []byte) (*Rules, error) {
	var list []Rule
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
	case trimmed[0] == '[' || trimmed[0] == '{':
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list); err != nil {
			return nil, fmt.Errorf("not a JSON list of rules: %w", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, errors.New("not a JSON list of rules: text after the list")
		}
	default:
		dec := yaml.NewDecoder(bytes.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&list); err != nil {
			return nil, fmt.Errorf("not a YAML list of rules: %w", err)
		}
	}
	var errs []error
	seen := map[string]bool{}
	for i := range list {
		r := &list[i]
		r.Host = strings.ToLower(strings.TrimSpace(r.Host))
		where := fmt.Sprintf("rule %d (%s)", i+1, r.Host)
		if err := checkHostPattern(r.Host); err != nil {
			errs = append(errs, fmt.Errorf("rule %d: host: %w", i+1, err))
		} else if seen[r.Host] {
			errs = append(errs, fmt.Errorf("%s: the host has a rule above already (the first match wins, so this one would never apply)", where))
		}
		seen[r.Host] = true
		if r.Allow == nil {
			errs = append(errs, fmt.Errorf("%s: allow is missing (write allow: {} to let anyone who is signed in through)", where))
			continue
		}
		for j, e := range r.Allow.Emails {
			n, err := auth.NormalizeEmail(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: allow.emails: %q is not an email address", where, e))
			}
			r.Allow.Emails[j] = n
		}
		for j, d := range r.Allow.Domains {
			d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
			if checkHostName(d) != nil {
				errs = append(errs, fmt.Errorf("%s: allow.domains: %q is not a domain like example.com", where, d))
			}
			r.Allow.Domains[j] = d
		}
		for _, g := range r.Allow.Groups {
			if strings.TrimSpace(g) == "" || strings.ContainsAny(g, ",\r\n") {
				errs = append(errs, fmt.Errorf("%s: allow.groups: %q is not a group name (no commas or line breaks)", where, g))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Rules{list: list}, nil
}

// LoadRules reads and checks the rules file at path.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("forwardauth: read access rules: %w", err)
	}
	rules, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("forwardauth: access rules in %s: %w", filepath.Base(path), err)
	}
	return rules, nil
}

// Len is the number of rules.
func (rs *Rules) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.list)
}

// Match returns the first rule whose host matches host (a host name
// without port, lowercased), or nil.
func (rs *Rules) Match(host string) *Rule {
	if rs == nil {
		return nil
	}
	for i := range rs.list {
		if hostMatches(rs.list[i].Host, host) {
			return &rs.list[i]
		}
	}
	return nil
}

// Hosts returns the host patterns of the rules, in order.
func (rs *Rules) Hosts() []string {
	if rs == nil {
		return nil
	}
	out := make([]string, len(rs.list))
	for i, r := range rs.list {
		out[i] = r.Host
	}
	return out
}

// Permits reports whether a person with email and groups is allowed.
func (a *Allow) Permits(email string, groups []string) bool {
	if len(a.Emails) == 0 && len(a.Domains) == 0 && len(a.Groups) == 0 {
		return true
	}
	if email != "" && slices.Contains(a.Emails, email) {
		return true
	}
	if at := strings.LastIndexByte(email, '@'); at >= 0 && slices.Contains(a.Domains, strings.ToLower(email[at+1:])) {
		return true
	}
	for _, g := range groups {
		if slices.Contains(a.Groups, g) {
			return true
		}
	}
	return false
}

func hostMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// checkHostPattern accepts a host name, or "*." and a host name.
func checkHostPattern(p string) error {
	if p == "" {
		return errors.New("is empty")
	}
	name := strings.TrimPrefix(p, "*.")
	if strings.Contains(name, "*") {
		return fmt.Errorf("%q: only one leading *. is allowed", p)
	}
	return checkHostName(name)
}

// checkHostName accepts a DNS name of letters, digits, inner hyphens and
// dots (no port, scheme or path); one label ("localhost") is allowed.
func checkHostName(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is not a host name", h)
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%q is not a host name (no scheme, port or path)", h)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not a host name (no scheme, port or path)", h)
			}
		}
	}
	return nil
}

// RuleFile holds the rules of one file and reloads them on demand (on
// SIGHUP). A reload that fails keeps the rules in force.
type RuleFile struct {
	path string
	cur  atomic.Pointer[Rules]
}

// OpenRules loads the rules file at path; an empty path means no rules
// (every host denied).
func OpenRules(path string) (*RuleFile, error) {
	f := &RuleFile{path: path}
	f.cur.Store(&Rules{})
	if path == "" {
		return f, nil
	}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the file again. On error the rules in force stay.
func (f *RuleFile) Reload() error {
	if f.path == "" {
		return nil
	}
	rules, err := LoadRules(f.path)
	if err != nil {
		return err
	}
	f.cur.Store(rules)
	return nil
}

// Rules returns the rules in force.
func (f *RuleFile) Rules() *Rules { return f.cur.Load() }

// Path is the file the rules come from ("" when there is none).
func (f *RuleFile) Path() string { return f.path }
