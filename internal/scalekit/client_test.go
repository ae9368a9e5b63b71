package scalekit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/memstore"
)

const localLinkURL = "http://latch.local/api/auth/passwordless/verify"

// upstreamClient is a local engine whose upstream is a Client of f, with
// its own clock and store, as a Latch in upstream mode has. Its methods
// call the engine as Latch's own routes do.
type upstreamClient struct {
	*Client
	svc   *auth.Service
	clock *authtest.Clock
	users *memstore.Store
}

var local = authtest.Web("198.51.100.0/24")

type upstreamOption struct {
	client func(*ClientConfig)
	engine func(*auth.Config)
}

func newUpstreamClient(t *testing.T, url, secret string, opts ...upstreamOption) *upstreamClient {
	t.Helper()
	u := &upstreamClient{clock: authtest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)), users: memstore.New()}
	cfg := ClientConfig{
		EnvironmentURL: url,
		ClientID:       testClientID,
		ClientSecret:   secret,
		Timeout:        3 * time.Second,
		Clock:          u.clock,
		Logger:         quiet,
	}
	ecfg := authtest.Config(t, u.users, u.clock)
	ecfg.LinkURL = localLinkURL
	for _, o := range opts {
		if o.client != nil {
			o.client(&cfg)
		}
		if o.engine != nil {
			o.engine(&ecfg)
		}
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ecfg.Upstream = c
	if u.svc, err = auth.NewService(ecfg, u.users, &authtest.Mailbox{}); err != nil {
		t.Fatal(err)
	}
	u.Client = c
	return u
}

func (u *upstreamClient) Send(ctx context.Context, req auth.SendRequest) (*auth.Sent, error) {
	req.Caller = local
	return u.svc.Send(ctx, req)
}

func (u *upstreamClient) Resend(ctx context.Context, id string) (*auth.Sent, error) {
	return u.svc.Resend(ctx, id, local)
}

func (u *upstreamClient) VerifyCode(ctx context.Context, id, code string) (*auth.Login, error) {
	return u.svc.VerifyCode(ctx, id, code, local)
}

func (u *upstreamClient) VerifyLink(ctx context.Context, p auth.LinkProof) (*auth.Login, error) {
	p.Caller = local
	return u.svc.VerifyLink(ctx, p)
}

func (u *upstreamClient) InspectLink(ctx context.Context, p auth.LinkProof) (auth.LinkStatus, error) {
	return u.svc.InspectLink(ctx, p)
}

func mustCode(t *testing.T, err error, want auth.Code) *auth.Error {
	t.Helper()
	var e *auth.Error
	if !errors.As(err, &e) || e.Code != want {
		t.Fatalf("got %v, want code %s", err, want)
	}
	return e
}

