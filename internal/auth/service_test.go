package auth_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/vault"
)

// The engine's unit tests run on memstore; authtest.RunEngine runs the
// rules that depend on the store's atomicity on every backend.

const secret = authtest.Secret

var web = authtest.Web("198.51.100.0/24")

type env struct {
	*authtest.Env
	svc   *auth.Service
	clock *authtest.Clock
	mail  *mailbox
}

type mailbox struct{ *authtest.Mailbox }

func (m mailbox) last(t *testing.T) *auth.LoginMail { t.Helper(); return m.Last(t, "") }
func (m mailbox) count() int                        { return m.Count() }

func newEnv(t *testing.T, edit func(*auth.Config)) *env {
	t.Helper()
	e := authtest.NewEnv(t, memstore.New(), edit)
	return &env{Env: e, svc: e.Svc, clock: e.Clock, mail: &mailbox{e.Mail}}
}

func (e *env) mustSend(t *testing.T, email string) (*auth.Sent, *auth.LoginMail) {
	t.Helper()
	return e.MustSend(t, email, web)
}

// mustNotHold fails the test if any record in the store holds one of the
// secrets in the clear.
func (e *env) mustNotHold(t *testing.T, secrets ...string) {
	t.Helper()
	err := e.Store.Scan(context.Background(), "", e.clock.Now(), func(k string, v []byte) error {
		for _, s := range secrets {
			if s != "" && (bytes.Contains(v, []byte(s)) || strings.Contains(k, s)) {
				t.Errorf("record %s holds a secret in the clear", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func linkToken(t *testing.T, link string) string {
	t.Helper()
	return authtest.LinkToken(t, &auth.LoginMail{Link: link})
}

func wantCode(t *testing.T, err error, code auth.Code) *auth.Error {
	t.Helper()
	return authtest.WantCode(t, err, code)
}

func TestSendCreatesCodeAndLink(t *testing.T) {
	e := newEnv(t, nil)
	sent, m := e.mustSend(t, "  Ada@Example.COM ")
	if m.To != "Ada@example.com" {
		t.Errorf("mail to %q, want the trimmed address with a lowercased domain", m.To)
	}
	if len(m.Code) != 6 || strings.Trim(m.Code, "0123456789") != "" {
		t.Errorf("code %q is not 6 digits", m.Code)
	}
	if !strings.HasPrefix(m.Link, "https://login.example.com/api/auth/passwordless/verify?") || linkToken(t, m.Link) == "" {
		t.Errorf("link %q lacks the base or the token", m.Link)
	}
	if sent.Type != auth.TypeLinkOTP || !sent.ExpiresAt.Equal(authtest.Epoch.Add(5*time.Minute)) || len(sent.ChallengeID) < 22 || sent.Binding == "" {
		t.Errorf("sent = %+v", sent)
	}
	e.mustNotHold(t, m.Code, linkToken(t, m.Link), sent.Binding)
}

func TestTypesDecideWhatIsSent(t *testing.T) {
	for _, tc := range []struct {
		typ        auth.PasswordlessType
		code, link bool
	}{
		{auth.TypeLinkOTP, true, true},
		{auth.TypeOTP, true, false},
		{auth.TypeLink, false, true},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			e := newEnv(t, func(c *auth.Config) { c.Type = tc.typ })
			sent, m := e.mustSend(t, "ada@example.com")
			if (m.Code != "") != tc.code || (m.Link != "") != tc.link {
				t.Fatalf("mail has code %q and link %q", m.Code, m.Link)
			}
			if !tc.code {
				_, err := e.svc.VerifyCode(context.Background(), sent.ChallengeID, "123456", web)
				wantCode(t, err, auth.CodeInvalidRequest)
			}
		})
	}
}

func TestVerifyCode(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	sent, m := e.mustSend(t, "ada@example.com")
	login, err := e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code[:3]+" "+m.Code[3:], web)
	if err != nil {
		t.Fatalf("right code (typed with a space): %v", err)
	}
	if login.User.Email != "ada@example.com" || !strings.HasPrefix(login.User.ID, "usr_") || login.Method != "code" {
		t.Fatalf("login = %+v", login)
	}
	_, err = e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web)
	wantCode(t, err, auth.CodeExpired)

	// The same address gets the same user next time.
	sent, m = e.mustSend(t, "ada@EXAMPLE.com")
	again, err := e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web)
	if err != nil || again.User.ID != login.User.ID {
		t.Fatalf("second login: %+v, %v; want user %s", again, err, login.User.ID)
	}
}

func TestWrongCodesLockTheChallenge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	sent, m := e.mustSend(t, "ada@example.com")
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	for left := 4; left >= 0; left-- {
		_, err := e.svc.VerifyCode(ctx, sent.ChallengeID, wrong, web)
		ae := wantCode(t, err, auth.CodeInvalidCode)
		if ae.Details["attemptsRemaining"] != left {
			t.Fatalf("attemptsRemaining = %v, want %d", ae.Details["attemptsRemaining"], left)
		}
	}
	_, err := e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web)
	wantCode(t, err, auth.CodeTooManyAttempts)
	e.clock.Advance(time.Minute)
	_, err = e.svc.Resend(ctx, sent.ChallengeID, web)
	wantCode(t, err, auth.CodeTooManyAttempts)
}

