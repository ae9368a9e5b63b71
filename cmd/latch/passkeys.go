package main

import (
	"log/slog"
	"net"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/passkey"
)

// rpID is the passkeys' relying party ID: WEBAUTHN_RP_ID, else BASE_URL's
// host. Empty means passkeys are off: BASE_URL names an IP address, which
// browsers never accept as a relying party, and no RP ID was set.
func (c *Config) rpID() string {
	if c.WebAuthnRPID != "" {
		return c.WebAuthnRPID
	}
	if host := c.baseURL.Hostname(); net.ParseIP(host) == nil {
		return host
	}
	return ""
}

// checkPasskeys refuses a relying party ID that browsers would refuse for
// BASE_URL (passkey.CheckRPID says why), so that a typo stops the start
// instead of failing every passkey ceremony in the browser.
func (c *Config) checkPasskeys() error {
	id := c.rpID()
	if id == "" {
		return nil
	}
	return passkey.CheckRPID(id, c.baseURL.Hostname())
}

// buildPasskeys makes the passkey service, or nil (and a log line) when
// passkeys are off.
func buildPasskeys(cfg *Config, store kv.Store, users passkey.Users, auditor auth.Auditor, log *slog.Logger) (*passkey.Service, error) {
	id := cfg.rpID()
	if id == "" {
		log.Info("latch: passkeys are off: BASE_URL's host is an IP address, which browsers do not accept for passkeys; use a domain name (localhost in development) or set WEBAUTHN_RP_ID")
		return nil, nil
	}
	name := cfg.WebAuthnRPName
	if name == "" {
		name = cfg.AppName
	}
	return passkey.New(passkey.Config{RPID: id, RPName: name, Origin: cfg.baseURL.String(), Auditor: auditor}, store, users)
}