func TestClientSignsInByCodeAndLink(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	c := newUpstreamClient(t, f.srv.URL+"/", testClientSecret) // a trailing slash is fine
	ctx := context.Background()

	sent, err := c.Send(ctx, auth.SendRequest{Email: " Ada@EXAMPLE.com ", State: "s-1", Template: "SIGNUP", RedirectTo: "https://app.example.com/welcome", TemplateVariables: map[string]string{"team": "Acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if sent.ChallengeID == "" || sent.Binding == "" || sent.Type != auth.TypeLinkOTP || sent.Expiry != 300*time.Second || sent.ResendAfter != 30*time.Second {
		t.Fatalf("sent %+v", sent)
	}
	mail := f.mail.last(t, "Ada@example.com")
	if !strings.HasPrefix(mail.Link, localLinkURL+"?") || mail.Template != auth.TemplateSignUp || mail.TemplateVariables["team"] != "Acme" {
		t.Fatalf("mail %+v", mail)
	}

	_, err = c.VerifyCode(ctx, sent.ChallengeID, "12345x")
	mustCode(t, err, auth.CodeInvalidCode)

	login, err := c.VerifyCode(ctx, sent.ChallengeID, mail.Code[:3]+" "+mail.Code[3:])
	if err != nil {
		t.Fatal(err)
	}
	if login.User.Email != "Ada@example.com" || !strings.HasPrefix(login.User.ID, "usr_") || login.State != "s-1" ||
		login.RedirectTo != "https://app.example.com/welcome" || login.Template != auth.TemplateSignUp || login.Method != "code" {
		t.Fatalf("login %+v", login)
	}
	_, err = c.VerifyCode(ctx, sent.ChallengeID, mail.Code)
	mustCode(t, err, auth.CodeExpired)

	// The same person by link: the same local user.
	f.clock.Advance(time.Minute)
	sent2, err := c.Send(ctx, auth.SendRequest{Email: "Ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	token, id := linkToken(t, f.mail.last(t, "Ada@example.com"))
	if id != sent2.ChallengeID {
		t.Fatalf("link names %q, want %q", id, sent2.ChallengeID)
	}
	st, err := c.InspectLink(ctx, auth.LinkProof{Token: token, ChallengeID: id, Binding: sent2.Binding})
	if err != nil || !st.Valid || !st.SameBrowser || !st.Allowed {
		t.Fatalf("inspect in the same browser: %+v %v", st, err)
	}
	st, _ = c.InspectLink(ctx, auth.LinkProof{Token: token, ChallengeID: id, Binding: sent.Binding})
	if !st.Valid || st.SameBrowser || !st.Allowed {
		t.Fatalf("inspect elsewhere: %+v", st)
	}
	login2, err := c.VerifyLink(ctx, auth.LinkProof{Token: token, ChallengeID: id})
	if err != nil {
		t.Fatal(err)
	}
	if login2.User.ID != login.User.ID || login2.Method != "link" || login2.RedirectTo != "" || login2.State != "" {
		t.Fatalf("link login %+v, first %+v", login2, login)
	}
	_, err = c.VerifyLink(ctx, auth.LinkProof{Token: token})
	mustCode(t, err, auth.CodeExpired)
}

func TestClientResendAndLimits(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	c := newUpstreamClient(t, f.srv.URL, testClientSecret)
	ctx := context.Background()
	sent, err := c.Send(ctx, auth.SendRequest{Email: "bo@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(31 * time.Second)
	resent, err := c.Resend(ctx, sent.ChallengeID)
	if err != nil || resent.ChallengeID != sent.ChallengeID || resent.Binding != "" {
		t.Fatalf("resend %+v %v", resent, err)
	}
	// A send and a resend are the two mails a minute the provider allows.
	_, err = c.Resend(ctx, sent.ChallengeID)
	if e := mustCode(t, err, auth.CodeRateLimited); e.Details["retryAfter"] == nil {
		t.Fatalf("no retryAfter: %+v", e)
	}
	code := f.mail.last(t, "bo@example.com").Code
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for range 5 {
		_, err = c.VerifyCode(ctx, sent.ChallengeID, wrong)
		mustCode(t, err, auth.CodeInvalidCode)
	}
	_, err = c.VerifyCode(ctx, sent.ChallengeID, code)
	mustCode(t, err, auth.CodeTooManyAttempts)

	_, err = c.Resend(ctx, "")
	mustCode(t, err, auth.CodeInvalidRequest)
	_, err = c.Send(ctx, auth.SendRequest{Email: "nope"})
	mustCode(t, err, auth.CodeInvalidEmail)
}

func TestClientTokenCacheAndRefresh(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	c := newUpstreamClient(t, f.srv.URL, testClientSecret)
	ctx := context.Background()
	send := func(email string) {
		t.Helper()
		if _, err := c.Send(ctx, auth.SendRequest{Email: email}); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokenRequests.Load() != 0 {
		t.Fatal("the client fetched a token before its first call")
	}
	send("t1@example.com")
	send("t2@example.com")
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenRequests.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1 (cached)", n)
	}

	// Renewed before it expires: at 59 minutes of a 1h token.
	c.clock.Advance(59 * time.Minute)
	f.clock.Advance(59 * time.Minute)
	send("t3@example.com")
	if n := f.tokenRequests.Load(); n != 2 {
		t.Fatalf("%d token requests, want 2 (renewed before expiry)", n)
	}

	// The provider refuses a token the client still thinks good (its
	// clock ran ahead, or it changed its keys): one refresh, then success.
	f.clock.Advance(2 * time.Hour)
	send("t4@example.com")
	if n := f.tokenRequests.Load(); n != 3 {
		t.Fatalf("%d token requests, want 3 (refreshed on Unauthenticated)", n)
	}
	f.setProvider(mustProvider(t, f.provider.engine, ProviderConfig{
		Clients: []string{testClientID + ":" + testClientSecret}, Secret: "rotated-secret-rotated-secret-rotated", Clock: f.clock, Logger: quiet,
		TokenKey: func(context.Context) ([]byte, error) { return []byte("rotated-token-key-rotated-token-key"), nil },
	}))
	send("t5@example.com")
	if n := f.tokenRequests.Load(); n != 4 {
		t.Fatalf("%d token requests, want 4 (refreshed after key change)", n)
	}
}

func TestClientBadCredentials(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	c := newUpstreamClient(t, f.srv.URL, "wrong-secret-0123456789")
	ctx := context.Background()
	_, err := c.Send(ctx, auth.SendRequest{Email: "cy@example.com"})
	if e := mustCode(t, err, auth.CodeUpstream); e.Message != MsgUpstreamRefused {
		t.Fatalf("message %q", e.Message)
	}
	if err := c.Ping(ctx); auth.ErrorCode(err) != auth.CodeUpstream {
		t.Fatalf("ping: %v", err)
	}
	n := f.tokenRequests.Load()
	c.Ping(ctx) // remembered: no new request
	if f.tokenRequests.Load() != n {
		t.Fatal("readiness probe hammered the provider")
	}
	if f.mail.count() != 0 {
		t.Fatal("mail sent with bad credentials")
	}
}

// A provider that answers the token endpoint but refuses every RPC token.
func TestClientRefusedTokenTwice(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	other := mustProvider(t, f.provider.engine, ProviderConfig{Clients: []string{testClientID + ":" + testClientSecret}, Secret: "another-secret-another-secret-another", TokenKey: func(context.Context) ([]byte, error) { return []byte("another-token-key-another-token-key"), nil }, Clock: f.clock, Logger: quiet})
	mux := http.NewServeMux()
	other.Mount(mux, Limits{}) // checks tokens under another key
	srv := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			f.provider.handleToken(w, r) // issues them under testSecret
			return
		}
		mux.ServeHTTP(w, r)
	}))
	c := newUpstreamClient(t, srv.URL, testClientSecret)
	_, err := c.Send(context.Background(), auth.SendRequest{Email: "dee@example.com"})
	if e := mustCode(t, err, auth.CodeUpstream); e.Message != MsgUpstreamRefused {
		t.Fatalf("message %q", e.Message)
	}
}

func TestClientUpstreamDownAndBack(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	addr := freeAddr(t)
	c := newUpstreamClient(t, "http://"+addr, testClientSecret)
	ctx := context.Background()

	_, err := c.Send(ctx, auth.SendRequest{Email: "eve@example.com"})
	if e := mustCode(t, err, auth.CodeUpstream); e.Message != MsgUpstreamUnreachable {
		t.Fatalf("message %q", e.Message)
	}
	if err := c.Ping(ctx); auth.ErrorCode(err) != auth.CodeUpstream {
		t.Fatalf("ping: %v", err)
	}

	// The provider comes up on that address: the next call works.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("address %s was taken meanwhile: %v", addr, err)
	}
	srv := &http.Server{Handler: f.srv.Config.Handler, Protocols: f.srv.Config.Protocols}
	go srv.Serve(ln)
	defer srv.Close()
	if _, err := c.Send(ctx, auth.SendRequest{Email: "eve@example.com"}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	c.clock.Advance(pingBackoff)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping after recovery: %v", err)
	}

	// Down again with a token cached: the RPC itself fails.
	srv.Close()
	c.Close()
	_, err = c.Send(ctx, auth.SendRequest{Email: "eve2@example.com"})
	if e := mustCode(t, err, auth.CodeUpstream); e.Message != MsgUpstreamUnreachable {
		t.Fatalf("message %q (%v)", e.Message, e.Err)
	}
	if err := c.Ping(ctx); auth.ErrorCode(err) != auth.CodeUpstream {
		t.Fatalf("ping after a failed sign-in: %v", err)
	}
	c.clock.Advance(pingBackoff)
	if err := c.Ping(ctx); auth.ErrorCode(err) != auth.CodeUpstream {
		t.Fatalf("ping re-checked while still down: %v", err)
	}
}

func TestClientTimeout(t *testing.T) {
	stall := make(chan struct{})
	srv := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer close(stall)
	c := newUpstreamClient(t, srv.URL, testClientSecret, upstreamOption{client: func(cfg *ClientConfig) { cfg.Timeout = 200 * time.Millisecond }})
	start := time.Now()
	_, err := c.Send(context.Background(), auth.SendRequest{Email: "fay@example.com"})
	mustCode(t, err, auth.CodeUpstream)
	// The server never answers: only the client's own timeout ends the
	// call. The bound is loose on purpose; this checks for a hang, not speed.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the call took %s despite a 200ms timeout", d)
	}
}

