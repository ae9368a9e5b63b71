package scalekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/bearer"
	"github.com/latch-auth/latch/internal/i18n"
	pb "github.com/latch-auth/latch/internal/scalekit/gen/passwordlesspb"
	"github.com/latch-auth/latch/internal/scalekit/gen/passwordlesspb/passwordlesspbconnect"
)

// Engine is what the provider API needs from the passwordless engine;
// *auth.Service implements it. Errors are *auth.Error values.
type Engine interface {
	Send(ctx context.Context, req auth.SendRequest) (*auth.Sent, error)
	Resend(ctx context.Context, id string, caller auth.Caller) (*auth.Sent, error)
	VerifyCode(ctx context.Context, id, code string, caller auth.Caller) (*auth.Login, error)
	VerifyLink(ctx context.Context, p auth.LinkProof) (*auth.Login, error)
}

// Limits of the provider API, as Scalekit documents them.
const (
	DefaultExpiry       = 300 * time.Second // expires_in when none is given
	MinExpiry           = 60 * time.Second
	MaxExpiry           = 3600 * time.Second
	MaxTemplateVars     = 30
	MinTemplateKeyLen   = 2
	MaxTemplateKeyLen   = 25
	MaxTemplateValueLen = 256
	// DefaultTokenLifetime is how long a bearer token from /oauth/token lives.
	DefaultTokenLifetime = time.Hour
	// maxBody caps REST, gRPC and token request bodies.
	maxBody = 16 << 10
	// maxLocaleLength caps locale, Latch's own field.
	maxLocaleLength = 100
)

// reservedVariables are template variable names the email itself fills.
var reservedVariables = []string{"otp", "expiry_time_relative", "link", "expire_time", "expiry_time"}

// ProviderConfig configures the provider API. Zero fields take the
// defaults beside them.
type ProviderConfig struct {
	// Clients are the API clients as "id:secret" pairs (API_CLIENTS).
	// At least one is required, here or in Registry.
	Clients []string
	// Registry, when set, holds more API clients (CLIENTS_FILE entries
	// with passwordlessApi: true), asked after Clients.
	Registry ClientRegistry
	// TokenEndpointElsewhere leaves POST /oauth/token out of Mount: the
	// OpenID provider serves it and hands client_credentials to
	// TokenHandler.
	TokenEndpointElsewhere bool
	// Secret is the server's key material (SESSION_SECRET); client-secret
	// hashes use a key derived from it. Required.
	Secret string
	// TokenKey returns the key that signs bearer tokens: a random key of
	// its own, kept sealed in the store (vault), so that a guessed
	// SESSION_SECRET forges no token. Required.
	TokenKey func(ctx context.Context) ([]byte, error)
	// Type is what the engine's emails carry (LINK_OTP); with a link,
	// send requires magiclink_auth_uri.
	Type auth.PasswordlessType
	// TokenLifetime is the lifetime of bearer tokens (1h).
	TokenLifetime time.Duration
	Clock         auth.Clock   // auth.SystemClock
	Logger        *slog.Logger // slog.Default()
}

// Provider serves Scalekit's passwordless API on top of the engine: the
// OAuth2 token endpoint, REST JSON, and gRPC/Connect (gRPC needs HTTP/2,
// which the server offers without TLS as h2c). It implements
// passwordlesspbconnect.PasswordlessServiceHandler. Every call needs a
// bearer token; a missing or bad one answers Unauthenticated (REST 401),
// which makes the official SDKs fetch a new token and retry.
type Provider struct {
	engine  Engine
	clients *clients
	tokens  *bearer.Tokens
	typ     auth.PasswordlessType
	clock   auth.Clock
	log     *slog.Logger
	// lang are the languages of the mails, for a send's locale.
	lang *i18n.Bundle
	// tokenElsewhere: Mount leaves /oauth/token to the OpenID provider.
	tokenElsewhere bool
}

// ClientRegistry is a second source of API clients (the client registry
// of CLIENTS_FILE); *oidc.Registry implements it.
type ClientRegistry interface {
	// AuthenticateAPI reports whether secret is the secret of API client id.
	AuthenticateAPI(id, secret string) bool
	// KnowsAPI reports whether id is an enabled API client.
	KnowsAPI(id string) bool
}

var _ passwordlesspbconnect.PasswordlessServiceHandler = (*Provider)(nil)

