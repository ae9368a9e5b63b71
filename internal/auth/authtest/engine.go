package authtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv/kvtest"
)

// RunEngine runs the engine's rules once on top of a backend: what the
// kv primitives must add up to when the engine uses them, races included.
// Every backend's tests call it after kvtest.Run.
func RunEngine(t *testing.T, open kvtest.Open) {
	env := func(t *testing.T, edit func(*auth.Config)) *Env { return NewEnv(t, open(t), edit) }
	t.Run("CodeSignInIsSingleUse", func(t *testing.T) { testCodeSignIn(t, env(t, nil)) })
	t.Run("WrongCodesLockTheChallenge", func(t *testing.T) { testWrongCodesLock(t, env(t, nil)) })
	t.Run("ConcurrentRightCode", func(t *testing.T) { testConcurrentRightCode(t, env(t, nil)) })
	t.Run("FailureCapHoldsUnderConcurrency", func(t *testing.T) {
		testFailureCapUnderConcurrency(t, env(t, func(c *auth.Config) { c.EmailSendLimit, c.EmailSendGlobalLimit = 100, 100 }))
	})
	t.Run("AttackerElsewhereCannotLockOut", func(t *testing.T) { testTargetedLockout(t, env(t, nil)) })
	t.Run("ResendRenewsAndCounts", func(t *testing.T) { testResend(t, env(t, nil)) })
	t.Run("LinkSignInIsSingleUse", func(t *testing.T) { testLink(t, env(t, nil)) })
	t.Run("NoHashNeverAccepts", func(t *testing.T) {
		testNoHashNeverAccepts(t, env(t, func(c *auth.Config) { c.AllowedDomains = []string{"example.com"} }))
	})
	t.Run("Sessions", func(t *testing.T) { testSessions(t, env(t, nil)) })
	t.Run("OneAccountPerMailbox", func(t *testing.T) { testOneAccountPerMailbox(t, env(t, nil)) })
	t.Run("ProviderChallengesStayWithTheirClient", func(t *testing.T) { testClientBinding(t, env(t, nil)) })
	t.Run("UnconfirmedMailBudget", func(t *testing.T) {
		testUnconfirmedMailBudget(t, env(t, func(c *auth.Config) { c.RequesterMailLimit = 3 }))
	})
	t.Run("SendWindowSlides", func(t *testing.T) { testSendWindowSlides(t, env(t, nil)) })
	t.Run("InviteOnlySignUp", func(t *testing.T) {
		testInviteOnly(t, env(t, func(c *auth.Config) { c.Signup = auth.SignupInvite }))
	})
	t.Run("DisablingEndsEverything", func(t *testing.T) { testDisable(t, env(t, nil)) })
	t.Run("DeletingRemovesThePerson", func(t *testing.T) {
		var hooked []string
		e := env(t, func(c *auth.Config) {
			c.OnUserDeleted = append(c.OnUserDeleted, func(_ context.Context, id string) error { hooked = append(hooked, id); return nil })
		})
		testDelete(t, e, &hooked)
	})
	t.Run("UsersGroupsMetadata", func(t *testing.T) { testUsersGroupsMetadata(t, env(t, nil)) })
}

func mustSignIn(t *testing.T, e *Env, email string) (*auth.Login, string) {
	t.Helper()
	sent, m := e.MustSend(t, email, home)
	login := mustVerify(t, e, sent.ChallengeID, m.Code, home)
	token, _, err := e.Svc.StartSession(ctx, login.User)
	if err != nil {
		t.Fatal(err)
	}
	return login, token
}

