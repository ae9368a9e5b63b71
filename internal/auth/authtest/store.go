package authtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// Epoch is the time the suites start at: a fixed instant near the real
// present, so stores that also keep real TTLs behave the same.
var Epoch = time.Now().Truncate(time.Hour).Add(7 * time.Minute)

// OpenStore returns a fresh, empty store for one test; the suite closes
// nothing, so register cleanup with t.Cleanup.
type OpenStore func(t *testing.T) auth.Store

// TestStore runs the Store conformance suite.
func TestStore(t *testing.T, open OpenStore) {
	t.Run("ChallengeLifecycle", func(t *testing.T) { testChallengeLifecycle(t, open(t)) })
	t.Run("ChallengeRoundTrip", func(t *testing.T) { testChallengeRoundTrip(t, open(t)) })
	t.Run("AttemptCode", func(t *testing.T) { testAttemptCode(t, open(t)) })
	t.Run("AttemptCodePreviousKey", func(t *testing.T) { testAttemptPreviousKey(t, open(t)) })
	t.Run("ConcurrentRightCode", func(t *testing.T) { testConcurrentRightCode(t, open(t)) })
	t.Run("ConcurrentWrongCodes", func(t *testing.T) { testConcurrentWrongCodes(t, open(t)) })
	t.Run("ConsumeLink", func(t *testing.T) { testConsumeLink(t, open(t)) })
	t.Run("ConcurrentConsumeLink", func(t *testing.T) { testConcurrentConsumeLink(t, open(t)) })
	t.Run("RenewChallenge", func(t *testing.T) { testRenewChallenge(t, open(t)) })
	t.Run("SessionLifecycle", func(t *testing.T) { testSessionLifecycle(t, open(t)) })
	t.Run("SessionIdleAndAbsoluteExpiry", func(t *testing.T) { testSessionExpiry(t, open(t)) })
	t.Run("DeleteUserSessions", func(t *testing.T) { testDeleteUserSessions(t, open(t)) })
	t.Run("EnsureUser", func(t *testing.T) { testEnsureUser(t, open(t)) })
	t.Run("ConcurrentEnsureUser", func(t *testing.T) { testConcurrentEnsureUser(t, open(t)) })
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// RandomID returns a fresh random identifier of the engine's form.
func RandomID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHash() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// NewChallenge returns a challenge that expires five minutes after now.
func NewChallenge(t testing.TB, now time.Time) *auth.Challenge {
	id := RandomID(t)
	return &auth.Challenge{
		ID:          id,
		Email:       "ada-" + id[:6] + "@example.com",
		Type:        auth.TypeLinkOTP,
		Template:    auth.TemplateSignIn,
		CodeHash:    randomHash(),
		TokenHash:   randomHash(),
		BindingHash: randomHash(),
		CreatedAt:   now,
		SentAt:      now,
		ExpiresAt:   now.Add(5 * time.Minute),
	}
}

func mustCreate(t *testing.T, s auth.Store, c *auth.Challenge) {
	t.Helper()
	if err := s.CreateChallenge(context.Background(), c); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("%s: got error %v, want ErrNotFound", what, err)
	}
}

func testChallengeLifecycle(t *testing.T, s auth.Store) {
	ctx := context.Background()
	now := Epoch
	c := NewChallenge(t, now)
	mustCreate(t, s, c)

	got, err := s.Challenge(ctx, c.ID, now)
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	if got.Email != c.Email || !bytes.Equal(got.CodeHash, c.CodeHash) {
		t.Fatalf("Challenge returned %+v, want %+v", got, c)
	}
	if got, err := s.ChallengeByToken(ctx, c.TokenHash, now); err != nil || got.ID != c.ID {
		t.Fatalf("ChallengeByToken = %v, %v; want %s", got, err, c.ID)
	}
	_, err = s.Challenge(ctx, RandomID(t), now)
	wantNotFound(t, "unknown id", err)
	_, err = s.ChallengeByToken(ctx, randomHash(), now)
	wantNotFound(t, "unknown token", err)

	later := c.ExpiresAt
	_, err = s.Challenge(ctx, c.ID, later)
	wantNotFound(t, "Challenge at expiry", err)
	_, err = s.ChallengeByToken(ctx, c.TokenHash, later)
	wantNotFound(t, "ChallengeByToken at expiry", err)
	_, err = s.AttemptCode(ctx, c.ID, [][]byte{c.CodeHash}, 5, later)
	wantNotFound(t, "AttemptCode at expiry", err)
	_, err = s.ConsumeLink(ctx, c.ID, c.TokenHash, later)
	wantNotFound(t, "ConsumeLink at expiry", err)
}