func TestClientSameBrowser(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	c := newUpstreamClient(t, f.srv.URL, testClientSecret, upstreamOption{engine: func(cfg *auth.Config) { cfg.SameBrowser = true }})
	ctx := context.Background()
	sent, err := c.Send(ctx, auth.SendRequest{Email: "gil@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	token, id := linkToken(t, f.mail.last(t, "gil@example.com"))
	st, _ := c.InspectLink(ctx, auth.LinkProof{Token: token, ChallengeID: id, Binding: "someone-else"})
	if !st.Valid || st.Allowed {
		t.Fatalf("other browser: %+v", st)
	}
	_, err = c.VerifyLink(ctx, auth.LinkProof{Token: token, ChallengeID: id})
	mustCode(t, err, auth.CodeDifferentBrowser)
	// Dropping auth_request_id from the link does not get around the check.
	_, err = c.VerifyLink(ctx, auth.LinkProof{Token: token, Binding: sent.Binding})
	mustCode(t, err, auth.CodeDifferentBrowser)
	if _, err := c.VerifyLink(ctx, auth.LinkProof{Token: token, ChallengeID: id, Binding: sent.Binding}); err != nil {
		t.Fatal(err)
	}
}

func TestNewClientValidates(t *testing.T) {
	_, err := NewClient(ClientConfig{EnvironmentURL: "ftp://x"})
	if err == nil || !strings.Contains(err.Error(), "not an http(s) URL") || !strings.Contains(err.Error(), "client id and secret") {
		t.Fatalf("got %v", err)
	}
}
