package auth

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Upstream judges codes and links at another provider (Scalekit, or another
// Latch) that owns the challenges. The engine still does everything else on
// the same path as for its own challenges: checking input, the per-address
// limits, the browser binding, creating users, audit events and metrics.
// Implementations return *Error values: the provider's verdicts as
// invalid_code, expired, rate_limited or too_many_attempts, and its
// failures as upstream_error.
type Upstream interface {
	Send(ctx context.Context, req UpstreamSend) (*UpstreamSent, error)
	Resend(ctx context.Context, id string) (*UpstreamSent, error)
	// Verify judges a code (with its id) or a link token (id optional).
	Verify(ctx context.Context, id, code, linkToken string) (*UpstreamVerdict, error)
	Ping(ctx context.Context) error
}

// UpstreamSend is a send as the provider receives it.
type UpstreamSend struct {
	Email             string
	State             string // carries the redirect target too (see packState)
	Template          Template
	LinkURL           string
	Expiry            time.Duration // 0: the provider's default
	TemplateVariables map[string]string
}

// UpstreamSent is the provider's answer to a send or resend.
type UpstreamSent struct {
	ChallengeID string
	Type        PasswordlessType
	ExpiresAt   time.Time
	Expiry      time.Duration
}

// UpstreamVerdict is a verified proof from the provider.
type UpstreamVerdict struct {
	Email    string
	State    string
	Template Template
	Type     PasswordlessType
}

func (s *Service) sendUpstream(ctx context.Context, req SendRequest, email string, tmpl Template, linkURL string, expiry time.Duration) (*Sent, error) {
	state, err := s.packState(req.State, req.RedirectTo)
	if err != nil {
		return nil, err
	}
	res, err := s.upstream.Send(ctx, UpstreamSend{Email: email, State: state, Template: tmpl, LinkURL: linkURL, Expiry: expiry, TemplateVariables: req.TemplateVariables})
	if err != nil {
		return nil, err
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginRequested, Email: email, ChallengeID: res.ChallengeID})
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventCodeSent, Email: email, ChallengeID: res.ChallengeID})
	return &Sent{ChallengeID: res.ChallengeID, Type: res.Type, ExpiresAt: res.ExpiresAt, Expiry: res.Expiry, Binding: s.upstreamBinding(res.ChallengeID), ResendAfter: s.resendAfter(req.Caller)}, nil
}

func (s *Service) resendUpstream(ctx context.Context, id string, caller Caller) (*Sent, error) {
	if err := RequireChallengeID(id); err != nil {
		return nil, err
	}
	res, err := s.upstream.Resend(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Sent{ChallengeID: res.ChallengeID, Type: res.Type, ExpiresAt: res.ExpiresAt, Expiry: res.Expiry, ResendAfter: s.resendAfter(caller)}, nil
}

func (s *Service) verifyUpstream(ctx context.Context, id, code, token string, caller Caller) (*Login, error) {
	method := "link"
	if token == "" {
		method = "code"
		if err := RequireChallengeID(id); err != nil {
			return nil, err
		}
		var err error
		if code, err = CleanCode(code); err != nil {
			return nil, err
		}
	}
	v, err := s.upstream.Verify(ctx, id, code, token)
	if err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(v.Email)
	if err != nil {
		return nil, &Error{Code: CodeUpstream, Message: "The sign-in provider gave an answer Latch could not use.", Err: fmt.Errorf("auth: upstream verify returned the address %q: %w", v.Email, err)}
	}
	state, redirect := s.unpackState(v.State)
	c := &Challenge{ID: id, Email: email, Type: v.Type, Template: v.Template, State: state, RedirectTo: redirect, ClientID: caller.ClientID}
	return s.login(ctx, c, method)
}

// inspectUpstream cannot ask the provider without using the link, so it
// reports every well-formed link as valid; the browser that asked is
// recognised by its binding when the link names its auth_request_id.
func (s *Service) inspectUpstream(p LinkProof) LinkStatus {
	if checkLinkProof(p) != nil {
		return LinkStatus{}
	}
	same := s.upstreamBindingMatches(p.ChallengeID, p.Binding)
	return LinkStatus{Valid: true, SameBrowser: same, Allowed: same || !s.cfg.SameBrowser}
}

// verifyLinkUpstream: with same-browser links on, a link must name its
// auth_request_id and be opened where it was asked for; dropping the id
// from the link does not get around the check.
func (s *Service) verifyLinkUpstream(ctx context.Context, p LinkProof) (*Login, error) {
	if err := checkLinkProof(p); err != nil {
		return nil, err
	}
	if s.cfg.SameBrowser && !p.ServerSide && !s.upstreamBindingMatches(p.ChallengeID, p.Binding) {
		return nil, differentBrowser()
	}
	return s.verifyUpstream(ctx, p.ChallengeID, "", p.Token, p.Caller)
}

// upstreamBinding is the secret the requesting browser keeps in its
// cookie: a MAC of the provider's auth request id, so it can be checked
// without storing anything.
func (s *Service) upstreamBinding(id string) string {
	return base64.RawURLEncoding.EncodeToString(MAC(s.keys.challenge[0], "upstream binding", id)[:24])
}

func (s *Service) upstreamBindingMatches(id, binding string) bool {
	if id == "" || binding == "" {
		return false
	}
	for _, key := range s.keys.challenge {
		want := base64.RawURLEncoding.EncodeToString(MAC(key, "upstream binding", id)[:24])
		if hmac.Equal([]byte(binding), []byte(want)) {
			return true
		}
	}
	return false
}

// The state envelope carries the redirect target through the provider,
// which echoes state on verify: "latch1.<base64url JSON>.<base64url MAC>".
// Without a redirect target the app's state goes up as it is.
const stateEnvelope = "latch1."

type stateFields struct {
	State    string `json:"s,omitempty"`
	Redirect string `json:"r"`
}

func (s *Service) packState(state, redirect string) (string, error) {
	if redirect == "" {
		return state, nil
	}
	b, err := json.Marshal(stateFields{State: state, Redirect: redirect})
	if err != nil {
		return "", fmt.Errorf("auth: pack state: %w", err)
	}
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString(b)
	packed := stateEnvelope + payload + "." + enc.EncodeToString(MAC(s.keys.challenge[0], "state", payload)[:16])
	if len(packed) > MaxStateLength {
		return "", FieldError("state", "is too long together with redirectTo")
	}
	return packed, nil
}

func (s *Service) unpackState(packed string) (state, redirect string) {
	rest, ok := strings.CutPrefix(packed, stateEnvelope)
	if !ok {
		return packed, ""
	}
	payload, sig, ok := strings.Cut(rest, ".")
	enc := base64.RawURLEncoding
	got, err := enc.DecodeString(sig)
	if !ok || err != nil {
		return packed, ""
	}
	valid := false
	for _, key := range s.keys.challenge {
		valid = valid || hmac.Equal(got, MAC(key, "state", payload)[:16])
	}
	b, err := enc.DecodeString(payload)
	var f stateFields
	if !valid || err != nil || json.Unmarshal(b, &f) != nil {
		return packed, ""
	}
	return f.State, f.Redirect
}