func testChallengeRoundTrip(t *testing.T, s auth.Store) {
	ctx := context.Background()
	now := Epoch
	c := NewChallenge(t, now)
	c.Type = auth.TypeOTP
	c.TokenHash = nil
	c.Template = auth.TemplateSignUp
	c.State = "state ✓ with unicode"
	c.RedirectTo = "/welcome?x=1"
	c.LinkURL = "https://app.example.com/callback"
	c.TemplateVariables = map[string]string{"team": "Blue", "plan": "pro"}
	mustCreate(t, s, c)
	got, err := s.Challenge(ctx, c.ID, now)
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	switch {
	case got.Type != c.Type, got.Template != c.Template, got.State != c.State,
		got.RedirectTo != c.RedirectTo, got.LinkURL != c.LinkURL, got.Email != c.Email,
		!bytes.Equal(got.BindingHash, c.BindingHash), len(got.TokenHash) != 0,
		!maps.Equal(got.TemplateVariables, c.TemplateVariables),
		!got.ExpiresAt.Equal(c.ExpiresAt), !got.SentAt.Equal(c.SentAt), got.Attempts != 0:
		t.Fatalf("round trip changed the challenge:\n got %+v\nwant %+v", got, c)
	}
}

func testAttemptCode(t *testing.T, s auth.Store) {
	ctx := context.Background()
	now := Epoch
	c := NewChallenge(t, now)
	mustCreate(t, s, c)
	wrong := [][]byte{randomHash()}
	for left := 4; left >= 0; left-- {
		a, err := s.AttemptCode(ctx, c.ID, wrong, 5, now)
		if err != nil {
			t.Fatalf("AttemptCode: %v", err)
		}
		if a.Outcome != auth.Rejected || a.AttemptsLeft != left {
			t.Fatalf("wrong code: outcome %v, left %d; want Rejected, %d", a.Outcome, a.AttemptsLeft, left)
		}
	}
	a, err := s.AttemptCode(ctx, c.ID, [][]byte{c.CodeHash}, 5, now)
	if err != nil || a.Outcome != auth.Locked {
		t.Fatalf("right code after lock: %v, %v; want Locked", a.Outcome, err)
	}

	c2 := NewChallenge(t, now)
	mustCreate(t, s, c2)
	if a, err := s.AttemptCode(ctx, c2.ID, wrong, 5, now); err != nil || a.Outcome != auth.Rejected {
		t.Fatalf("wrong code: %v, %v", a.Outcome, err)
	}
	a, err = s.AttemptCode(ctx, c2.ID, [][]byte{c2.CodeHash}, 5, now)
	if err != nil || a.Outcome != auth.Accepted || a.Challenge == nil || a.Challenge.ID != c2.ID {
		t.Fatalf("right code: %+v, %v; want Accepted with the challenge", a, err)
	}
	_, err = s.AttemptCode(ctx, c2.ID, [][]byte{c2.CodeHash}, 5, now)
	wantNotFound(t, "replayed code", err)
	_, err = s.Challenge(ctx, c2.ID, now)
	wantNotFound(t, "Challenge after use", err)
	_, err = s.ConsumeLink(ctx, c2.ID, c2.TokenHash, now)
	wantNotFound(t, "link after the code was used", err)
}

