package passkey

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latch-auth/latch/internal/kv"
)

// The package's record kinds and where they live in the kv.Store:
//
//	pk:<passkeyID>        a passkey                 passkeyCodec, forever
//	upk:<userID>          the user's passkey IDs    set, forever
//	pkc:<bindingHash>     a ceremony in progress    ceremonyCodec, CeremonyTTL
//
// passkeyID is the SHA-256 of the credential ID (which may be 1023 bytes,
// too long for a key) and bindingHash the SHA-256 of the secret in the
// browser's cookie, both base64url: the store never holds that secret.

func passkeyKey(id string) string    { return "pk:" + id }
func userSetKey(uid string) string   { return "upk:" + uid }
func ceremonyKey(hash string) string { return "pkc:" + hash }

// passkeyID names the passkey of a credential ID.
func passkeyID(credentialID []byte) string {
	sum := sha256.Sum256(credentialID)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// bindingHash is the key half of a ceremony's browser binding.
func bindingHash(binding string) string {
	sum := sha256.Sum256([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const passkeyV1 = 1

// encodePasskey writes what signing in needs of a credential, and what
// the account page shows. The attestation statement is not kept: Latch
// asks for none and judges no authenticator by it.
func encodePasskey(p *Passkey) []byte {
	c := &p.Credential
	transports := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		transports[i] = string(t)
	}
	return kv.NewWriter(passkeyV1).
		String(p.UserID).String(p.Name).Time(p.CreatedAt).Time(p.LastUsedAt).
		Blob(c.ID).Blob(c.PublicKey).String(c.AttestationType).String(c.AttestationFormat).
		Strings(transports).
		Bool(c.Flags.UserPresent).Bool(c.Flags.UserVerified).Bool(c.Flags.BackupEligible).Bool(c.Flags.BackupState).
		Blob(c.Authenticator.AAGUID).Int(int64(c.Authenticator.SignCount)).String(string(c.Authenticator.Attachment)).
		Bytes()
}

func decodePasskey(id string, rec []byte) (*Passkey, error) {
	r, v := kv.NewReader(rec)
	if v != passkeyV1 {
		return nil, unknownVersion("passkey", v)
	}
	p := &Passkey{ID: id}
	p.UserID, p.Name = r.String(), r.String()
	p.CreatedAt, p.LastUsedAt = r.Time(), r.Time()
	c := &p.Credential
	c.ID, c.PublicKey = r.Blob(), r.Blob()
	c.AttestationType, c.AttestationFormat = r.String(), r.String()
	for _, t := range r.Strings() {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	c.Flags.UserPresent, c.Flags.UserVerified, c.Flags.BackupEligible, c.Flags.BackupState = r.Bool(), r.Bool(), r.Bool(), r.Bool()
	c.Authenticator.AAGUID = r.Blob()
	c.Authenticator.SignCount = uint32(r.Int())
	c.Authenticator.Attachment = protocol.AuthenticatorAttachment(r.String())
	if err := r.Err("passkey"); err != nil {
		return nil, err
	}
	return p, nil
}

// The kinds of ceremony.
const (
	kindRegister = "register"
	kindLogin    = "login"
)

// ceremony is a started registration or sign-in: the part of go-webauthn's
// SessionData that Latch's ceremonies use, and where to land afterwards.
type ceremony struct {
	Kind             string
	UserID           string // registration: who adds the passkey
	Challenge        string // base64url, as SessionData holds it
	UserVerification protocol.UserVerificationRequirement
	CredParams       []protocol.CredentialParameter // registration
	RedirectTo       string                         // sign-in: checked where it was asked for
}

const ceremonyV1 = 1

func encodeCeremony(c *ceremony) []byte {
	w := kv.NewWriter(ceremonyV1).
		String(c.Kind).String(c.UserID).String(c.Challenge).String(string(c.UserVerification)).
		Int(int64(len(c.CredParams)))
	for _, p := range c.CredParams {
		w.String(string(p.Type)).Int(int64(p.Algorithm))
	}
	return w.String(c.RedirectTo).Bytes()
}

func decodeCeremony(rec []byte) (*ceremony, error) {
	r, v := kv.NewReader(rec)
	if v != ceremonyV1 {
		return nil, unknownVersion("ceremony", v)
	}
	c := &ceremony{Kind: r.String(), UserID: r.String(), Challenge: r.String()}
	c.UserVerification = protocol.UserVerificationRequirement(r.String())
	if n := r.Int(); n > 0 && n <= 32 {
		for range n {
			typ := protocol.CredentialType(r.String())
			c.CredParams = append(c.CredParams, protocol.CredentialParameter{Type: typ, Algorithm: webauthncose.COSEAlgorithmIdentifier(r.Int())})
		}
	}
	c.RedirectTo = r.String()
	if err := r.Err("ceremony"); err != nil {
		return nil, err
	}
	return c, nil
}

// session is the go-webauthn SessionData of a ceremony. Expiry is the
// store's (the record lives CeremonyTTL by Latch's clock), so it is left
// zero here.
func (c *ceremony) session(rpID string) webauthn.SessionData {
	sd := webauthn.SessionData{
		Challenge:        c.Challenge,
		RelyingPartyID:   rpID,
		UserVerification: c.UserVerification,
		CredParams:       c.CredParams,
	}
	if c.Kind == kindRegister {
		sd.UserID = []byte(c.UserID)
	}
	return sd
}

func unknownVersion(kind string, v byte) error {
	return fmt.Errorf("passkey: %s record has encoding version %d, which this release does not know (written by a newer one?): %w", kind, v, kv.ErrCorrupt)
}