// testInviteOnly: an unknown address gets the answer a known one gets and
// a mail with nothing in it (dropped by the mailer); an invited one signs in.
func testInviteOnly(t *testing.T, e *Env) {
	stranger, err := e.Svc.Send(ctx, auth.SendRequest{Email: "stranger@example.com", Caller: home})
	if err != nil {
		t.Fatal(err)
	}
	if m := e.Mail.Last(t, "stranger@example.com"); !m.Suppressed || m.Code != "" || m.Link != "" {
		t.Fatalf("an uninvited address got %+v", m)
	}
	_, err = e.Svc.VerifyCode(ctx, stranger.ChallengeID, "000000", home)
	WantCode(t, err, auth.CodeInvalidCode)
	u, sent, err := e.Svc.Invite(ctx, "Guest@example.com", Web("192.0.2.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	m := e.Mail.Last(t, "Guest@example.com")
	if m.Suppressed || m.Template != auth.TemplateSignUp || sent.Type != stranger.Type {
		t.Fatalf("invitation mail %+v", m)
	}
	login := mustVerify(t, e, sent.ChallengeID, m.Code, Web("192.0.2.0/24"))
	if login.User.ID != u.ID {
		t.Fatalf("the invited person signed in as %s, invited as %s", login.User.ID, u.ID)
	}
}

func testDisable(t *testing.T, e *Env) {
	login, token := mustSignIn(t, e, "ada@example.com")
	u, err := e.Svc.SetDisabled(ctx, login.User.ID, true)
	if err != nil || !u.Disabled || u.SignedOutAt.IsZero() {
		t.Fatalf("SetDisabled = %+v, %v", u, err)
	}
	_, err = e.Svc.Authenticate(ctx, token)
	WantCode(t, err, auth.CodeUnauthorized)
	e.Clock.Advance(time.Minute)
	sent, err := e.Svc.Send(ctx, auth.SendRequest{Email: "ada@example.com", Caller: home})
	if err != nil {
		t.Fatal(err)
	}
	if m := e.Mail.Last(t, "ada@example.com"); !m.Suppressed {
		t.Fatal("a disabled user was sent a code")
	}
	_, err = e.Svc.VerifyCode(ctx, sent.ChallengeID, "000000", home)
	WantCode(t, err, auth.CodeInvalidCode)
	if _, err := e.Svc.SetDisabled(ctx, login.User.ID, false); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute)
	mustSignIn(t, e, "ada@example.com")
}

func testDelete(t *testing.T, e *Env, hooked *[]string) {
	login, token := mustSignIn(t, e, "ada@example.com")
	if err := e.Svc.DeleteUser(ctx, login.User.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.Svc.Authenticate(ctx, token)
	WantCode(t, err, auth.CodeUnauthorized)
	if _, err := e.Svc.UserByEmail(ctx, "ada@example.com"); err == nil {
		t.Fatal("the deleted user is still found by address")
	}
	if _, err := e.Svc.User(ctx, login.User.ID); err == nil {
		t.Fatal("the deleted user is still found by id")
	}
	if len(*hooked) != 1 || (*hooked)[0] != login.User.ID {
		t.Fatalf("the deletion hooks saw %v", *hooked)
	}
	WantCode(t, e.Svc.DeleteUser(ctx, login.User.ID), auth.CodeNotFound)
	e.Clock.Advance(time.Minute)
	again, _ := mustSignIn(t, e, "ada@example.com")
	if again.User.ID == login.User.ID {
		t.Fatal("a deleted user's id came back")
	}
}

func testUsersGroupsMetadata(t *testing.T, e *Env) {
	for _, addr := range []string{"b@example.com", "a@example.com"} {
		if _, err := e.Svc.CreateUser(ctx, addr); err != nil {
			t.Fatal(err)
		}
	}
	users, err := e.Svc.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Email != "a@example.com" {
		t.Fatalf("Users = %v, %v", users, err)
	}
	u, err := e.Svc.SetGroups(ctx, users[0].ID, []string{"ops", "admins", "ops"})
	if err != nil || len(u.Groups) != 2 || u.Groups[0] != "admins" {
		t.Fatalf("SetGroups = %+v, %v", u, err)
	}
	_, err = e.Svc.SetGroups(ctx, users[0].ID, []string{"bad group"})
	WantCode(t, err, auth.CodeInvalidRequest)
	if u, err = e.Svc.SetMetadata(ctx, users[0].ID, []byte(`{"team": "ops"}`)); err != nil || u.Metadata != `{"team":"ops"}` {
		t.Fatalf("SetMetadata = %+v, %v", u, err)
	}
	_, err = e.Svc.SetMetadata(ctx, users[0].ID, []byte(`[1,2]`))
	WantCode(t, err, auth.CodeInvalidRequest)
	got, err := e.Svc.User(ctx, users[0].ID)
	if err != nil || len(got.Groups) != 2 || got.Metadata != `{"team":"ops"}` {
		t.Fatalf("User = %+v, %v", got, err)
	}
	_, err = e.Svc.SetGroups(ctx, "usr_nobody", nil)
	WantCode(t, err, auth.CodeNotFound)
}

var ctx = context.Background()

var home = Web("198.51.100.0/24")

func mustVerify(t *testing.T, e *Env, id, code string, caller auth.Caller) *auth.Login {
	t.Helper()
	login, err := e.Svc.VerifyCode(ctx, id, code, caller)
	if err != nil {
		t.Fatalf("VerifyCode: %v", err)
	}
	return login
}

// wrong returns a code of the right shape that is not m's.
func wrong(m *auth.LoginMail) string {
	if m.Code == "000000" {
		return "000001"
	}
	return "000000"
}

func testCodeSignIn(t *testing.T, e *Env) {
	sent, m := e.MustSend(t, "ada@example.com", home)
	login := mustVerify(t, e, sent.ChallengeID, m.Code, home)
	if login.User.Email != "ada@example.com" || login.Method != "code" || login.User.ID == "" {
		t.Fatalf("login = %+v", login)
	}
	_, err := e.Svc.VerifyCode(ctx, sent.ChallengeID, m.Code, home)
	WantCode(t, err, auth.CodeExpired)
	if st, err := e.Svc.Status(ctx, sent.ChallengeID, sent.Binding); err != nil || !st.Used || st.Pending {
		t.Fatalf("status after use = %+v, %v", st, err)
	}
}

func testWrongCodesLock(t *testing.T, e *Env) {
	sent, m := e.MustSend(t, "ada@example.com", home)
	for want := 4; want >= 0; want-- {
		_, err := e.Svc.VerifyCode(ctx, sent.ChallengeID, wrong(m), home)
		if got := WantCode(t, err, auth.CodeInvalidCode).Details["attemptsRemaining"]; got != want {
			t.Fatalf("attemptsRemaining = %v, want %d", got, want)
		}
	}
	_, err := e.Svc.VerifyCode(ctx, sent.ChallengeID, m.Code, home)
	WantCode(t, err, auth.CodeTooManyAttempts)
	_, err = e.Svc.Resend(ctx, sent.ChallengeID, home)
	WantCode(t, err, auth.CodeTooManyAttempts)
}

func testConcurrentRightCode(t *testing.T, e *Env) {
	sent, m := e.MustSend(t, "ada@example.com", home)
	// Each attempt holds a unit of the failure caps while it is judged, so
	// losers beyond the cap in flight hear too_many_attempts, the others
	// expired; exactly one signs in.
	var wins, lost atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := e.Svc.VerifyCode(ctx, sent.ChallengeID, m.Code, home)
			switch auth.ErrorCode(err) {
			case "":
				wins.Add(1)
			case auth.CodeExpired, auth.CodeTooManyAttempts:
				lost.Add(1)
			default:
				t.Errorf("VerifyCode: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || lost.Load() != 49 {
		t.Fatalf("50 racing right codes: %d signed in, %d lost; want 1 and 49", wins.Load(), lost.Load())
	}
}

// testFailureCapUnderConcurrency: 8 challenges for one address, 5 racing
// wrong codes each: exactly the cap of 15 is judged.
func testFailureCapUnderConcurrency(t *testing.T, e *Env) {
	var ids []string
	var mails []*auth.LoginMail
	for range 8 {
		sent, m := e.MustSend(t, "ada@example.com", home)
		ids, mails = append(ids, sent.ChallengeID), append(mails, m)
	}
	var judged, refused atomic.Int32
	var wg sync.WaitGroup
	for i, id := range ids {
		for range 5 {
			wg.Go(func() {
				_, err := e.Svc.VerifyCode(ctx, id, wrong(mails[i]), home)
				switch auth.ErrorCode(err) {
				case auth.CodeInvalidCode:
					judged.Add(1)
				case auth.CodeTooManyAttempts:
					refused.Add(1)
				default:
					t.Errorf("VerifyCode: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if judged.Load() != 15 || refused.Load() != 25 {
		t.Fatalf("40 racing wrong codes against a cap of 15: %d judged, %d refused", judged.Load(), refused.Load())
	}
}

// testTargetedLockout: someone at another network spends their own share
// of the victim's limits, not the victim's.
func testTargetedLockout(t *testing.T, e *Env) {
	attacker := Web("203.0.113.0/24")
	victim := "ceo@example.com"
	for range 3 {
		sent, err := e.Svc.Send(ctx, auth.SendRequest{Email: victim, Caller: attacker})
		if err != nil {
			break // the attacker's own send limit
		}
		for range 5 {
			e.Svc.VerifyCode(ctx, sent.ChallengeID, "000000", attacker)
		}
	}
	if _, err := e.Svc.Send(ctx, auth.SendRequest{Email: victim, Caller: attacker}); auth.ErrorCode(err) != auth.CodeRateLimited {
		t.Fatalf("the attacker's third send in a minute: %v; want rate_limited", err)
	}
	sent, m := e.MustSend(t, victim, home)
	mustVerify(t, e, sent.ChallengeID, m.Code, home)
}

func testResend(t *testing.T, e *Env) {
	sent, first := e.MustSend(t, "ada@example.com", home)
	_, err := e.Svc.Resend(ctx, sent.ChallengeID, home)
	if got := WantCode(t, err, auth.CodeRateLimited).Details["retryAfter"]; got != 30 {
		t.Fatalf("resend at once: retryAfter %v, want 30 (the cooldown)", got)
	}
	e.Clock.Advance(31 * time.Second)
	again, err := e.Svc.Resend(ctx, sent.ChallengeID, home)
	if err != nil {
		t.Fatalf("resend after the cooldown: %v", err)
	}
	second := e.Mail.Last(t, "")
	if again.ChallengeID != sent.ChallengeID || !again.ExpiresAt.After(sent.ExpiresAt) || second.Code == "" {
		t.Fatalf("resend = %+v (first %+v)", again, sent)
	}
	// A send and a resend are the two mails a minute allows.
	_, err = e.Svc.Send(ctx, auth.SendRequest{Email: "ada@example.com", Caller: home})
	WantCode(t, err, auth.CodeRateLimited)
	if first.Code != second.Code {
		_, err = e.Svc.VerifyCode(ctx, sent.ChallengeID, first.Code, home)
		WantCode(t, err, auth.CodeInvalidCode)
	}
	_, err = e.Svc.VerifyLink(ctx, auth.LinkProof{Token: LinkToken(t, first), Caller: home})
	WantCode(t, err, auth.CodeExpired)
	mustVerify(t, e, sent.ChallengeID, second.Code, home)

	// The provider face resends at once: no cooldown, only the per-address limit.
	client := auth.Caller{Requester: "client:app", ClientID: "app"}
	e.Clock.Advance(2 * time.Minute)
	sent, err = e.Svc.Send(ctx, auth.SendRequest{Email: "bob@example.com", Caller: client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.Resend(ctx, sent.ChallengeID, client); err != nil {
		t.Fatalf("a provider client's resend at once: %v", err)
	}
	_, err = e.Svc.Resend(ctx, sent.ChallengeID, client)
	WantCode(t, err, auth.CodeRateLimited)
}

func testLink(t *testing.T, e *Env) {
	sent, m := e.MustSend(t, "ada@example.com", home)
	proof := auth.LinkProof{Token: LinkToken(t, m), ChallengeID: sent.ChallengeID, Caller: home}
	st, err := e.Svc.InspectLink(ctx, proof)
	if err != nil || !st.Valid || st.SameBrowser || st.Email != "ada@example.com" {
		t.Fatalf("InspectLink = %+v, %v", st, err)
	}
	proof.Binding = sent.Binding
	if st, _ := e.Svc.InspectLink(ctx, proof); !st.SameBrowser {
		t.Fatalf("InspectLink with the binding = %+v", st)
	}
	login, err := e.Svc.VerifyLink(ctx, proof)
	if err != nil || login.Method != "link" {
		t.Fatalf("VerifyLink = %+v, %v", login, err)
	}
	_, err = e.Svc.VerifyLink(ctx, proof)
	WantCode(t, err, auth.CodeExpired)
	_, err = e.Svc.VerifyCode(ctx, sent.ChallengeID, m.Code, home)
	WantCode(t, err, auth.CodeExpired)
}

// testNoHashNeverAccepts: an address outside the allowed domains gets a
// challenge without code or token hash, which no code opens.
func testNoHashNeverAccepts(t *testing.T, e *Env) {
	sent, err := e.Svc.Send(ctx, auth.SendRequest{Email: "eve@elsewhere.org", Caller: home})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		_, err := e.Svc.VerifyCode(ctx, sent.ChallengeID, fmt.Sprintf("%06d", i), home)
		WantCode(t, err, auth.CodeInvalidCode)
	}
	_, err = e.Svc.VerifyCode(ctx, sent.ChallengeID, "000009", home)
	WantCode(t, err, auth.CodeTooManyAttempts)
}

func testSessions(t *testing.T, e *Env) {
	u := auth.User{ID: "usr_sessions", Email: "ada@example.com"}
	token, sess, err := e.Svc.StartSession(ctx, u, auth.SessionInfo{Method: "code", Device: "Firefox on Linux", Network: "198.51.100.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Svc.Authenticate(ctx, token)
	if err != nil || got.UserID != u.ID || got.Device != "Firefox on Linux" || got.ID != sess.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	// Use within the idle timeout keeps it alive past the first deadline.
	e.Clock.Advance(3 * time.Hour)
	if _, err := e.Svc.Authenticate(ctx, token); err != nil {
		t.Fatalf("after 3h of a 4h idle timeout: %v", err)
	}
	e.Clock.Advance(3 * time.Hour)
	if _, err := e.Svc.Authenticate(ctx, token); err != nil {
		t.Fatalf("3h after the last use: %v", err)
	}
	e.Clock.Advance(4*time.Hour + time.Second)
	_, err = e.Svc.Authenticate(ctx, token)
	WantCode(t, err, auth.CodeUnauthorized)

	var tokens []string
	for range 3 {
		tok, _, err := e.Svc.StartSession(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	if list, err := e.Svc.Sessions(ctx, u.ID); err != nil || len(list) != 3 {
		t.Fatalf("Sessions = %d, %v; want 3", len(list), err)
	}
	if err := e.Svc.Logout(ctx, tokens[0], false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.Authenticate(ctx, tokens[1]); err != nil {
		t.Fatalf("logout here ended another session: %v", err)
	}
	if err := e.Svc.Logout(ctx, tokens[1], true); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		_, err := e.Svc.Authenticate(ctx, tok)
		WantCode(t, err, auth.CodeUnauthorized)
	}
	// The absolute lifetime ends a session however often it is used.
	tok, _, _ := e.Svc.StartSession(ctx, u)
	for range 7 * 24 / 3 {
		e.Clock.Advance(3 * time.Hour)
		e.Svc.Authenticate(ctx, tok)
	}
	e.Clock.Advance(3 * time.Hour)
	_, err = e.Svc.Authenticate(ctx, tok)
	WantCode(t, err, auth.CodeUnauthorized)
}

func testOneAccountPerMailbox(t *testing.T, e *Env) {
	var logins []*auth.Login
	for i, typed := range []string{"Ada@Example.com", "ada@example.com", "ADA@EXAMPLE.COM"} {
		caller := Web(fmt.Sprintf("198.51.%d.0/24", i))
		sent, m := e.MustSend(t, typed, caller)
		if want, _ := auth.NormalizeEmail(typed); m.To != want {
			t.Fatalf("mail to %q went to %q", typed, m.To)
		}
		logins = append(logins, mustVerify(t, e, sent.ChallengeID, m.Code, caller))
	}
	for _, l := range logins[1:] {
		if l.User.ID != logins[0].User.ID {
			t.Fatalf("two spellings of one address got users %s and %s", logins[0].User.ID, l.User.ID)
		}
	}
	if logins[1].User.Email != "ada@example.com" || logins[0].User.Email != "Ada@example.com" {
		t.Fatalf("logins = %+v / %+v", logins[0], logins[1])
	}
}

func testClientBinding(t *testing.T, e *Env) {
	app1 := auth.Caller{Requester: "client:app1", ClientID: "app1"}
	app2 := auth.Caller{Requester: "client:app2", ClientID: "app2"}
	sent, err := e.Svc.Send(ctx, auth.SendRequest{Email: "ada@example.com", State: "app1-state", Caller: app1})
	if err != nil {
		t.Fatal(err)
	}
	m := e.Mail.Last(t, "")
	for _, other := range []auth.Caller{app2, home} {
		_, err := e.Svc.VerifyCode(ctx, sent.ChallengeID, m.Code, other)
		WantCode(t, err, auth.CodeExpired)
		_, err = e.Svc.VerifyLink(ctx, auth.LinkProof{Token: LinkToken(t, m), Caller: other, ServerSide: true})
		WantCode(t, err, auth.CodeExpired)
		_, err = e.Svc.Resend(ctx, sent.ChallengeID, other)
		WantCode(t, err, auth.CodeExpired)
	}
	login := mustVerify(t, e, sent.ChallengeID, m.Code, app1)
	if login.State != "app1-state" {
		t.Fatalf("state = %q", login.State)
	}
	// And Latch's own challenges are not a client's.
	own, m2 := e.MustSend(t, "bob@example.com", home)
	_, err = e.Svc.VerifyCode(ctx, own.ChallengeID, m2.Code, app1)
	WantCode(t, err, auth.CodeExpired)
}

func testUnconfirmedMailBudget(t *testing.T, e *Env) {
	var first *auth.Sent
	var firstMail *auth.LoginMail
	for i := range 3 {
		sent, m := e.MustSend(t, fmt.Sprintf("p%d@example.com", i), home)
		if i == 0 {
			first, firstMail = sent, m
		}
	}
	_, err := e.Svc.Send(ctx, auth.SendRequest{Email: "p3@example.com", Caller: home})
	WantCode(t, err, auth.CodeRateLimited)
	// Others on another network are not affected.
	e.MustSend(t, "p3@example.com", Web("192.0.2.0/24"))
	// A sign-in gives its unit back.
	mustVerify(t, e, first.ChallengeID, firstMail.Code, home)
	e.MustSend(t, "p4@example.com", home)
}

func testSendWindowSlides(t *testing.T, e *Env) {
	// Two sends in the last second of a minute, a third just after it.
	e.Clock.Advance(Epoch.Truncate(time.Minute).Add(time.Minute - time.Second).Sub(e.Clock.Now()))
	e.MustSend(t, "ada@example.com", home)
	e.MustSend(t, "ada@example.com", home)
	e.Clock.Advance(2 * time.Second)
	_, err := e.Svc.Send(ctx, auth.SendRequest{Email: "ada@example.com", Caller: home})
	WantCode(t, err, auth.CodeRateLimited)
}
