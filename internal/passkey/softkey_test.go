package passkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// softKey is a passkey authenticator in software, for the engine's tests
// of whole ceremonies: one P-256 credential, "none" attestation, user
// present and verified, and a sign count the test sets. The browser tests
// use Chromium's own virtual authenticator instead.
type softKey struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	id     []byte
	handle []byte // the user handle it was made for
	count  uint32
	rpID   string
	origin string
}

func newSoftKey(t *testing.T, rpID, origin string) *softKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{t: t, key: key, id: id, rpID: rpID, origin: origin}
}

var b64 = base64.RawURLEncoding

func (k *softKey) clientData(typ string, challenge protocol.URLEncodedBase64) []byte {
	b, _ := json.Marshal(map[string]string{"type": typ, "challenge": b64.EncodeToString(challenge), "origin": k.origin})
	return b
}

func (k *softKey) authData(flags byte, attested []byte) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, attested...)
}

// create answers navigator.credentials.create with the options o.
func (k *softKey) create(o *protocol.CredentialCreation) []byte {
	k.t.Helper()
	k.handle = []byte(o.Response.User.ID.(protocol.URLEncodedBase64))
	pub, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         int64(webauthncose.P256), XCoord: k.key.X.FillBytes(make([]byte, 32)), YCoord: k.key.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		k.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), pub...)
	att, err := webauthncbor.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{"none", map[string]any{}, k.authData(0x01|0x04|0x40, attested)})
	if err != nil {
		k.t.Fatal(err)
	}
	return k.answer(map[string]any{
		"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o.Response.Challenge)),
		"attestationObject": b64.EncodeToString(att),
		"transports":        []string{"internal"},
	})
}

// get answers navigator.credentials.get with the options o, counting
// one more signature first.
func (k *softKey) get(o *protocol.CredentialAssertion) []byte {
	k.t.Helper()
	if k.count != 0 {
		k.count++
	}
	data := k.authData(0x01|0x04, nil)
	cd := k.clientData("webauthn.get", o.Response.Challenge)
	sum := sha256.Sum256(append(append([]byte(nil), data...), sha256Sum(cd)...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, sum[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return k.answer(map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(data),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        b64.EncodeToString(k.handle),
	})
}

func (k *softKey) answer(response map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": response, "clientExtensionResults": map[string]any{}, "authenticatorAttachment": "platform",
	})
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
