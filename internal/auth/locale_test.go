package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// TestMailLanguageOrder: the request's choice, then the user's stored
// choice, then the browser's; a resend keeps the challenge's language
// whatever changed since.
func TestMailLanguageOrder(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	send := func(email, locale, fallback string) (*auth.Sent, string) {
		t.Helper()
		sent, err := e.svc.Send(ctx, auth.SendRequest{Email: email, Locale: locale, FallbackLocale: fallback, Caller: web})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		return sent, e.mail.last(t).Locale
	}
	if _, got := send("new@example.com", "", ""); got != "" {
		t.Errorf("nothing chosen: %q, want the default", got)
	}
	if _, got := send("new2@example.com", "", "fr"); got != "fr" {
		t.Errorf("browser only: %q, want fr", got)
	}
	u, err := e.svc.CreateUser(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetUserLocale(ctx, u.ID, "de"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.UserLocale(ctx, u.ID); err != nil || got != "de" {
		t.Fatalf("UserLocale = %q, %v", got, err)
	}
	e.clock.Advance(time.Minute)
	if _, got := send("ada@example.com", "", "fr"); got != "de" {
		t.Errorf("stored choice before the browser's: %q, want de", got)
	}
	e.clock.Advance(time.Minute)
	sent, got := send("ADA@example.com", "ar", "fr")
	if got != "ar" {
		t.Errorf("the request's choice first: %q, want ar", got)
	}
	if err := e.svc.SetUserLocale(ctx, u.ID, "es"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)
	if _, err := e.svc.Resend(ctx, sent.ChallengeID, web); err != nil {
		t.Fatal(err)
	}
	if got := e.mail.last(t).Locale; got != "ar" {
		t.Errorf("resend in %q, want the challenge's ar", got)
	}
	err = e.svc.SetUserLocale(ctx, u.ID, "x-"+string(make([]byte, 40)))
	wantCode(t, err, auth.CodeInvalidRequest)
	err = e.svc.SetUserLocale(ctx, "usr_nobody", "de")
	wantCode(t, err, auth.CodeNotFound)
}
