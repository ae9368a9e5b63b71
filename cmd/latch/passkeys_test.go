package main

import (
	"strings"
	"testing"
)

// TestPasskeyRelyingPartyMustMatchBaseURL: start refuses a WEBAUTHN_RP_ID
// that browsers would refuse for BASE_URL, saying why; BASE_URL's host
// and a domain it ends in are fine; an IP address in BASE_URL turns
// passkeys off unless an RP ID is set (which is then refused).
func TestPasskeyRelyingPartyMustMatchBaseURL(t *testing.T) {
	base := map[string]string{"APP_ENV": "production", "SESSION_SECRET": strongSecret, "SMTP_URL": "smtps://smtp.example.com", "BASE_URL": "https://login.example.com"}
	for _, tc := range []struct {
		base, rpID string
		problem    string // in the error; "" for none
		rp         string // the RP ID in force
	}{
		{"https://login.example.com", "", "", "login.example.com"},
		{"https://login.example.com", "example.com", "", "example.com"},
		{"https://login.example.com", "other.example.com", "does not match BASE_URL's host login.example.com: browsers accept only the host itself or a domain it ends in", ""},
		{"https://login.example.com", "example.org", "every passkey ceremony would fail", ""},
		{"https://login.example.com", "com", "is a top-level domain: browsers refuse it", ""},
		{"http://127.0.0.1:3000", "", "", ""},
		{"http://127.0.0.1:3000", "localhost", "is an IP address, and browsers accept passkeys only for domain names", ""},
	} {
		env := map[string]string{"BASE_URL": tc.base, "WEBAUTHN_RP_ID": tc.rpID}
		for k, v := range base {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
		cfg, err := loadConfig(func(k string) string { return env[k] })
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("BASE_URL=%s WEBAUTHN_RP_ID=%s: %v", tc.base, tc.rpID, err)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), "WEBAUTHN_RP_ID: ") || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("BASE_URL=%s WEBAUTHN_RP_ID=%s: %v, want a refusal saying %q", tc.base, tc.rpID, err, tc.problem)
		case tc.problem == "" && cfg.rpID() != tc.rp:
			t.Errorf("BASE_URL=%s WEBAUTHN_RP_ID=%s: RP ID %q, want %q", tc.base, tc.rpID, cfg.rpID(), tc.rp)
		}
	}
}
