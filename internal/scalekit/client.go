package scalekit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/scalekit/gen/errdetailspb"
	pb "github.com/latch-auth/latch/internal/scalekit/gen/passwordlesspb"
	"github.com/latch-auth/latch/internal/scalekit/gen/passwordlesspb/passwordlesspbconnect"
)

// The sentences a person sees when the upstream provider fails.
const (
	MsgUpstreamUnreachable = "The sign-in provider could not be reached."
	MsgUpstreamRefused     = "The sign-in provider refused Latch's credentials."
	MsgUpstreamFailed      = "The sign-in provider gave an answer Latch could not use."
)

// ClientConfig configures the upstream client. Zero fields take the
// defaults beside them.
type ClientConfig struct {
	// EnvironmentURL is the provider's base URL (SCALEKIT_ENVIRONMENT_URL):
	// https://…scalekit.com or another Latch, http:// included (gRPC then
	// runs over h2c).
	EnvironmentURL string
	ClientID       string
	ClientSecret   string
	// LinkURL is where magic links point: this server's
	// {BASE_URL}/api/auth/passwordless/verify, sent as magiclink_auth_uri.
	LinkURL string
	// Users maps verified addresses to local users, so user ids stay
	// stable and sessions stay local. Required.
	Users auth.UserStore
	// Secret is this server's key material (SESSION_SECRET); browser
	// bindings and the state envelope are keyed from it. Required.
	Secret string
	// Expiry is sent as expires_in (clamped to 60s–1h); 0 leaves it to
	// the provider (300s at Scalekit).
	Expiry time.Duration
	// ResendCooldown is what the login page is told to wait before a
	// resend (30s); the provider enforces its own.
	ResendCooldown time.Duration
	// SameBrowser refuses a magic link opened in another browser, when the
	// link names its auth_request_id (Latch's links do; Scalekit's carry
	// only link_token, and Scalekit's own setting covers those).
	SameBrowser bool
	// Timeout bounds each operation, token fetch included (10s).
	Timeout time.Duration
	Clock   auth.Clock   // auth.SystemClock
	Logger  *slog.Logger // slog.Default()
}

// Client is a web.Passwordless backed by an upstream Scalekit-compatible
// provider, spoken to over gRPC. It is lazy: nothing touches the network
// until the first call, so the server boots and serves health whatever
// the state of the provider. It caches its bearer token, renews it before
// it expires and once more when the provider answers Unauthenticated.
// Failures of the provider are *auth.Error values with code
// upstream_error (502); the provider's verdicts on codes and links keep
// their own codes (invalid_code, expired, rate_limited, …).
type Client struct {
	cfg       ClientConfig
	base      string
	key       []byte
	tokenHTTP *http.Client
	rpcHTTP   *http.Client

	// fetching admits one token fetch at a time; waiting for it respects
	// the caller's context, so a slow provider cannot stall a readiness probe.
	fetching chan struct{}

	mu        sync.Mutex
	rpc       passwordlesspbconnect.PasswordlessServiceClient // made on first use
	token     string
	refreshAt time.Time
	lastErr   error // of the last call or token fetch, for readiness
	lastErrAt time.Time
}

