package oidc

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// Client is one registered relying party, as CLIENTS_FILE spells it.
type Client struct {
	ID                     string   `json:"id" yaml:"id"`
	Secret                 string   `json:"secret,omitempty" yaml:"secret,omitempty"`
	Name                   string   `json:"name,omitempty" yaml:"name,omitempty"`
	RedirectURIs           []string `json:"redirectUris" yaml:"redirectUris"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris,omitempty" yaml:"postLogoutRedirectUris,omitempty"`
	Public                 bool     `json:"public,omitempty" yaml:"public,omitempty"`
	RequirePKCE            bool     `json:"requirePkce,omitempty" yaml:"requirePkce,omitempty"`
	Consent                bool     `json:"consent,omitempty" yaml:"consent,omitempty"`
	Allow                  Allow    `json:"allow" yaml:"allow"`
	PasswordlessAPI        bool     `json:"passwordlessApi,omitempty" yaml:"passwordlessApi,omitempty"`
	Disabled               bool     `json:"disabled,omitempty" yaml:"disabled,omitempty"`
	// Admin marks a machine client of the admin API (/api/admin/): its
	// client-credentials tokens are admin tokens and nothing else. Such a
	// client has a secret and no other job (no redirect URIs, not the
	// passwordless API), so the credential that can manage every user is
	// never the one an app signs people in with.
	Admin bool `json:"admin,omitempty" yaml:"admin,omitempty"`
}

// Allow says who may sign in to a client; all empty lets every signed-in
// person in, else a person matching any one list is allowed.
type Allow struct {
	Emails  []string `json:"emails" yaml:"emails"`
	Domains []string `json:"domains" yaml:"domains"`
	Groups  []string `json:"groups" yaml:"groups"`
}

// Allows reports whether a person with email and groups may use the client.
func (a Allow) Allows(email string, groups []string) bool {
	if len(a.Emails) == 0 && len(a.Domains) == 0 && len(a.Groups) == 0 {
		return true
	}
	for _, e := range a.Emails {
		if strings.EqualFold(e, email) {
			return true
		}
	}
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		domain := email[at+1:]
		for _, d := range a.Domains {
			if strings.EqualFold(strings.TrimPrefix(d, "@"), domain) {
				return true
			}
		}
	}
	for _, g := range a.Groups {
		if slices.Contains(groups, g) {
			return true
		}
	}
	return false
}

// hashedSecret reports whether a stored secret is a bcrypt hash.
func hashedSecret(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// Authenticate reports whether secret is the client's. A bcrypt hash is
// checked by bcrypt; a plain secret is compared in constant time (of
// hashes, so its length is not told either).
func (c *Client) Authenticate(secret string) bool {
	if c.Public || c.Secret == "" || secret == "" {
		return false
	}
	if hashedSecret(c.Secret) {
		return bcrypt.CompareHashAndPassword([]byte(c.Secret), []byte(secret)) == nil
	}
	a, b := sha256.Sum256([]byte(c.Secret)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// RedirectAllowed reports whether uri is one of the client's redirect
// URIs: exactly, or for a loopback IP literal with any port (RFC 8252 §7.3).
func (c *Client) RedirectAllowed(uri string) bool { return matchURI(c.RedirectURIs, uri) }

// PostLogoutAllowed likewise for post-logout redirect URIs.
func (c *Client) PostLogoutAllowed(uri string) bool { return matchURI(c.PostLogoutRedirectURIs, uri) }

func matchURI(registered []string, uri string) bool {
	if uri == "" {
		return false
	}
	if slices.Contains(registered, uri) {
		return true
	}
	got, err := url.Parse(uri)
	if err != nil || got.Scheme != "http" || !loopback(got.Hostname()) {
		return false
	}
	for _, r := range registered {
		want, err := url.Parse(r)
		if err != nil || want.Scheme != "http" || !loopback(want.Hostname()) {
			continue
		}
		if want.Hostname() == got.Hostname() && want.Path == got.Path && want.RawQuery == got.RawQuery && got.Fragment == "" {
			return true
		}
	}
	return false
}

// loopback is an IP literal of the loopback interface; "localhost" is not
// (RFC 8252 §8.3: it may resolve elsewhere).
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Client) validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("a client has no id"))
	}
	if c.Public && c.Secret != "" {
		errs = append(errs, fmt.Errorf("client %q is public and has a secret", c.ID))
	}
	if !c.Public && c.Secret == "" {
		errs = append(errs, fmt.Errorf("client %q has no secret (set public: true for an app that cannot keep one)", c.ID))
	}
	if c.Admin && (c.Public || c.PasswordlessAPI || len(c.RedirectURIs) > 0 || len(c.PostLogoutRedirectURIs) > 0) {
		errs = append(errs, fmt.Errorf("client %q is an admin client: it may not also be public, use the passwordless API or have redirect URIs (give each job its own client)", c.ID))
	}
	if len(c.RedirectURIs) == 0 && !c.PasswordlessAPI && !c.Admin {
		errs = append(errs, fmt.Errorf("client %q has no redirectUris", c.ID))
	}
	for _, u := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
		p, err := url.Parse(u)
		if err != nil || p.Scheme == "" || p.Fragment != "" || ((p.Scheme == "http" || p.Scheme == "https") && p.Host == "") {
			errs = append(errs, fmt.Errorf("client %q: %q is not an absolute URI without a fragment", c.ID, u))
		}
	}
	return errors.Join(errs...)
}