func TestMalformedCodesDoNotCount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	sent, m := e.mustSend(t, "ada@example.com")
	for _, code := range []string{"12345", "abcdef", "1234567"} {
		_, err := e.svc.VerifyCode(ctx, sent.ChallengeID, code, web)
		wantCode(t, err, auth.CodeInvalidCode)
	}
	_, err := e.svc.VerifyCode(ctx, sent.ChallengeID, "", web)
	wantCode(t, err, auth.CodeInvalidRequest)
	if _, err := e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web); err != nil {
		t.Fatalf("right code after malformed ones: %v", err)
	}
}

func TestWrongGuessesAreCappedPerEmailAcrossChallenges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *auth.Config) { c.EmailFailureLimit = 7; c.EmailSendLimit = 100 })
	judged := 0
	var last *auth.Sent
	var lastMail *auth.LoginMail
	for range 4 { // four challenges would allow 20 guesses without the cap
		last, lastMail = e.mustSend(t, "victim@example.com")
		for range 5 {
			_, err := e.svc.VerifyCode(ctx, last.ChallengeID, "999999", web)
			if auth.ErrorCode(err) == auth.CodeInvalidCode {
				judged++
			}
		}
	}
	if judged != 7 {
		t.Fatalf("%d wrong codes were judged across challenges, want the cap of 7", judged)
	}
	_, err := e.svc.VerifyCode(ctx, last.ChallengeID, lastMail.Code, web)
	wantCode(t, err, auth.CodeTooManyAttempts)
	e.clock.Advance(16 * time.Minute) // the failure window passes, and so does this challenge
	sent, m := e.mustSend(t, "victim@example.com")
	if _, err := e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	sent, m := e.mustSend(t, "ada@example.com")
	e.clock.Advance(5 * time.Minute)
	_, err := e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web)
	wantCode(t, err, auth.CodeExpired)
	_, err = e.svc.VerifyLink(ctx, auth.LinkProof{Token: linkToken(t, m.Link)})
	wantCode(t, err, auth.CodeExpired)
}

func TestResend(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *auth.Config) { c.EmailSendLimit = 3 })
	sent, first := e.mustSend(t, "ada@example.com")

	_, err := e.svc.Resend(ctx, sent.ChallengeID, web)
	ae := wantCode(t, err, auth.CodeRateLimited)
	if ae.Details["retryAfter"] != 30 {
		t.Fatalf("cooldown retryAfter = %v, want 30", ae.Details["retryAfter"])
	}
	e.clock.Advance(30 * time.Second)
	again, err := e.svc.Resend(ctx, sent.ChallengeID, web)
	if err != nil {
		t.Fatalf("Resend: %v", err)
	}
	second := e.mail.last(t)
	if again.ChallengeID != sent.ChallengeID || !again.ExpiresAt.Equal(e.clock.Now().Add(5*time.Minute)) {
		t.Fatalf("resend = %+v", again)
	}
	if first.Code != second.Code {
		_, err = e.svc.VerifyCode(ctx, sent.ChallengeID, first.Code, web)
		wantCode(t, err, auth.CodeInvalidCode)
	}
	_, err = e.svc.VerifyLink(ctx, auth.LinkProof{Token: linkToken(t, first.Link)})
	wantCode(t, err, auth.CodeExpired)
	if _, err := e.svc.VerifyLink(ctx, auth.LinkProof{Token: linkToken(t, second.Link)}); err != nil {
		t.Fatalf("new link: %v", err)
	}

	// Resends count against the per-address send limit.
	sent, _ = e.mustSend(t, "ada@example.com") // third email this minute
	e.clock.Advance(29 * time.Second)
	_, err = e.svc.Resend(ctx, sent.ChallengeID, web)
	wantCode(t, err, auth.CodeRateLimited)
}

