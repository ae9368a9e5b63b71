package passkey

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// bindingBytes is the size of the secret that binds a ceremony to a
// browser.
const bindingBytes = 32

// Started is a ceremony handed to the browser: Options go to
// navigator.credentials (create or get), Binding into the cookie that
// must come back with the answer.
type Started struct {
	Options any
	Binding string
}

// rpUser is a person as go-webauthn sees them. The user handle is the
// user ID: random, stable, and no address in it.
type rpUser struct {
	id, email string
	creds     []webauthn.Credential
}

func (u *rpUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *rpUser) WebAuthnName() string                       { return u.email }
func (u *rpUser) WebAuthnDisplayName() string                { return u.email }
func (u *rpUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// BeginRegistration starts adding a passkey for the signed-in person. The
// passkey is discoverable (so signing in needs no address), user
// verification is preferred, and the browser is hinted towards this
// device's own authenticator: someone with one device is not sent to a
// QR code, while a phone or security key stays available. Passkeys the
// person has are excluded, so one authenticator is not added twice.
func (s *Service) BeginRegistration(ctx context.Context, sess *auth.Session) (*Started, error) {
	have, err := s.List(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	if len(have) >= MaxPasskeys {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "You have %d passkeys, the most one account keeps. Remove one first.", MaxPasskeys)
	}
	exclude := make([]protocol.CredentialDescriptor, len(have))
	for i, p := range have {
		exclude[i] = p.Credential.Descriptor()
	}
	user := &rpUser{id: sess.UserID, email: sess.Email}
	creation, sd, err := s.rp.BeginRegistration(user,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithPublicKeyCredentialHints([]protocol.PublicKeyCredentialHints{protocol.PublicKeyCredentialHintClientDevice}),
	)
	if err != nil {
		return nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	// go-webauthn turns the hint into authenticatorAttachment "platform",
	// which would refuse a phone or a security key outright; the hint
	// alone only says what to offer first.
	creation.Response.AuthenticatorSelection.AuthenticatorAttachment = ""
	c := &ceremony{Kind: kindRegister, UserID: sess.UserID, Challenge: sd.Challenge, UserVerification: sd.UserVerification, CredParams: sd.CredParams}
	binding, err := s.startCeremony(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Started{Options: creation, Binding: binding}, nil
}

// FinishRegistration checks the browser's answer to the registration
// that binding started for sess, and keeps the new passkey under name.
func (s *Service) FinishRegistration(ctx context.Context, sess *auth.Session, binding string, response []byte, name string) (*Passkey, error) {
	c, err := s.takeCeremony(ctx, binding, kindRegister)
	if err != nil {
		return nil, err
	}
	if c.UserID != sess.UserID {
		return nil, expired()
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, malformed(err)
	}
	have, err := s.List(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	user := &rpUser{id: sess.UserID, email: sess.Email}
	for _, p := range have {
		user.creds = append(user.creds, p.Credential)
	}
	cred, err := s.rp.CreateCredential(user, c.session(s.cfg.RPID), parsed)
	if err != nil {
		return nil, withCause(auth.Errorf(auth.CodeInvalidRequest, "The passkey could not be added. Try again."), err)
	}
	if len(have) >= MaxPasskeys {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "You have %d passkeys, the most one account keeps. Remove one first.", MaxPasskeys)
	}
	now := s.cfg.Clock.Now()
	p := &Passkey{ID: passkeyID(cred.ID), UserID: sess.UserID, Name: cleanName(name), CreatedAt: now, Credential: *cred}
	if p.Name == "" {
		p.Name = "Passkey"
	}
	// The person's index first: a crash between the two writes then
	// leaves an entry that List drops (its record is missing), never a
	// passkey that signs in but is not listed and cannot be removed.
	if err := s.store.AddMember(ctx, userSetKey(p.UserID), p.ID, noExpiry, now); err != nil {
		return nil, storeError("index passkey", err)
	}
	mine := false
	err = s.store.Update(ctx, passkeyKey(p.ID), now, func(cur []byte) (kv.Change, error) {
		mine = false
		if cur != nil {
			if old, err := decodePasskey(p.ID, cur); err == nil && old.UserID == p.UserID {
				mine = true
			}
			return kv.Change{}, errTaken
		}
		return kv.Change{Op: kv.Write, Value: encodePasskey(p)}, nil
	})
	if err != nil && !mine {
		s.store.RemoveMember(context.WithoutCancel(ctx), userSetKey(p.UserID), p.ID)
	}
	if errors.Is(err, errTaken) {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "This passkey is already added.")
	}
	if err != nil {
		return nil, storeError("keep passkey", err)
	}
	s.cfg.Auditor.Audit(ctx, auth.Event{Kind: auth.EventPasskeyAdded, Email: sess.Email, UserID: sess.UserID, Passkey: p.ID})
	return p, nil
}

// BeginLogin starts a passkey sign-in in which the browser offers the
// person's passkeys itself (a discoverable credential: no address typed,
// allowCredentials empty). The same options serve a button and the
// email field's autofill (conditional mediation): mediation is the
// browser's business. redirectTo, already checked by the caller, is where
// the sign-in lands.
func (s *Service) BeginLogin(ctx context.Context, redirectTo string) (*Started, error) {
	assertion, sd, err := s.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("passkey: begin login: %w", err)
	}
	c := &ceremony{Kind: kindLogin, Challenge: sd.Challenge, UserVerification: sd.UserVerification, RedirectTo: redirectTo}
	binding, err := s.startCeremony(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Started{Options: assertion, Binding: binding}, nil
}

// FinishLogin checks the browser's answer to the sign-in that binding
// started: a passkey registered here, signed for this challenge and
// origin, by an authenticator whose sign count went up (a count that goes
// back means a cloned authenticator, and is refused). The engine then
// signs the person in as it does after an email.
//
// A passkey that is not registered here (any more) is refused with
// details.unknownCredential, so that the page can tell the browser to
// forget it (PublicKeyCredential.signalUnknownCredential).
func (s *Service) FinishLogin(ctx context.Context, binding string, response []byte) (_ *auth.Login, err error) {
	var userID string
	defer func() {
		if code := auth.ErrorCode(err); code == auth.CodeUnauthorized || code == auth.CodeExpired && userID == "" {
			s.cfg.Auditor.Audit(ctx, auth.Event{Kind: auth.EventLoginFailed, UserID: userID, Method: Method, Reason: code})
		}
	}()
	c, err := s.takeCeremony(ctx, binding, kindLogin)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, malformed(err)
	}
	now := s.cfg.Clock.Now()
	var found *Passkey
	var lookupErr error
	lookup := func(rawID, userHandle []byte) (webauthn.User, error) {
		p, err := s.get(ctx, passkeyID(rawID), now)
		lookupErr = err
		if err != nil {
			return nil, err
		}
		if p.UserID != string(userHandle) {
			return nil, errors.New("the user handle is not the passkey's")
		}
		found = p
		return &rpUser{id: p.UserID, creds: []webauthn.Credential{p.Credential}}, nil
	}
	_, cred, err := s.rp.ValidatePasskeyLogin(lookup, c.session(s.cfg.RPID), parsed)
	if err != nil {
		// Not attributed to the passkey's owner: anyone can name a
		// credential id and user handle in an answer whose signature is
		// wrong, and the failure would then be audited (and sent out as
		// a webhook) in that person's name.
		if errors.Is(lookupErr, kv.ErrUnavailable) {
			return nil, storeError("find passkey", lookupErr)
		}
		if errors.Is(lookupErr, kv.ErrNotFound) {
			// Removed (or never here): the page tells the browser, which
			// then stops offering it. Credential IDs are random, so this
			// says nothing about anyone.
			return nil, withCause(refused(), err).WithDetail("unknownCredential", true)
		}
		return nil, withCause(refused(), err)
	}
	userID = found.UserID // the signature is the passkey's
	if cred.Authenticator.CloneWarning {
		return nil, withCause(refused(), errCloned)
	}
	if err := s.used(ctx, found.ID, cred, now); err != nil {
		return nil, err
	}
	login, err := s.users.SignInUser(ctx, found.UserID, Method)
	if err != nil {
		return nil, err
	}
	login.RedirectTo = c.RedirectTo
	return login, nil
}

// used records a sign-in with passkey id: the new sign count (checked
// again against the stored one in the same atomic update, so that two
// replicas racing with copies of one authenticator cannot both pass),
// the flags and the time.
func (s *Service) used(ctx context.Context, id string, cred *webauthn.Credential, now time.Time) error {
	err := s.store.Update(ctx, passkeyKey(id), now, func(cur []byte) (kv.Change, error) {
		if cur == nil {
			return kv.Change{}, kv.ErrNotFound
		}
		p, err := decodePasskey(id, cur)
		if err != nil {
			return kv.Change{}, err
		}
		stored, got := p.Credential.Authenticator.SignCount, cred.Authenticator.SignCount
		if got <= stored && (got != 0 || stored != 0) {
			return kv.Change{}, errCloned
		}
		p.Credential.Authenticator.SignCount = got
		p.Credential.Flags = cred.Flags
		p.LastUsedAt = now
		return kv.Change{Op: kv.Write, Value: encodePasskey(p)}, nil
	})
	switch {
	case errors.Is(err, errCloned):
		return withCause(refused(), err)
	case errors.Is(err, kv.ErrNotFound):
		return refused() // removed meanwhile
	case err != nil:
		return storeError("record passkey use", err)
	}
	return nil
}

// startCeremony keeps c under the hash of a fresh binding secret, which
// it returns for the browser's cookie.
func (s *Service) startCeremony(ctx context.Context, c *ceremony) (string, error) {
	b := make([]byte, bindingBytes)
	if _, err := io.ReadFull(s.cfg.Random, b); err != nil {
		return "", fmt.Errorf("passkey: random: %w", err)
	}
	binding := base64.RawURLEncoding.EncodeToString(b)
	now := s.cfg.Clock.Now()
	if err := s.store.Put(ctx, ceremonyKey(bindingHash(binding)), encodeCeremony(c), now.Add(CeremonyTTL), now); err != nil {
		return "", storeError("start ceremony", err)
	}
	return binding, nil
}

// takeCeremony consumes the ceremony of binding: whatever the answer
// turns out to be, it cannot be used again. One of another kind, an
// expired or used one, or a binding this browser was never given are
// all expired.
func (s *Service) takeCeremony(ctx context.Context, binding, kind string) (*ceremony, error) {
	if len(binding) != base64.RawURLEncoding.EncodedLen(bindingBytes) {
		return nil, expired()
	}
	var c *ceremony
	err := s.store.Update(ctx, ceremonyKey(bindingHash(binding)), s.cfg.Clock.Now(), func(cur []byte) (kv.Change, error) {
		c = nil
		if cur == nil {
			return kv.Change{Op: kv.Keep}, nil
		}
		got, err := decodeCeremony(cur)
		if err != nil {
			return kv.Change{}, err
		}
		c = got
		return kv.Change{Op: kv.Remove}, nil
	})
	if err != nil {
		return nil, storeError("take ceremony", err)
	}
	if c == nil || c.Kind != kind {
		return nil, expired()
	}
	return c, nil
}

var (
	errTaken  = errors.New("passkey: credential already registered")
	errCloned = errors.New("passkey: the sign count did not go up: a cloned authenticator?")
)

func expired() *auth.Error {
	return auth.Errorf(auth.CodeExpired, "This passkey request has expired or was already used. Try again.")
}

func refused() *auth.Error {
	return auth.Errorf(auth.CodeUnauthorized, "That passkey did not sign you in. Try another one, or sign in by email.")
}

func malformed(err error) *auth.Error {
	return withCause(auth.Errorf(auth.CodeInvalidRequest, "The passkey's answer is malformed."), err)
}

// withCause keeps why e happened, for the log only.
func withCause(e *auth.Error, err error) *auth.Error {
	e.Err = err
	return e
}

func storeError(op string, err error) error {
	if errors.Is(err, kv.ErrUnavailable) {
		return auth.Unavailable("passkey: "+op, err)
	}
	return fmt.Errorf("passkey: %s: %w", op, err)
}