// NewClient checks cfg and returns a client; it does not contact the provider.
func NewClient(cfg ClientConfig) (*Client, error) {
	var errs []error
	u, err := url.Parse(cfg.EnvironmentURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("environment URL %q is not an http(s) URL", cfg.EnvironmentURL))
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		errs = append(errs, errors.New("client id and secret are required"))
	}
	if cfg.LinkURL == "" {
		errs = append(errs, errors.New("a link URL is required"))
	}
	if cfg.Users == nil {
		errs = append(errs, errors.New("a user store is required"))
	}
	if cfg.Secret == "" {
		errs = append(errs, errors.New("a secret is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("scalekit: upstream client: %w", err)
	}
	if cfg.ResendCooldown <= 0 {
		cfg.ResendCooldown = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = auth.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DialContext = dialer.DialContext
	base.ResponseHeaderTimeout = cfg.Timeout
	// gRPC needs HTTP/2: over TLS for https, h2c with prior knowledge for http.
	rpc := base.Clone()
	rpc.Protocols = new(http.Protocols)
	rpc.Protocols.SetHTTP2(true)
	rpc.Protocols.SetUnencryptedHTTP2(true)
	return &Client{
		cfg:       cfg,
		base:      strings.TrimRight(cfg.EnvironmentURL, "/"),
		key:       auth.DeriveKey(cfg.Secret, "latch upstream client key v1"),
		tokenHTTP: &http.Client{Transport: base, Timeout: cfg.Timeout},
		rpcHTTP:   &http.Client{Transport: rpc},
		fetching:  make(chan struct{}, 1),
	}, nil
}

// Close drops idle connections to the provider.
func (c *Client) Close() error {
	c.tokenHTTP.CloseIdleConnections()
	c.rpcHTTP.CloseIdleConnections()
	return nil
}

// Send asks the provider to email a code and link pointing back here.
func (c *Client) Send(ctx context.Context, req auth.SendRequest) (*auth.Sent, error) {
	email, err := auth.NormalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	tmpl, err := auth.ParseTemplate(req.Template)
	if err != nil {
		return nil, auth.FieldError("template", "must be SIGNIN or SIGNUP")
	}
	if len(req.State) > auth.MaxStateLength {
		return nil, auth.FieldError("state", fmt.Sprintf("must be at most %d characters", auth.MaxStateLength))
	}
	state, err := c.packState(req.State, req.RedirectTo)
	if err != nil {
		return nil, err
	}
	linkURL := c.cfg.LinkURL
	if req.LinkURL != "" {
		linkURL = req.LinkURL
	}
	t := pb.TemplateType_SIGNIN
	if tmpl == auth.TemplateSignUp {
		t = pb.TemplateType_SIGNUP
	}
	m := &pb.SendPasswordlessRequest{Email: email, Template: &t, MagiclinkAuthUri: &linkURL, TemplateVariables: req.TemplateVariables}
	if state != "" {
		m.State = &state
	}
	expiry := c.cfg.Expiry
	if req.Expiry > 0 {
		expiry = req.Expiry
	}
	if expiry > 0 {
		secs := uint32(min(max(expiry, MinExpiry), MaxExpiry) / time.Second)
		m.ExpiresIn = &secs
	}
	res, err := call(ctx, c, "send", func(ctx context.Context, rpc passwordlesspbconnect.PasswordlessServiceClient, r *connect.Request[pb.SendPasswordlessRequest]) (*connect.Response[pb.SendPasswordlessResponse], error) {
		return rpc.SendPasswordlessEmail(ctx, r)
	}, m)
	if err != nil {
		return nil, err
	}
	sent := c.sent(res)
	sent.Binding = c.binding(sent.ChallengeID)
	return sent, nil
}

// Resend asks the provider for a fresh code and link.
func (c *Client) Resend(ctx context.Context, id string) (*auth.Sent, error) {
	if err := auth.RequireChallengeID(id); err != nil {
		return nil, err
	}
	res, err := call(ctx, c, "resend", func(ctx context.Context, rpc passwordlesspbconnect.PasswordlessServiceClient, r *connect.Request[pb.ResendPasswordlessRequest]) (*connect.Response[pb.SendPasswordlessResponse], error) {
		return rpc.ResendPasswordlessEmail(ctx, r)
	}, &pb.ResendPasswordlessRequest{AuthRequestId: id})
	if err != nil {
		return nil, err
	}
	return c.sent(res), nil
}

// VerifyCode asks the provider to judge a code and maps the verified
// address to a local user.
func (c *Client) VerifyCode(ctx context.Context, id, code string) (*auth.Login, error) {
	if err := auth.RequireChallengeID(id); err != nil {
		return nil, err
	}
	code, err := auth.CleanCode(code)
	if err != nil {
		return nil, err
	}
	m := &pb.VerifyPasswordLessRequest{AuthCredential: &pb.VerifyPasswordLessRequest_Code{Code: code}, AuthRequestId: &id}
	return c.verify(ctx, m, id, "code")
}

// VerifyLink asks the provider to consume a magic link.
func (c *Client) VerifyLink(ctx context.Context, p auth.LinkProof) (*auth.Login, error) {
	switch {
	case p.Token == "":
		return nil, auth.FieldError("link_token", "is required")
	case len(p.Token) > auth.MaxLinkTokenLength || len(p.ChallengeID) > auth.MaxChallengeIDLength:
		return nil, auth.Errorf(auth.CodeInvalidRequest, "The link is malformed.")
	}
	if !p.ServerSide && !c.linkAllowed(p) {
		return nil, auth.Errorf(auth.CodeDifferentBrowser, "This link works only in the browser where you asked for it. Type the code from the email instead.")
	}
	m := &pb.VerifyPasswordLessRequest{AuthCredential: &pb.VerifyPasswordLessRequest_LinkToken{LinkToken: p.Token}}
	if p.ChallengeID != "" {
		m.AuthRequestId = &p.ChallengeID
	}
	return c.verify(ctx, m, p.ChallengeID, "link")
}

// InspectLink cannot ask the provider without consuming the link, so it
// reports every well-formed link as valid; the browser that asked for it
// is recognised by its binding when the link names its auth_request_id.
func (c *Client) InspectLink(_ context.Context, p auth.LinkProof) (auth.LinkStatus, error) {
	if p.Token == "" || len(p.Token) > auth.MaxLinkTokenLength || len(p.ChallengeID) > auth.MaxChallengeIDLength {
		return auth.LinkStatus{}, nil
	}
	same := p.ChallengeID != "" && c.bindingMatches(p.ChallengeID, p.Binding)
	return auth.LinkStatus{Valid: true, SameBrowser: same, Allowed: c.linkAllowed(p)}, nil
}

func (c *Client) linkAllowed(p auth.LinkProof) bool {
	return !c.cfg.SameBrowser || p.ChallengeID == "" || c.bindingMatches(p.ChallengeID, p.Binding)
}

// Ping is the readiness check. It holds a valid token (cached; fetched
// when due) and reports the last failure to reach or use the provider,
// whether seen by a sign-in or by a probe, until a call succeeds again. A
// failure is re-checked at most every pingBackoff, so frequent probes do
// not hammer a provider that is down.
func (c *Client) Ping(ctx context.Context) error {
	c.mu.Lock()
	lastErr, at, token := c.lastErr, c.lastErrAt, c.token
	c.mu.Unlock()
	stale := ""
	if lastErr != nil {
		if c.cfg.Clock.Now().Sub(at) < pingBackoff {
			return lastErr
		}
		stale = token // probe for real: fetch a fresh token
	}
	_, err := c.bearer(ctx, stale)
	return err
}

const pingBackoff = 5 * time.Second

func (c *Client) verify(ctx context.Context, m *pb.VerifyPasswordLessRequest, id, method string) (*auth.Login, error) {
	res, err := call(ctx, c, "verify", func(ctx context.Context, rpc passwordlesspbconnect.PasswordlessServiceClient, r *connect.Request[pb.VerifyPasswordLessRequest]) (*connect.Response[pb.VerifyPasswordLessResponse], error) {
		return rpc.VerifyPasswordlessEmail(ctx, r)
	}, m)
	if err != nil {
		return nil, err
	}
	email, err := auth.NormalizeEmail(res.GetEmail())
	if err != nil {
		return nil, upstreamError(MsgUpstreamFailed, fmt.Errorf("scalekit: verify: provider returned the address %q: %w", res.GetEmail(), err))
	}
	uid := make([]byte, 16)
	if _, err := rand.Read(uid); err != nil {
		return nil, fmt.Errorf("scalekit: read random: %w", err)
	}
	u, err := c.cfg.Users.EnsureUser(ctx, auth.User{ID: "usr_" + base64.RawURLEncoding.EncodeToString(uid), Email: email, CreatedAt: c.cfg.Clock.Now()})
	if err != nil {
		if auth.ErrorCode(err) != auth.CodeInternal {
			return nil, err
		}
		return nil, fmt.Errorf("scalekit: ensure user: %w", err)
	}
	state, redirect := c.unpackState(res.GetState())
	tmpl := auth.TemplateSignIn
	if res.GetTemplate() == pb.TemplateType_SIGNUP {
		tmpl = auth.TemplateSignUp
	}
	return &auth.Login{User: u, ChallengeID: id, Type: localType(res.GetPasswordlessType()), Template: tmpl, State: state, RedirectTo: redirect, Method: method}, nil
}

func (c *Client) sent(res *pb.SendPasswordlessResponse) *auth.Sent {
	now := c.cfg.Clock.Now()
	expiry := time.Duration(res.GetExpiresIn()) * time.Second
	expiresAt := time.Unix(res.GetExpiresAt(), 0)
	switch {
	case res.GetExpiresAt() == 0:
		expiresAt = now.Add(expiry)
	case expiry == 0:
		expiry = max(0, expiresAt.Sub(now).Round(time.Second))
	}
	return &auth.Sent{
		ChallengeID: res.GetAuthRequestId(),
		Type:        localType(res.GetPasswordlessType()),
		ExpiresAt:   expiresAt,
		Expiry:      expiry,
		ResendAfter: c.cfg.ResendCooldown,
	}
}

func localType(t pb.PasswordlessType) auth.PasswordlessType {
	switch t {
	case pb.PasswordlessType_OTP:
		return auth.TypeOTP
	case pb.PasswordlessType_LINK:
		return auth.TypeLink
	}
	return auth.TypeLinkOTP
}

// call runs one RPC with a bearer token, within the client's timeout. On
// Unauthenticated it fetches a new token and tries once more.
func call[Req, Res any](ctx context.Context, c *Client, op string, fn func(context.Context, passwordlesspbconnect.PasswordlessServiceClient, *connect.Request[Req]) (*connect.Response[Res], error), msg *Req) (*Res, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	rpc := c.client()
	var stale string
	for attempt := 0; ; attempt++ {
		token, err := c.bearer(ctx, stale)
		if err != nil {
			return nil, err
		}
		req := connect.NewRequest(msg)
		req.Header().Set("Authorization", "Bearer "+token)
		res, err := fn(ctx, rpc, req)
		if err == nil {
			c.noteHealth(nil)
			return res.Msg, nil
		}
		if connect.CodeOf(err) == connect.CodeUnauthenticated && attempt == 0 {
			stale = token
			continue
		}
		err = c.upstreamFailure(ctx, op, err)
		if auth.ErrorCode(err) == auth.CodeUpstream {
			c.noteHealth(err)
		} else {
			c.noteHealth(nil) // the provider answered: a verdict, not a failure
		}
		return nil, err
	}
}

// noteHealth records the outcome of a call for readiness.
func (c *Client) noteHealth(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	if err != nil {
		c.lastErrAt = c.cfg.Clock.Now()
	}
}

// client returns the RPC client, making it on first use.
func (c *Client) client() passwordlesspbconnect.PasswordlessServiceClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rpc == nil {
		c.rpc = passwordlesspbconnect.NewPasswordlessServiceClient(c.rpcHTTP, c.base,
			connect.WithGRPC(),
			connect.WithReadMaxBytes(1<<20),
			connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
				return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
					req.Header().Set("User-Agent", userAgent)
					return next(ctx, req)
				}
			})),
		)
	}
	return c.rpc
}

