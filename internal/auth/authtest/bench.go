package authtest

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// benchParallelism is goroutines per CPU in the parallel benchmarks: many
// requests in flight, as under load, so that stores that group commits
// (bbolt's Batch) or pipeline round trips show it.
const benchParallelism = 16

// BenchmarkEngine measures the engine's operations on a backend, each
// with many callers at once: a send, a verify (right code, new user,
// session), and Authenticate (the /api/me hot path).
func BenchmarkEngine(b *testing.B, open func(b *testing.B) kv.Store) {
	noLimits := func(c *auth.Config) {
		c.EmailSendLimit, c.EmailSendGlobalLimit = 1<<30, 1<<30
		c.RequesterFailureLimit, c.RequesterMailLimit = -1, -1
	}
	b.Run("Send", func(b *testing.B) {
		e := NewEnv(b, open(b), noLimits)
		var next atomic.Int64
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				email := "b" + strconv.FormatInt(next.Add(1), 10) + "@example.com"
				if _, err := e.Svc.Send(ctx, auth.SendRequest{Email: email, Caller: home}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("VerifyCode", func(b *testing.B) {
		e := NewEnv(b, open(b), noLimits)
		type pending struct{ id, code string }
		ps := make([]pending, b.N)
		for i := range ps {
			sent, err := e.Svc.Send(ctx, auth.SendRequest{Email: fmt.Sprintf("v%d@example.com", i), Caller: home})
			if err != nil {
				b.Fatal(err)
			}
			ps[i] = pending{sent.ChallengeID, e.Mail.Last(b, "").Code}
		}
		var next atomic.Int64
		b.ResetTimer()
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p := ps[next.Add(1)-1]
				login, err := e.Svc.VerifyCode(ctx, p.id, p.code, home)
				if err == nil {
					_, _, err = e.Svc.StartSession(ctx, login.User)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Authenticate", func(b *testing.B) {
		e := NewEnv(b, open(b), nil)
		tokens := make([]string, 1000)
		for i := range tokens {
			tok, _, err := e.Svc.StartSession(ctx, auth.User{ID: "usr_bench" + strconv.Itoa(i), Email: "a@example.com"})
			if err != nil {
				b.Fatal(err)
			}
			tokens[i] = tok
		}
		var next atomic.Int64
		b.ResetTimer()
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.Svc.Authenticate(ctx, tokens[next.Add(1)%int64(len(tokens))]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