// NewProvider returns the provider API over engine.
func NewProvider(engine Engine, cfg ProviderConfig) (*Provider, error) {
	if engine == nil {
		return nil, errors.New("scalekit: provider needs an engine")
	}
	if cfg.Secret == "" {
		return nil, errors.New("scalekit: provider needs a secret")
	}
	if cfg.TokenKey == nil {
		return nil, errors.New("scalekit: provider needs a token key")
	}
	if len(cfg.Clients) == 0 && cfg.Registry == nil {
		return nil, errors.New("scalekit: provider needs at least one API client")
	}
	cl, err := parseClients(cfg.Clients, auth.DeriveKey(cfg.Secret, "latch provider client key v1"))
	if err != nil {
		return nil, fmt.Errorf("scalekit: %w", err)
	}
	cl.registry = cfg.Registry
	if cfg.Type == "" {
		cfg.Type = auth.TypeLinkOTP
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.Clock == nil {
		cfg.Clock = auth.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	lang, err := i18n.Load()
	if err != nil {
		return nil, fmt.Errorf("scalekit: %w", err)
	}
	return &Provider{
		engine:  engine,
		clients: cl,
		tokens:  newTokens(cfg.TokenKey, cfg.TokenLifetime),
		typ:     cfg.Type,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		lang:    lang,

		tokenElsewhere: cfg.TokenEndpointElsewhere,
	}, nil
}

// Mount registers the provider API's routes on mux, each behind its rate
// limits: the token endpoint, the REST operations and the gRPC/Connect
// service.
func (p *Provider) Mount(mux *http.ServeMux, limits Limits) {
	rest := func(h http.HandlerFunc) http.Handler { return limits.api(h, p.clientOf, refuseREST) }
	if !p.tokenElsewhere {
		mux.Handle("POST /oauth/token", p.TokenHandler(limits))
	}
	mux.Handle("POST /api/v1/passwordless/email/send", rest(p.handleSend))
	mux.Handle("POST /api/v1/passwordless/email/resend", rest(p.handleResend))
	mux.Handle("POST /api/v1/passwordless/email/verify", rest(p.handleVerify))
	path, h := passwordlesspbconnect.NewPasswordlessServiceHandler(p,
		connect.WithInterceptors(connect.UnaryInterceptorFunc(p.requireToken)),
		connect.WithReadMaxBytes(maxBody),
		connect.WithRecover(p.recovered),
	)
	mux.Handle(path, limits.api(h, p.clientOf, refuseRPC))
}

// TokenHandler is the client-credentials grant of /oauth/token behind its
// rate limits, for the OpenID provider to hand grant_type=client_credentials to.
func (p *Provider) TokenHandler(limits Limits) http.Handler {
	return limits.token(http.HandlerFunc(p.handleToken), refuseToken)
}

// requireToken refuses RPCs without a live bearer token.
func (p *Provider) requireToken(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := p.authorize(ctx, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// authorize checks the Authorization header of a provider call and
// returns ctx carrying the client it names.
func (p *Provider) authorize(ctx context.Context, h http.Header) (context.Context, *connect.Error) {
	id, err := p.bearerClient(ctx, h)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, clientKey{}, id), nil
}

// bearerClient returns the API client whose live bearer token h carries.
func (p *Provider) bearerClient(ctx context.Context, h http.Header) (string, *connect.Error) {
	raw := h.Get("Authorization")
	scheme, token, _ := strings.Cut(raw, " ")
	token = strings.TrimSpace(token)
	if raw == "" || token == "" || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated(msgTokenEmpty)
	}
	id, err := p.tokens.Check(ctx, token, p.clock.Now())
	if errors.Is(err, bearer.ErrKey) {
		p.log.ErrorContext(ctx, "scalekit: token key unavailable", "err", err)
		return "", providerError(connect.CodeUnavailable, "UNAVAILABLE", msgUnavailable)
	}
	if err != nil || !p.clients.known(id) {
		// A token of a client no longer configured is refused too.
		return "", unauthenticated(msgTokenInvalid)
	}
	return id, nil
}

type clientKey struct{}

// callerOf is the engine's caller for a provider call: the client the
// bearer token names. Its challenges are its own.
func callerOf(ctx context.Context) auth.Caller {
	id, _ := ctx.Value(clientKey{}).(string)
	return auth.Caller{Requester: "client:" + id, ClientID: id}
}

func (p *Provider) recovered(ctx context.Context, _ connect.Spec, _ http.Header, v any) error {
	p.log.ErrorContext(ctx, "scalekit: provider call panicked", "panic", fmt.Sprint(v))
	return providerError(connect.CodeInternal, "INTERNAL", msgInternal)
}

// SendPasswordlessEmail implements the gRPC/Connect method.
func (p *Provider) SendPasswordlessEmail(ctx context.Context, req *connect.Request[pb.SendPasswordlessRequest]) (*connect.Response[pb.SendPasswordlessResponse], error) {
	res, err := p.send(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// ResendPasswordlessEmail implements the gRPC/Connect method.
func (p *Provider) ResendPasswordlessEmail(ctx context.Context, req *connect.Request[pb.ResendPasswordlessRequest]) (*connect.Response[pb.SendPasswordlessResponse], error) {
	res, err := p.resend(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// VerifyPasswordlessEmail implements the gRPC/Connect method.
func (p *Provider) VerifyPasswordlessEmail(ctx context.Context, req *connect.Request[pb.VerifyPasswordLessRequest]) (*connect.Response[pb.VerifyPasswordLessResponse], error) {
	res, err := p.verify(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// send validates a send request as Scalekit does and hands it to the engine.
// It returns a nil *connect.Error on success (never a typed nil in an error).
func (p *Provider) send(ctx context.Context, m *pb.SendPasswordlessRequest) (*pb.SendPasswordlessResponse, *connect.Error) {
	if m.GetEmail() == "" {
		return nil, invalidArgument("email is required")
	}
	if len(m.GetEmail()) > auth.MaxEmailLength {
		return nil, invalidArgument(fmt.Sprintf("email must be at most %d characters", auth.MaxEmailLength))
	}
	tmpl, cerr := templateName(m.Template)
	if cerr != nil {
		return nil, cerr
	}
	linkURL := m.GetMagiclinkAuthUri()
	if p.typ.HasLink() {
		if linkURL == "" {
			return nil, invalidArgument(msgLinkURIRequired)
		}
		if cerr := checkLinkURI(linkURL); cerr != nil {
			return nil, cerr
		}
	} else {
		linkURL = ""
	}
	if len(m.GetState()) > auth.MaxStateLength {
		return nil, invalidArgument(fmt.Sprintf("state must be at most %d characters", auth.MaxStateLength))
	}
	expiry := DefaultExpiry
	if m.ExpiresIn != nil {
		expiry = time.Duration(m.GetExpiresIn()) * time.Second
		if expiry < MinExpiry || expiry > MaxExpiry {
			return nil, invalidArgument(fmt.Sprintf("expires_in must be between %d and %d seconds", int(MinExpiry.Seconds()), int(MaxExpiry.Seconds())))
		}
	}
	if cerr := checkTemplateVariables(m.GetTemplateVariables()); cerr != nil {
		return nil, cerr
	}
	locale := ""
	if m.Locale != nil {
		if len(m.GetLocale()) > maxLocaleLength || !i18n.WellFormed(m.GetLocale()) {
			return nil, invalidArgument("locale must be a BCP 47 language tag such as de or pt-BR")
		}
		if l, ok := p.lang.Match(m.GetLocale()); ok {
			locale = l.Tag()
		}
	}
	sent, err := p.engine.Send(ctx, auth.SendRequest{
		Locale:            locale,
		Email:             m.GetEmail(),
		State:             m.GetState(),
		Template:          tmpl,
		LinkURL:           linkURL,
		Expiry:            expiry,
		TemplateVariables: m.GetTemplateVariables(),
		Caller:            callerOf(ctx),
	})
	if err != nil {
		return nil, p.engineError(ctx, "send", err)
	}
	return sendResponse(sent), nil
}

func (p *Provider) resend(ctx context.Context, m *pb.ResendPasswordlessRequest) (*pb.SendPasswordlessResponse, *connect.Error) {
	id := m.GetAuthRequestId()
	if id == "" {
		return nil, invalidArgument(msgIDRequired)
	}
	if len(id) > auth.MaxChallengeIDLength {
		return nil, invalidArgument(fmt.Sprintf("auth_request_id must be at most %d characters", auth.MaxChallengeIDLength))
	}
	sent, err := p.engine.Resend(ctx, id, callerOf(ctx))
	if err != nil {
		return nil, p.engineError(ctx, "resend", err)
	}
	return sendResponse(sent), nil
}

func (p *Provider) verify(ctx context.Context, m *pb.VerifyPasswordLessRequest) (*pb.VerifyPasswordLessResponse, *connect.Error) {
	id := m.GetAuthRequestId()
	if len(id) > auth.MaxChallengeIDLength {
		return nil, invalidArgument(fmt.Sprintf("auth_request_id must be at most %d characters", auth.MaxChallengeIDLength))
	}
	var (
		login *auth.Login
		err   error
	)
	switch c := m.GetAuthCredential().(type) {
	case *pb.VerifyPasswordLessRequest_Code:
		switch {
		case c.Code == "":
			return nil, invalidArgument("code is required")
		case len(c.Code) > auth.MaxCodeLength:
			return nil, invalidArgument(fmt.Sprintf("code must be at most %d characters", auth.MaxCodeLength))
		case id == "":
			return nil, invalidArgument(msgIDRequired)
		}
		login, err = p.engine.VerifyCode(ctx, id, c.Code, callerOf(ctx))
	case *pb.VerifyPasswordLessRequest_LinkToken:
		switch {
		case c.LinkToken == "":
			return nil, invalidArgument("link_token is required")
		case len(c.LinkToken) > auth.MaxLinkTokenLength:
			return nil, invalidArgument(fmt.Sprintf("link_token must be at most %d characters", auth.MaxLinkTokenLength))
		}
		// The app's server relays the link: same-browser checks are the app's.
		login, err = p.engine.VerifyLink(ctx, auth.LinkProof{Token: c.LinkToken, ChallengeID: id, ServerSide: true, Caller: callerOf(ctx)})
	default:
		return nil, invalidArgument("code or link_token is required")
	}
	if err != nil {
		return nil, p.engineError(ctx, "verify", err)
	}
	res := &pb.VerifyPasswordLessResponse{
		Email:            login.User.Email,
		PasswordlessType: passwordlessType(login.Type),
	}
	if login.State != "" {
		res.State = &login.State
	}
	t := pb.TemplateType_SIGNIN
	if login.Template == auth.TemplateSignUp {
		t = pb.TemplateType_SIGNUP
	}
	res.Template = &t
	return res, nil
}

// engineError logs what needs a person's attention and translates err.
func (p *Provider) engineError(ctx context.Context, op string, err error) *connect.Error {
	ce := fromEngine(err)
	if c := ce.Code(); c == connect.CodeInternal || c == connect.CodeUnavailable {
		p.log.ErrorContext(ctx, "scalekit: provider call failed", "op", op, "err", err)
	}
	return ce
}

func sendResponse(sent *auth.Sent) *pb.SendPasswordlessResponse {
	return &pb.SendPasswordlessResponse{
		AuthRequestId:    sent.ChallengeID,
		ExpiresAt:        sent.ExpiresAt.Unix(),
		ExpiresIn:        uint32(sent.Expiry / time.Second),
		PasswordlessType: passwordlessType(sent.Type),
	}
}

func passwordlessType(t auth.PasswordlessType) pb.PasswordlessType {
	switch t {
	case auth.TypeOTP:
		return pb.PasswordlessType_OTP
	case auth.TypeLink:
		return pb.PasswordlessType_LINK
	case auth.TypeLinkOTP:
		return pb.PasswordlessType_LINK_OTP
	}
	return pb.PasswordlessType_PASSWORDLESS_TYPE_UNSPECIFIED
}

// templateName reads the optional template; unset and UNSPECIFIED mean SIGNIN.
func templateName(t *pb.TemplateType) (string, *connect.Error) {
	if t == nil {
		return string(auth.TemplateSignIn), nil
	}
	switch *t {
	case pb.TemplateType_UNSPECIFIED, pb.TemplateType_SIGNIN:
		return string(auth.TemplateSignIn), nil
	case pb.TemplateType_SIGNUP:
		return string(auth.TemplateSignUp), nil
	}
	return "", invalidArgument("template must be SIGNIN or SIGNUP")
}

// checkLinkURI wants an absolute http(s) URL without a fragment.
func checkLinkURI(raw string) *connect.Error {
	if len(raw) > auth.MaxLinkURLLength {
		return invalidArgument(fmt.Sprintf("magiclink_auth_uri must be at most %d characters", auth.MaxLinkURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
		return invalidArgument("magiclink_auth_uri must be an absolute http or https URL")
	}
	return nil
}

func checkTemplateVariables(vars map[string]string) *connect.Error {
	if len(vars) > MaxTemplateVars {
		return invalidArgument(fmt.Sprintf("template_variables must have at most %d pairs", MaxTemplateVars))
	}
	for k, v := range vars {
		n := utf8.RuneCountInString(k)
		switch {
		case n < MinTemplateKeyLen || n > MaxTemplateKeyLen:
			return invalidArgument(fmt.Sprintf("template_variables key %q must be %d to %d characters", k, MinTemplateKeyLen, MaxTemplateKeyLen))
		case isReserved(k):
			return invalidArgument(fmt.Sprintf("template_variables key %q is reserved", k))
		case utf8.RuneCountInString(v) > MaxTemplateValueLen:
			return invalidArgument(fmt.Sprintf("template_variables value of %q must be at most %d characters", k, MaxTemplateValueLen))
		}
	}
	return nil
}

func isReserved(key string) bool {
	for _, r := range reservedVariables {
		if strings.EqualFold(key, r) {
			return true
		}
	}
	return false
}