const userAgent = "Latch-upstream-client/1"

// bearer returns a live token: the cached one unless it is due for
// renewal or is stale (the provider refused it).
func (c *Client) bearer(ctx context.Context, stale string) (string, error) {
	if token, ok := c.cachedToken(stale); ok {
		return token, nil
	}
	select {
	case c.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", upstreamError(MsgUpstreamUnreachable, fmt.Errorf("scalekit: wait for a token: %w", ctx.Err()))
	}
	defer func() { <-c.fetching }()
	// Another caller may have fetched one while this one waited.
	if token, ok := c.cachedToken(stale); ok {
		return token, nil
	}
	token, lifetime, err := c.fetchToken(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Clock.Now()
	if err != nil {
		c.token = ""
		c.lastErr, c.lastErrAt = err, now
		return "", err
	}
	c.lastErr = nil
	// Renew a fifth of the lifetime (at most a minute) before expiry.
	c.token, c.refreshAt = token, now.Add(lifetime-min(lifetime/5, time.Minute))
	return token, nil
}

// cachedToken returns the cached token unless it is missing, due for
// renewal, or the one the provider just refused (stale).
func (c *Client) cachedToken(stale string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.token != stale && c.cfg.Clock.Now().Before(c.refreshAt) {
		return c.token, true
	}
	return "", false
}

// fetchToken runs the OAuth2 client-credentials grant at {env}/oauth/token.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.cfg.ClientID}, "client_secret": {c.cfg.ClientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, upstreamError(MsgUpstreamUnreachable, fmt.Errorf("scalekit: token request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.tokenHTTP.Do(req)
	if err != nil {
		return "", 0, upstreamError(MsgUpstreamUnreachable, fmt.Errorf("scalekit: token request: %w", err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", 0, upstreamError(MsgUpstreamUnreachable, fmt.Errorf("scalekit: read token response: %w", err))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	jerr := json.Unmarshal(body, &tr)
	switch {
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", 0, upstreamError(MsgUpstreamRefused, fmt.Errorf("scalekit: token request: status %d: %s %s", resp.StatusCode, tr.Error, tr.Description))
	case resp.StatusCode != http.StatusOK:
		return "", 0, upstreamError(MsgUpstreamFailed, fmt.Errorf("scalekit: token request: status %d", resp.StatusCode))
	case jerr != nil || tr.AccessToken == "" || (tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer")):
		return "", 0, upstreamError(MsgUpstreamFailed, fmt.Errorf("scalekit: token response unusable (type %q): %v", tr.TokenType, jerr))
	}
	lifetime := time.Duration(tr.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = DefaultTokenLifetime
	}
	return tr.AccessToken, lifetime, nil
}

// upstreamFailure turns an RPC error into what the app routes answer: the
// provider's verdicts keep their meaning; everything else is upstream_error.
func (c *Client) upstreamFailure(ctx context.Context, op string, err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		if auth.ErrorCode(err) != auth.CodeInternal {
			return err // already ours (a token failure)
		}
		return upstreamError(MsgUpstreamUnreachable, fmt.Errorf("scalekit: %s: %w", op, err))
	}
	wrapped := fmt.Errorf("scalekit: %s: %w", op, err)
	info := errorInfoCode(ce)
	switch ce.Code() {
	case connect.CodeInvalidArgument:
		switch {
		case info == auth.CodeInvalidEmail:
			return &auth.Error{Code: auth.CodeInvalidEmail, Message: "That email address is not valid.", Err: wrapped}
		case info == auth.CodeInvalidCode || (op == "verify" && info != auth.CodeInvalidRequest):
			return &auth.Error{Code: auth.CodeInvalidCode, Message: "That code is not right. Check the email and try again.", Err: wrapped}
		}
		return &auth.Error{Code: auth.CodeInvalidRequest, Message: "The sign-in provider refused the request: " + ce.Message(), Err: wrapped}
	case connect.CodeNotFound:
		return &auth.Error{Code: auth.CodeExpired, Message: "This sign-in has expired or was already used. Request a new email.", Err: wrapped}
	case connect.CodeResourceExhausted:
		retry := 60
		if s, perr := strconv.Atoi(ce.Meta().Get("Retry-After")); perr == nil && s > 0 {
			retry = s
		}
		if info == auth.CodeTooManyAttempts {
			return (&auth.Error{Code: auth.CodeTooManyAttempts, Message: "Too many wrong codes. Request a new sign-in email.", Err: wrapped}).WithDetail("retryAfter", retry)
		}
		return (&auth.Error{Code: auth.CodeRateLimited, Message: fmt.Sprintf("Too many requests. Try again in %d seconds.", retry), Err: wrapped}).WithDetail("retryAfter", retry)
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		return upstreamError(MsgUpstreamRefused, wrapped)
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeCanceled:
		if ctx.Err() != nil && ce.Code() == connect.CodeCanceled {
			return wrapped // the caller went away
		}
		return upstreamError(MsgUpstreamUnreachable, wrapped)
	}
	c.cfg.Logger.WarnContext(ctx, "scalekit: upstream call failed", "op", op, "code", ce.Code().String(), "err", err)
	return upstreamError(MsgUpstreamFailed, wrapped)
}

// errorInfoCode reads the ErrorInfo error_code of err as one of Latch's
// codes ("" when there is none).
func errorInfoCode(err *connect.Error) auth.Code {
	for _, d := range err.Details() {
		if v, derr := d.Value(); derr == nil {
			if info, ok := v.(*errdetailspb.ErrorInfo); ok && info.GetErrorCode() != "" {
				return auth.Code(strings.ToLower(info.GetErrorCode()))
			}
		}
	}
	return ""
}

func upstreamError(msg string, err error) *auth.Error {
	return &auth.Error{Code: auth.CodeUpstream, Message: msg, Err: err}
}

// binding is the secret the requesting browser keeps in its cookie: a MAC
// of the auth request id, so it can be checked without storing anything.
func (c *Client) binding(id string) string {
	return base64.RawURLEncoding.EncodeToString(auth.MAC(c.key, "binding", id)[:24])
}

func (c *Client) bindingMatches(id, binding string) bool {
	return binding != "" && hmac.Equal([]byte(binding), []byte(c.binding(id)))
}

// The state envelope carries the redirect target through the provider,
// which echoes state on verify: "latch1.<base64url JSON>.<base64url MAC>".
// Without a redirect target the app's state goes up as it is.
const stateEnvelope = "latch1."

type stateFields struct {
	State    string `json:"s,omitempty"`
	Redirect string `json:"r"`
}

func (c *Client) packState(state, redirect string) (string, error) {
	if redirect == "" {
		return state, nil
	}
	b, err := json.Marshal(stateFields{State: state, Redirect: redirect})
	if err != nil {
		return "", fmt.Errorf("scalekit: pack state: %w", err)
	}
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString(b)
	packed := stateEnvelope + payload + "." + enc.EncodeToString(auth.MAC(c.key, "state", payload)[:16])
	if len(packed) > auth.MaxStateLength {
		return "", auth.FieldError("state", "is too long together with redirectTo")
	}
	return packed, nil
}

func (c *Client) unpackState(s string) (state, redirect string) {
	rest, ok := strings.CutPrefix(s, stateEnvelope)
	if !ok {
		return s, ""
	}
	payload, sig, ok := strings.Cut(rest, ".")
	enc := base64.RawURLEncoding
	got, err := enc.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, auth.MAC(c.key, "state", payload)[:16]) {
		return s, ""
	}
	b, err := enc.DecodeString(payload)
	var f stateFields
	if err != nil || json.Unmarshal(b, &f) != nil {
		return s, ""
	}
	return f.State, f.Redirect
}
