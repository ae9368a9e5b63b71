package passkey

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latch-auth/latch/internal/kv/kvtest"
)

var update = flag.Bool("update", false, "rewrite the golden record encodings in testdata/records")

// The record encodings are golden: what this release writes must be read
// by every later one (a passkey lives for years).
func TestRecordEncodingsAreStable(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	pk := &Passkey{
		ID: "pk_golden", UserID: "usr_golden", Name: "Chrome on Linux", CreatedAt: at, LastUsedAt: at.Add(time.Hour),
		Credential: webauthn.Credential{
			ID: bytes.Repeat([]byte{7}, 32), PublicKey: bytes.Repeat([]byte{8}, 77),
			AttestationType: "none", AttestationFormat: "none",
			Transport: []protocol.AuthenticatorTransport{protocol.Internal, protocol.Hybrid},
			Flags:     webauthn.CredentialFlags{UserPresent: true, UserVerified: true, BackupEligible: true, BackupState: false},
			Authenticator: webauthn.Authenticator{
				AAGUID: bytes.Repeat([]byte{9}, 16), SignCount: 41, Attachment: protocol.Platform,
			},
		},
	}
	cer := &ceremony{
		Kind: kindRegister, UserID: "usr_golden", Challenge: "Y2hhbGxlbmdlLWdvbGRlbi0zMi1ieXRlcy1sb25nIQ",
		UserVerification: protocol.VerificationPreferred,
		CredParams:       []protocol.CredentialParameter{{Type: protocol.PublicKeyCredentialType, Algorithm: -7}, {Type: protocol.PublicKeyCredentialType, Algorithm: -257}},
		RedirectTo:       "/oauth/authorize/resume?request=abc",
	}
	cases := []struct {
		file   string
		enc    []byte
		decode func([]byte) (any, error)
		want   any
	}{
		{"passkey.v1", encodePasskey(pk), func(b []byte) (any, error) { return decodePasskey("pk_golden", b) }, pk},
		{"ceremony.v1", encodeCeremony(cer), func(b []byte) (any, error) { return decodeCeremony(b) }, cer},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			kvtest.Golden(t, tc.file, tc.enc, *update, tc.decode, tc.want, normalise)
		})
	}
}

func normalise(v any) any {
	if p, ok := v.(*Passkey); ok {
		c := *p
		c.CreatedAt, c.LastUsedAt = c.CreatedAt.UTC(), c.LastUsedAt.UTC()
		// The flags' raw byte is go-webauthn's own cache of the four kept.
		c.Credential.Flags = webauthn.CredentialFlags{UserPresent: c.Credential.Flags.UserPresent, UserVerified: c.Credential.Flags.UserVerified,
			BackupEligible: c.Credential.Flags.BackupEligible, BackupState: c.Credential.Flags.BackupState}
		return &c
	}
	return v
}