func TestSendLimitPerEmail(t *testing.T) {
	e := newEnv(t, nil)
	e.mustSend(t, "ada@example.com")
	e.mustSend(t, "ada@example.com")
	_, err := e.svc.Send(context.Background(), auth.SendRequest{Email: " ada@EXAMPLE.com ", Caller: web})
	ae := wantCode(t, err, auth.CodeRateLimited)
	if ae.Details["retryAfter"] == nil {
		t.Fatal("no retryAfter")
	}
	e.mustSend(t, "grace@example.com") // other addresses are not affected
	if e.mail.count() != 3 {
		t.Fatalf("%d mails sent, want 3", e.mail.count())
	}
}

func TestAllowedDomainsAnswerTheSameAndSendNothing(t *testing.T) {
	e := newEnv(t, func(c *auth.Config) { c.AllowedDomains = []string{"Example.com"} })
	allowed, err := e.svc.Send(context.Background(), auth.SendRequest{Email: "ada@example.com", Caller: web})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.svc.Send(context.Background(), auth.SendRequest{Email: "eve@elsewhere.org", Caller: web})
	if err != nil {
		t.Fatalf("disallowed domain got an error: %v", err)
	}
	// Both are handed to the mailer (the same work), the second suppressed
	// and without code or link.
	if m := e.mail.Last(t, "ada@example.com"); e.mail.count() != 2 || m.Suppressed || m.Code == "" {
		t.Fatalf("ada's mail: %+v", m)
	}
	if m := e.mail.last(t); m.To != "eve@elsewhere.org" || !m.Suppressed || m.Code != "" || m.Link != "" {
		t.Fatalf("eve's mail %+v: want suppressed, with no code or link", m)
	}
	if other.Type != allowed.Type || other.ExpiresAt != allowed.ExpiresAt || len(other.ChallengeID) != len(allowed.ChallengeID) {
		t.Fatalf("answers differ: %+v vs %+v", other, allowed)
	}
}

func TestMagicLink(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	sent, m := e.mustSend(t, "ada@example.com")
	token := linkToken(t, m.Link)
	for range 3 { // mail scanners may open it any number of times
		st, err := e.svc.InspectLink(ctx, auth.LinkProof{Token: token, ChallengeID: sent.ChallengeID, Binding: sent.Binding})
		if err != nil || !st.Valid || !st.SameBrowser || !st.Allowed {
			t.Fatalf("InspectLink = %+v, %v", st, err)
		}
	}
	if st, _ := e.svc.InspectLink(ctx, auth.LinkProof{Token: token}); st.SameBrowser || !st.Allowed {
		t.Fatalf("another browser: %+v; want allowed but not the same browser", st)
	}
	_, err := e.svc.VerifyLink(ctx, auth.LinkProof{Token: token, ChallengeID: authtest.RandomID(t)})
	wantCode(t, err, auth.CodeExpired)
	login, err := e.svc.VerifyLink(ctx, auth.LinkProof{Token: token})
	if err != nil || login.Method != "link" || login.User.Email != "ada@example.com" {
		t.Fatalf("VerifyLink = %+v, %v", login, err)
	}
	_, err = e.svc.VerifyLink(ctx, auth.LinkProof{Token: token})
	wantCode(t, err, auth.CodeExpired)
	_, err = e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web)
	wantCode(t, err, auth.CodeExpired)
	if st, err := e.svc.InspectLink(ctx, auth.LinkProof{Token: token}); err != nil || st.Valid {
		t.Fatalf("used link inspects as %+v, %v", st, err)
	}
}

