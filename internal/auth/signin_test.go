package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/memstore"
)

type kinds struct{ got []auth.Event }

func (k *kinds) Audit(_ context.Context, e auth.Event) { k.got = append(k.got, e) }

// TestSignInUser: a proof judged elsewhere (a passkey) signs in a user who
// exists and is not disabled, records the sign-in and audits it under
// its method; anyone else gets expired, audited as a failure.
func TestSignInUser(t *testing.T) {
	ctx := context.Background()
	audit := &kinds{}
	e := authtest.NewEnv(t, memstore.New(), func(c *auth.Config) { c.Auditor = audit })
	u, err := e.Svc.CreateUser(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Hour)
	login, err := e.Svc.SignInUser(ctx, u.ID, "passkey")
	if err != nil {
		t.Fatal(err)
	}
	if login.User.ID != u.ID || login.User.Email != "ada@example.com" || login.Method != "passkey" {
		t.Fatalf("login = %+v", login)
	}
	if got, _ := e.Svc.User(ctx, u.ID); !got.LastSignInAt.Equal(e.Clock.Now()) {
		t.Fatalf("last sign-in %v, want now", got.LastSignInAt)
	}
	last := audit.got[len(audit.got)-1]
	if last.Kind != auth.EventLoginSucceeded || last.Method != "passkey" || last.UserID != u.ID {
		t.Fatalf("audited %+v, want login_succeeded by passkey", last)
	}

	if _, err := e.Svc.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{u.ID, "usr_nobody"} {
		_, err := e.Svc.SignInUser(ctx, id, "passkey")
		authtest.WantCode(t, err, auth.CodeExpired)
		last := audit.got[len(audit.got)-1]
		if last.Kind != auth.EventLoginFailed || last.Method != "passkey" {
			t.Fatalf("audited %+v, want login_failed by passkey", last)
		}
	}
}
