// Package passkey signs people in with passkeys (WebAuthn Level 2, through
// go-webauthn): it runs the registration and sign-in ceremonies, keeps
// each person's passkeys, and hands a verified sign-in to the engine,
// which makes the same session an email sign-in makes. Ceremonies live in
// the kv store, keyed by the hash of a secret the browser keeps in a
// cookie, so they are single use, short-lived, bound to that browser and
// shared by every replica.
package passkey

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// Method is the sign-in method of a passkey session (auth.Session.Method),
// in audit events and in metrics.
const Method = "passkey"

// Defaults and limits.
const (
	// CeremonyTTL is how long the options of one ceremony stay usable:
	// the browser is told the same timeout.
	CeremonyTTL = 5 * time.Minute
	// MaxPasskeys is the most passkeys one person keeps.
	MaxPasskeys = 20
	// MaxNameLength caps a passkey's name, in characters.
	MaxNameLength = 64
	// MaxResponseBytes caps the browser's answer to a ceremony.
	MaxResponseBytes = 16 << 10
)

// Config is the relying party Latch is to browsers.
type Config struct {
	// RPID is the WebAuthn relying party ID: BASE_URL's host or a
	// registrable suffix of it (CheckRPID).
	RPID string
	// RPName is the name authenticators show beside the passkey.
	RPName string
	// Origin is BASE_URL's origin (scheme://host[:port]): the only page a
	// ceremony's answer may come from.
	Origin  string
	Clock   auth.Clock
	Auditor auth.Auditor
	Random  io.Reader // crypto/rand.Reader
}

// Users is what the package needs from the engine (*auth.Service).
type Users interface {
	// SignInUser records a verified sign-in of userID by method and
	// returns it, refusing users who are gone or disabled.
	SignInUser(ctx context.Context, userID, method string) (*auth.Login, error)
}

// Service runs the ceremonies and keeps the passkeys. It is safe for
// concurrent use; its state lives in the store.
type Service struct {
	cfg   Config
	rp    *webauthn.WebAuthn
	store kv.Store
	users Users
}

// New returns a Service keeping its records in store.
func New(cfg Config, store kv.Store, users Users) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = auth.SystemClock{}
	}
	if cfg.Auditor == nil {
		cfg.Auditor = nopAuditor{}
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	origin, err := url.Parse(cfg.Origin)
	if err != nil || origin.Host == "" {
		return nil, fmt.Errorf("passkey: origin %q is not a URL", cfg.Origin)
	}
	if err := CheckRPID(cfg.RPID, origin.Hostname()); err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	if cfg.RPName == "" {
		return nil, errors.New("passkey: the relying party needs a name")
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPName,
		RPOrigins:     []string{origin.Scheme + "://" + origin.Host},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
		// Latch asks for no extension; a password manager that answers one
		// anyway must not fail the ceremony.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{cfg: cfg, rp: rp, store: store, users: users}, nil
}

// CheckRPID reports whether rpID may be the relying party ID of a site
// served at host. Browsers accept only the host itself or a registrable
// suffix of it (login.example.com may use example.com, never
// other.example.com or com), and never an IP address; any other RP ID
// makes every passkey ceremony fail in the browser.
func CheckRPID(rpID, host string) error {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	id := strings.ToLower(rpID)
	switch {
	case id == "":
		return errors.New("the relying party ID is empty")
	case net.ParseIP(host) != nil:
		return fmt.Errorf("BASE_URL's host %s is an IP address, and browsers accept passkeys only for domain names: use a name (localhost in development)", host)
	case id != host && !strings.HasSuffix(host, "."+id):
		return fmt.Errorf("relying party ID %q does not match BASE_URL's host %s: browsers accept only the host itself or a domain it ends in (such as %s), so every passkey ceremony would fail", rpID, host, parentOf(host))
	case !strings.Contains(id, ".") && id != "localhost":
		return fmt.Errorf("relying party ID %q is a top-level domain: browsers refuse it; use %s", rpID, host)
	}
	return nil
}

// parentOf is host without its first label, for an example in a message.
func parentOf(host string) string {
	if _, rest, ok := strings.Cut(host, "."); ok && strings.Contains(rest, ".") {
		return rest
	}
	return host
}

// Passkey is one registered credential of a person.
type Passkey struct {
	// ID names the passkey on the account page and in audit events: the
	// SHA-256 of the credential ID, base64url.
	ID         string
	UserID     string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
	Credential webauthn.Credential
}

type nopAuditor struct{}

func (nopAuditor) Audit(context.Context, auth.Event) {}