func TestSameBrowserEnforcement(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *auth.Config) { c.SameBrowser = true })
	sent, m := e.mustSend(t, "ada@example.com")
	token := linkToken(t, m.Link)
	st, _ := e.svc.InspectLink(ctx, auth.LinkProof{Token: token})
	if st.Allowed {
		t.Fatal("another browser is allowed under same-browser enforcement")
	}
	_, err := e.svc.VerifyLink(ctx, auth.LinkProof{Token: token, Binding: "forged"})
	wantCode(t, err, auth.CodeDifferentBrowser)
	if _, err := e.svc.VerifyLink(ctx, auth.LinkProof{Token: token, Binding: sent.Binding}); err != nil {
		t.Fatalf("the asking browser: %v", err)
	}
}

func TestSecretRotationKeepsPendingLoginsWorking(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	sent, m := e.mustSend(t, "ada@example.com")
	sent2, m2 := e.mustSend(t, "grace@example.com")

	newSecret := "a-brand-new-secret-a-brand-new-secret"
	svc := e.rotated(t, newSecret, secret)
	if _, err := svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web); err != nil {
		t.Fatalf("code from before the rotation: %v", err)
	}
	if _, err := svc.VerifyLink(ctx, auth.LinkProof{Token: linkToken(t, m2.Link), ChallengeID: sent2.ChallengeID}); err != nil {
		t.Fatalf("link from before the rotation: %v", err)
	}

	// Without the previous secret they fail.
	sent3, m3 := e.mustSend(t, "alan@example.com")
	svc = e.rotated(t, newSecret)
	_, err := svc.VerifyCode(ctx, sent3.ChallengeID, m3.Code, web)
	wantCode(t, err, auth.CodeInvalidCode)
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *auth.Config) { c.SessionIdleTimeout = time.Hour; c.SessionLifetime = 3 * time.Hour })
	u := auth.User{ID: "usr_1", Email: "ada@example.com"}
	token, sess, err := e.svc.StartSession(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if sess.ID == token || sess.ID != auth.SessionID(token) || len(token) != 43 {
		t.Fatalf("session id must be the token's hash; token %q id %q", token, sess.ID)
	}
	token2, _, _ := e.svc.StartSession(ctx, u)
	if token2 == token {
		t.Fatal("two logins got the same token")
	}
	for _, step := range []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute} {
		e.clock.Advance(step)
		if _, err := e.svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("session in use at +%s: %v", e.clock.Now().Sub(authtest.Epoch), err)
		}
	}
	e.clock.Advance(31 * time.Minute) // past the 3h lifetime though recently used
	_, err = e.svc.Authenticate(ctx, token)
	wantCode(t, err, auth.CodeUnauthorized)
	_, err = e.svc.Authenticate(ctx, token2) // idle for 3h31m
	wantCode(t, err, auth.CodeUnauthorized)
	for _, bad := range []string{"", "short", strings.Repeat("!", 43)} {
		_, err = e.svc.Authenticate(ctx, bad)
		wantCode(t, err, auth.CodeUnauthorized)
	}
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	u := auth.User{ID: "usr_1", Email: "ada@example.com"}
	a, _, _ := e.svc.StartSession(ctx, u)
	b, _, _ := e.svc.StartSession(ctx, u)
	c, _, _ := e.svc.StartSession(ctx, u)
	other, _, _ := e.svc.StartSession(ctx, auth.User{ID: "usr_2", Email: "grace@example.com"})
	if err := e.svc.Logout(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Authenticate(ctx, a)
	wantCode(t, err, auth.CodeUnauthorized)
	if _, err := e.svc.Authenticate(ctx, b); err != nil {
		t.Fatalf("a local logout ended another session: %v", err)
	}
	if err := e.svc.Logout(ctx, b, true); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{b, c} {
		_, err := e.svc.Authenticate(ctx, tok)
		wantCode(t, err, auth.CodeUnauthorized)
	}
	if _, err := e.svc.Authenticate(ctx, other); err != nil {
		t.Fatalf("logout everywhere ended another user's session: %v", err)
	}
	wantCode(t, e.svc.Logout(ctx, a, false), auth.CodeUnauthorized)
}

