package scalekit

import (
	"context"
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
	// Timeout bounds each operation, token fetch included (10s).
	Timeout time.Duration
	Clock   auth.Clock   // auth.SystemClock
	Logger  *slog.Logger // slog.Default()
}

// Client is an auth.Upstream: an upstream Scalekit-compatible provider,
// spoken to over gRPC. The engine does everything but judge the codes and
// links (users, sessions, the browser binding, audit). It is lazy: nothing
// touches the network until the first call, so the server boots and
// serves health whatever the state of the provider. It caches its bearer
// token, renews it before it expires and once more when the provider
// answers Unauthenticated. Failures of the provider are *auth.Error values
// with code upstream_error (502); the provider's verdicts on codes and
// links keep their own codes (invalid_code, expired, rate_limited, …).
type Client struct {
	cfg       ClientConfig
	base      string
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
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("scalekit: upstream client: %w", err)
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

var _ auth.Upstream = (*Client)(nil)

// Send asks the provider to email a code and link pointing at req.LinkURL.
func (c *Client) Send(ctx context.Context, req auth.UpstreamSend) (*auth.UpstreamSent, error) {
	t := pb.TemplateType_SIGNIN
	if req.Template == auth.TemplateSignUp {
		t = pb.TemplateType_SIGNUP
	}
	m := &pb.SendPasswordlessRequest{Email: req.Email, Template: &t, TemplateVariables: req.TemplateVariables}
	if req.LinkURL != "" {
		m.MagiclinkAuthUri = &req.LinkURL
	}
	if req.State != "" {
		m.State = &req.State
	}
	if req.Expiry > 0 {
		secs := uint32(min(max(req.Expiry, MinExpiry), MaxExpiry) / time.Second)
		m.ExpiresIn = &secs
	}
	res, err := call(ctx, c, "send", func(ctx context.Context, rpc passwordlesspbconnect.PasswordlessServiceClient, r *connect.Request[pb.SendPasswordlessRequest]) (*connect.Response[pb.SendPasswordlessResponse], error) {
		return rpc.SendPasswordlessEmail(ctx, r)
	}, m)
	if err != nil {
		return nil, err
	}
	return c.sent(res), nil
}

// Resend asks the provider for a fresh code and link.
func (c *Client) Resend(ctx context.Context, id string) (*auth.UpstreamSent, error) {
	res, err := call(ctx, c, "resend", func(ctx context.Context, rpc passwordlesspbconnect.PasswordlessServiceClient, r *connect.Request[pb.ResendPasswordlessRequest]) (*connect.Response[pb.SendPasswordlessResponse], error) {
		return rpc.ResendPasswordlessEmail(ctx, r)
	}, &pb.ResendPasswordlessRequest{AuthRequestId: id})
	if err != nil {
		return nil, err
	}
	return c.sent(res), nil
}

// Verify asks the provider to judge a code (with its id) or a link token.
func (c *Client) Verify(ctx context.Context, id, code, linkToken string) (*auth.UpstreamVerdict, error) {
	m := &pb.VerifyPasswordLessRequest{}
	if linkToken != "" {
		m.AuthCredential = &pb.VerifyPasswordLessRequest_LinkToken{LinkToken: linkToken}
	} else {
		m.AuthCredential = &pb.VerifyPasswordLessRequest_Code{Code: code}
	}
	if id != "" {
		m.AuthRequestId = &id
	}
	res, err := call(ctx, c, "verify", func(ctx context.Context, rpc passwordlesspbconnect.PasswordlessServiceClient, r *connect.Request[pb.VerifyPasswordLessRequest]) (*connect.Response[pb.VerifyPasswordLessResponse], error) {
		return rpc.VerifyPasswordlessEmail(ctx, r)
	}, m)
	if err != nil {
		return nil, err
	}
	tmpl := auth.TemplateSignIn
	if res.GetTemplate() == pb.TemplateType_SIGNUP {
		tmpl = auth.TemplateSignUp
	}
	return &auth.UpstreamVerdict{Email: res.GetEmail(), State: res.GetState(), Template: tmpl, Type: localType(res.GetPasswordlessType())}, nil
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

func (c *Client) sent(res *pb.SendPasswordlessResponse) *auth.UpstreamSent {
	now := c.cfg.Clock.Now()
	expiry := time.Duration(res.GetExpiresIn()) * time.Second
	expiresAt := time.Unix(res.GetExpiresAt(), 0)
	switch {
	case res.GetExpiresAt() == 0:
		expiresAt = now.Add(expiry)
	case expiry == 0:
		expiry = max(0, expiresAt.Sub(now).Round(time.Second))
	}
	return &auth.UpstreamSent{
		ChallengeID: res.GetAuthRequestId(),
		Type:        localType(res.GetPasswordlessType()),
		ExpiresAt:   expiresAt,
		Expiry:      expiry,
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
