package auth_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/memstore"
)

// The engine benchmarks run over memstore, so they measure the engine's
// own work (randomness, HMACs, encoding) without a store's I/O.

type nopMailer struct{}

func (nopMailer) SendLogin(context.Context, *auth.LoginMail) error { return nil }

func benchService(b *testing.B) (*auth.Service, *memstore.Store) {
	keys, _ := auth.NewKeys(secret)
	store := memstore.New()
	svc, err := auth.NewService(auth.Config{LinkURL: "https://login.example.com/v", Keys: keys, EmailSendLimit: 1 << 30}, store, store, nopMailer{})
	if err != nil {
		b.Fatal(err)
	}
	return svc, store
}

func BenchmarkSend(b *testing.B) {
	svc, _ := benchService(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := svc.Send(ctx, auth.SendRequest{Email: "user" + strconv.Itoa(i) + "@example.com"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCodeAndStartSession(b *testing.B) {
	keys, _ := auth.NewKeys(secret)
	store := memstore.New()
	mail := &mailbox{}
	svc, _ := auth.NewService(auth.Config{LinkURL: "https://login.example.com/v", Keys: keys, EmailSendLimit: 1 << 30}, store, store, mail)
	ctx := context.Background()
	ids := make([]string, b.N)
	codes := make([]string, b.N)
	for i := range b.N {
		sent, err := svc.Send(ctx, auth.SendRequest{Email: "user" + strconv.Itoa(i) + "@example.com"})
		if err != nil {
			b.Fatal(err)
		}
		ids[i], codes[i] = sent.ChallengeID, mail.sent[len(mail.sent)-1].Code
	}
	b.ResetTimer()
	for i := range b.N {
		login, err := svc.VerifyCode(ctx, ids[i], codes[i])
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := svc.StartSession(ctx, login.User); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	svc, _ := benchService(b)
	ctx := context.Background()
	token, _, err := svc.StartSession(ctx, auth.User{ID: "usr_1", Email: "ada@example.com"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