func testAttemptPreviousKey(t *testing.T, s auth.Store) {
	c := NewChallenge(t, Epoch)
	mustCreate(t, s, c)
	a, err := s.AttemptCode(context.Background(), c.ID, [][]byte{randomHash(), c.CodeHash}, 5, Epoch)
	if err != nil || a.Outcome != auth.Accepted {
		t.Fatalf("code matching the second candidate: %v, %v; want Accepted", a.Outcome, err)
	}
}

const racers = 50

func testConcurrentRightCode(t *testing.T, s auth.Store) {
	c := NewChallenge(t, Epoch)
	mustCreate(t, s, c)
	var accepted, notFound int
	race(t, racers, func() error {
		a, err := s.AttemptCode(context.Background(), c.ID, [][]byte{c.CodeHash}, 5, Epoch)
		return tally(&accepted, &notFound, err, a.Outcome == auth.Accepted)
	})
	if accepted != 1 || notFound != racers-1 {
		t.Fatalf("%d racers with the right code: %d accepted, %d not found; want 1 and %d", racers, accepted, notFound, racers-1)
	}
}

func testConcurrentWrongCodes(t *testing.T, s auth.Store) {
	c := NewChallenge(t, Epoch)
	mustCreate(t, s, c)
	var mu sync.Mutex
	counts := map[auth.Outcome]int{}
	race(t, 40, func() error {
		a, err := s.AttemptCode(context.Background(), c.ID, [][]byte{randomHash()}, 5, Epoch)
		if err != nil {
			return err
		}
		mu.Lock()
		counts[a.Outcome]++
		mu.Unlock()
		return nil
	})
	if counts[auth.Rejected] != 5 || counts[auth.Locked] != 35 {
		t.Fatalf("40 concurrent wrong codes: %d judged, %d locked; want 5 and 35", counts[auth.Rejected], counts[auth.Locked])
	}
}

func testConsumeLink(t *testing.T, s auth.Store) {
	ctx := context.Background()
	c := NewChallenge(t, Epoch)
	mustCreate(t, s, c)
	_, err := s.ConsumeLink(ctx, c.ID, randomHash(), Epoch)
	wantNotFound(t, "wrong token", err)
	got, err := s.ConsumeLink(ctx, c.ID, c.TokenHash, Epoch)
	if err != nil || got.ID != c.ID || got.Email != c.Email {
		t.Fatalf("ConsumeLink = %+v, %v", got, err)
	}
	_, err = s.ConsumeLink(ctx, c.ID, c.TokenHash, Epoch)
	wantNotFound(t, "replayed link", err)
	_, err = s.ChallengeByToken(ctx, c.TokenHash, Epoch)
	wantNotFound(t, "ChallengeByToken after use", err)
	_, err = s.AttemptCode(ctx, c.ID, [][]byte{c.CodeHash}, 5, Epoch)
	wantNotFound(t, "code after the link was used", err)
}

func testConcurrentConsumeLink(t *testing.T, s auth.Store) {
	c := NewChallenge(t, Epoch)
	mustCreate(t, s, c)
	var won, lost int
	race(t, racers, func() error {
		_, err := s.ConsumeLink(context.Background(), c.ID, c.TokenHash, Epoch)
		return tally(&won, &lost, err, err == nil)
	})
	if won != 1 || lost != racers-1 {
		t.Fatalf("%d racers with the link: %d won, %d lost; want 1 and %d", racers, won, lost, racers-1)
	}
}