func TestInputLimits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	_, err := e.svc.Send(ctx, auth.SendRequest{Email: "ada@example.com", State: strings.Repeat("s", 1001), Caller: web})
	wantCode(t, err, auth.CodeInvalidRequest)
	_, err = e.svc.Send(ctx, auth.SendRequest{Email: "ada@example.com", Template: "PHISH", Caller: web})
	wantCode(t, err, auth.CodeInvalidRequest)
	_, err = e.svc.VerifyCode(ctx, strings.Repeat("a", 201), "123456", web)
	wantCode(t, err, auth.CodeInvalidRequest)
	_, err = e.svc.VerifyCode(ctx, "", "123456", web)
	wantCode(t, err, auth.CodeInvalidRequest)
	_, err = e.svc.VerifyLink(ctx, auth.LinkProof{Token: strings.Repeat("a", 101)})
	wantCode(t, err, auth.CodeInvalidRequest)
	if e.mail.count() != 0 {
		t.Fatal("bad input sent mail")
	}
}

func TestCodesAreUniform(t *testing.T) {
	// A coarse check that every digit appears in every position.
	e := newEnv(t, func(c *auth.Config) { c.EmailSendLimit, c.EmailSendGlobalLimit, c.RequesterMailLimit = 1000, 1000, -1 })
	var seen [6][10]int
	for range 400 {
		_, m := e.mustSend(t, "ada@example.com")
		for i, r := range m.Code {
			seen[i][r-'0']++
		}
	}
	for i := range seen {
		for d, n := range seen[i] {
			if n == 0 {
				t.Fatalf("digit %d never appeared in position %d in 400 codes", d, i)
			}
		}
	}
}

func TestDisallowedAddressCannotSignIn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *auth.Config) { c.AllowedDomains = []string{"example.com"} })
	sent, err := e.svc.Send(ctx, auth.SendRequest{Email: "eve@elsewhere.org", Caller: web})
	if err != nil {
		t.Fatal(err)
	}
	// No code can match: every guess is just a wrong one.
	for _, guess := range []string{"000000", "123456", "999999"} {
		_, err := e.svc.VerifyCode(ctx, sent.ChallengeID, guess, web)
		wantCode(t, err, auth.CodeInvalidCode)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.svc.Resend(ctx, sent.ChallengeID, web); err != nil {
		t.Fatal(err)
	}
	if m := e.mail.last(t); !m.Suppressed || m.Code != "" {
		t.Fatalf("a resend to a disallowed address carried a code: %+v", m)
	}
}

type recorder struct {
	mu     sync.Mutex
	events []auth.Event
}

func (r *recorder) Audit(_ context.Context, e auth.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind == auth.EventLoginFailed {
			out = append(out, e.Method+":"+string(e.Reason))
		}
	}
	return out
}

func TestFailedLoginsAreCountedByReason(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	e := newEnv(t, func(c *auth.Config) { c.Auditor = rec })
	sent, m := e.mustSend(t, "ada@example.com")
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	e.svc.VerifyCode(ctx, sent.ChallengeID, wrong, web)
	e.svc.VerifyCode(ctx, sent.ChallengeID, "12", web)         // malformed: not an attempt
	e.svc.VerifyCode(ctx, authtest.RandomID(t), "123456", web) // unknown: expired
	e.svc.VerifyLink(ctx, auth.LinkProof{Token: strings.Repeat("A", 43)})
	if _, err := e.svc.VerifyCode(ctx, sent.ChallengeID, m.Code, web); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.failures(), ",")
	if got != "code:invalid_code,code:invalid_code,code:expired,link:expired" {
		t.Fatalf("failures recorded: %s", got)
	}
}

// rotated is an engine on e's store after SESSION_SECRET became current,
// with previous still accepted.
func (e *env) rotated(t *testing.T, current string, previous ...string) *auth.Service {
	t.Helper()
	cfg := authtest.Config(t, e.Store, e.clock)
	keys, err := auth.NewKeys(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(e.Store, e.clock, current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys, cfg.Vault = keys, v
	svc, err := auth.NewService(cfg, e.Store, e.Mail)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