// ParseClients reads a client list in JSON or YAML (JSON is YAML too, but
// JSON is tried first for its clearer errors).
func ParseClients(b []byte) ([]Client, error) {
	var list []Client
	trimmed := strings.TrimSpace(string(b))
	if strings.HasPrefix(trimmed, "[") {
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list); err != nil {
			return nil, fmt.Errorf("clients: %w", err)
		}
	} else if trimmed != "" {
		dec := yaml.NewDecoder(strings.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&list); err != nil {
			return nil, fmt.Errorf("clients: %w", err)
		}
	}
	var errs []error
	seen := map[string]bool{}
	for i := range list {
		if err := list[i].validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[list[i].ID] {
			errs = append(errs, fmt.Errorf("client %q is listed twice", list[i].ID))
		}
		seen[list[i].ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	return list, nil
}

// Registry holds the clients of CLIENTS_FILE; Reload swaps in a new list
// at once, so a request sees the old registry or the new one, never half.
type Registry struct {
	file string
	list atomic.Pointer[map[string]*Client]
}

// NewRegistry reads file (which may be "" for no clients).
func NewRegistry(file string) (*Registry, error) {
	r := &Registry{file: file}
	empty := map[string]*Client{}
	r.list.Store(&empty)
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the file again; on any error the old registry stays.
func (r *Registry) Reload() error {
	if r.file == "" {
		return nil
	}
	b, err := os.ReadFile(r.file)
	if err != nil {
		return fmt.Errorf("clients: %w", err)
	}
	list, err := ParseClients(b)
	if err != nil {
		return fmt.Errorf("%s: %w", r.file, err)
	}
	byID := make(map[string]*Client, len(list))
	for i := range list {
		byID[list[i].ID] = &list[i]
	}
	r.list.Store(&byID)
	return nil
}

// Client returns the enabled client id, or nil.
func (r *Registry) Client(id string) *Client {
	c := (*r.list.Load())[id]
	if c == nil || c.Disabled {
		return nil
	}
	return c
}

// Len is how many clients are registered.
func (r *Registry) Len() int { return len(*r.list.Load()) }

// AuthenticateAPI reports whether id and secret are those of an enabled
// client with passwordlessApi: true (the provider API's client check).
func (r *Registry) AuthenticateAPI(id, secret string) bool {
	c := r.Client(id)
	return c != nil && c.PasswordlessAPI && c.Authenticate(secret)
}

// KnowsAPI reports whether id is an enabled client with passwordlessApi: true.
func (r *Registry) KnowsAPI(id string) bool {
	c := r.Client(id)
	return c != nil && c.PasswordlessAPI
}

// AnyAPI reports whether some enabled client may use the passwordless API.
func (r *Registry) AnyAPI() bool {
	for _, c := range *r.list.Load() {
		if c.PasswordlessAPI && !c.Disabled {
			return true
		}
	}
	return false
}

// AnyAdmin reports whether some enabled client is an admin client.
func (r *Registry) AnyAdmin() bool {
	for _, c := range *r.list.Load() {
		if c.Admin && !c.Disabled {
			return true
		}
	}
	return false
}

// AuthenticateAdmin reports whether id and secret are those of an
// enabled admin client.
func (r *Registry) AuthenticateAdmin(id, secret string) bool {
	c := r.Client(id)
	return c != nil && c.Admin && c.Authenticate(secret)
}

// Knows reports whether id is an enabled client of the registry.
func (r *Registry) Knows(id string) bool { return r.Client(id) != nil }

// KnowsAdmin reports whether id is an enabled admin client.
func (r *Registry) KnowsAdmin(id string) bool {
	c := r.Client(id)
	return c != nil && c.Admin
}

// AdminSecretTag names the secret an enabled admin client has now (a
// short hash of the stored secret or its hash, never the secret itself),
// or "" for no such client: an admin token carries the tag of the secret
// it was issued for, so that a changed secret ends the tokens of the old.
func (r *Registry) AdminSecretTag(id string) string {
	c := r.Client(id)
	if c == nil || !c.Admin || c.Secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("latch admin secret tag\x00" + c.Secret))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}