func testRenewChallenge(t *testing.T, s auth.Store) {
	ctx := context.Background()
	now := Epoch
	c := NewChallenge(t, now)
	mustCreate(t, s, c)
	if _, err := s.AttemptCode(ctx, c.ID, [][]byte{randomHash()}, 5, now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(4 * time.Minute)
	r := auth.Renewal{CodeHash: randomHash(), TokenHash: randomHash(), SentAt: later, ExpiresAt: later.Add(5 * time.Minute)}
	got, err := s.RenewChallenge(ctx, c.ID, r, 5, later)
	if err != nil {
		t.Fatalf("RenewChallenge: %v", err)
	}
	if got.ID != c.ID || got.Email != c.Email || !got.ExpiresAt.Equal(r.ExpiresAt) || !got.SentAt.Equal(later) || got.Attempts != 0 {
		t.Fatalf("renewed challenge %+v", got)
	}
	_, err = s.ChallengeByToken(ctx, c.TokenHash, later)
	wantNotFound(t, "old token after renewal", err)
	if got, err := s.ChallengeByToken(ctx, r.TokenHash, later); err != nil || got.ID != c.ID {
		t.Fatalf("new token after renewal: %v, %v", got, err)
	}
	a, err := s.AttemptCode(ctx, c.ID, [][]byte{c.CodeHash}, 5, later)
	if err != nil || a.Outcome != auth.Rejected || a.AttemptsLeft != 4 {
		t.Fatalf("old code after renewal: %+v, %v; want Rejected with 4 left (attempts reset)", a, err)
	}
	// The new expiry holds past the old one.
	past := c.ExpiresAt.Add(time.Minute)
	a, err = s.AttemptCode(ctx, c.ID, [][]byte{r.CodeHash}, 5, past)
	if err != nil || a.Outcome != auth.Accepted {
		t.Fatalf("new code after the old expiry: %v, %v; want Accepted", a.Outcome, err)
	}
	_, err = s.RenewChallenge(ctx, c.ID, r, 5, past)
	wantNotFound(t, "renewing a used challenge", err)

	locked := NewChallenge(t, now)
	mustCreate(t, s, locked)
	for range 5 {
		s.AttemptCode(ctx, locked.ID, [][]byte{randomHash()}, 5, now)
	}
	if _, err := s.RenewChallenge(ctx, locked.ID, r, 5, now); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("renewing a locked challenge: %v, want ErrLocked", err)
	}
	_, err = s.RenewChallenge(ctx, NewChallenge(t, now).ID, r, 5, now)
	wantNotFound(t, "renewing an unknown challenge", err)
}

// NewSession returns a session of userID created at now.
func NewSession(t testing.TB, userID string, now time.Time) *auth.Session {
	return &auth.Session{
		ID:          RandomID(t),
		UserID:      userID,
		Email:       userID + "@example.com",
		CreatedAt:   now,
		LastSeenAt:  now,
		ExpiresAt:   now.Add(24 * time.Hour),
		IdleTimeout: time.Hour,
	}
}

func mustCreateSession(t *testing.T, s auth.Store, sess *auth.Session) {
	t.Helper()
	if err := s.CreateSession(context.Background(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func testSessionLifecycle(t *testing.T, s auth.Store) {
	ctx := context.Background()
	sess := NewSession(t, "usr_a", Epoch)
	mustCreateSession(t, s, sess)
	got, err := s.Session(ctx, sess.ID, Epoch)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if got.UserID != sess.UserID || got.Email != sess.Email || !got.ExpiresAt.Equal(sess.ExpiresAt) || got.IdleTimeout != sess.IdleTimeout {
		t.Fatalf("Session = %+v, want %+v", got, sess)
	}
	_, err = s.Session(ctx, RandomID(t), Epoch)
	wantNotFound(t, "unknown session", err)
	if err := s.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	_, err = s.Session(ctx, sess.ID, Epoch)
	wantNotFound(t, "deleted session", err)
	if err := s.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatalf("DeleteSession twice: %v", err)
	}
}

func testSessionExpiry(t *testing.T, s auth.Store) {
	ctx := context.Background()
	sess := NewSession(t, "usr_b", Epoch)
	mustCreateSession(t, s, sess)
	_, err := s.Session(ctx, sess.ID, Epoch.Add(time.Hour))
	wantNotFound(t, "session after its idle timeout", err)

	// Use keeps it alive past the first idle deadline...
	sess = NewSession(t, "usr_b", Epoch)
	mustCreateSession(t, s, sess)
	at := Epoch
	for range 30 {
		at = at.Add(50 * time.Minute)
		if at.After(sess.ExpiresAt) {
			break
		}
		if _, err := s.Session(ctx, sess.ID, at); err != nil {
			t.Fatalf("session in use at +%s: %v", at.Sub(Epoch), err)
		}
		if err := s.TouchSession(ctx, sess.ID, at); err != nil {
			t.Fatalf("TouchSession: %v", err)
		}
	}
	// ...but never past its absolute expiry.
	_, err = s.Session(ctx, sess.ID, sess.ExpiresAt)
	wantNotFound(t, "session at its absolute expiry", err)
}

func testDeleteUserSessions(t *testing.T, s auth.Store) {
	ctx := context.Background()
	var mine []*auth.Session
	for range 3 {
		sess := NewSession(t, "usr_c", Epoch)
		mustCreateSession(t, s, sess)
		mine = append(mine, sess)
	}
	other := NewSession(t, "usr_d", Epoch)
	mustCreateSession(t, s, other)
	n, err := s.DeleteUserSessions(ctx, "usr_c")
	if err != nil || n != 3 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 3", n, err)
	}
	for _, sess := range mine {
		_, err := s.Session(ctx, sess.ID, Epoch)
		wantNotFound(t, "session after logout everywhere", err)
	}
	if _, err := s.Session(ctx, other.ID, Epoch); err != nil {
		t.Fatalf("another user's session was removed: %v", err)
	}
	if n, err := s.DeleteUserSessions(ctx, "usr_c"); err != nil || n != 0 {
		t.Fatalf("DeleteUserSessions again = %d, %v; want 0", n, err)
	}
}

func testEnsureUser(t *testing.T, s auth.Store) {
	ctx := context.Background()
	u1, err := s.EnsureUser(ctx, auth.User{ID: "usr_1", Email: "grace@example.com", CreatedAt: Epoch})
	if err != nil || u1.ID != "usr_1" || u1.Email != "grace@example.com" {
		t.Fatalf("EnsureUser(new) = %+v, %v", u1, err)
	}
	u2, err := s.EnsureUser(ctx, auth.User{ID: "usr_2", Email: "grace@example.com", CreatedAt: Epoch})
	if err != nil || u2.ID != "usr_1" {
		t.Fatalf("EnsureUser(existing) = %+v, %v; want the first id", u2, err)
	}
	u3, err := s.EnsureUser(ctx, auth.User{ID: "usr_3", Email: "alan@example.com", CreatedAt: Epoch})
	if err != nil || u3.ID != "usr_3" {
		t.Fatalf("EnsureUser(other) = %+v, %v", u3, err)
	}
}

func testConcurrentEnsureUser(t *testing.T, s auth.Store) {
	var mu sync.Mutex
	ids := map[string]int{}
	n := 0
	race(t, racers, func() error {
		mu.Lock()
		n++
		candidate := fmt.Sprintf("usr_%d", n)
		mu.Unlock()
		u, err := s.EnsureUser(context.Background(), auth.User{ID: candidate, Email: "race@example.com", CreatedAt: Epoch})
		if err != nil {
			return err
		}
		mu.Lock()
		ids[u.ID]++
		mu.Unlock()
		return nil
	})
	if len(ids) != 1 {
		t.Fatalf("racing EnsureUser gave %d different ids: %v", len(ids), ids)
	}
}

// race runs f in n goroutines released at once and fails on any error.
func race(t *testing.T, n int, f func() error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			if err := f(); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("racer failed: %v", err)
	}
}

var tallyMu sync.Mutex

// tally counts a win or an ErrNotFound and passes other errors on.
func tally(won, notFound *int, err error, win bool) error {
	tallyMu.Lock()
	defer tallyMu.Unlock()
	switch {
	case errors.Is(err, auth.ErrNotFound):
		*notFound++
		return nil
	case err != nil:
		return err
	case win:
		*won++
	}
	return nil
}
