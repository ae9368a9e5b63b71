package events_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/events"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
)

// BenchmarkAudit measures what webhooks add to an action's answer: one
// event sealed and stored durably (Queue.Audit), one at a time and from
// many actions at once (which bbolt's group commit serves together).
func BenchmarkAudit(b *testing.B) {
	for _, store := range []string{"memory", "bolt"} {
		open := func(b *testing.B) mailqueue.Store {
			if store == "memory" {
				return mailqueue.NewMemoryStore()
			}
			dir := b.TempDir()
			s, err := boltstore.Open(dir, boltstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			mq, err := boltstore.OpenMailQueue(dir, s.DB())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { mq.Close(); s.Close() })
			h, err := mq.Namespace("hookq")
			if err != nil {
				b.Fatal(err)
			}
			return h
		}
		e := auth.Event{Kind: auth.EventSessionCreated, UserID: "usr_1", Email: "ada@example.com", SessionID: "s", Method: "code"}
		for _, parallel := range []bool{false, true} {
			name := store + "/one-at-a-time"
			if parallel {
				name = store + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				q, err := events.New(open(b), events.Options{Key: events.KeyFromSecret(strings.Repeat("s", 32))})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if parallel {
					b.SetParallelism(16)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							q.Audit(ctx, e)
						}
					})
				} else {
					for b.Loop() {
						q.Audit(ctx, e)
					}
				}
				if q.Held() != 0 {
					b.Fatalf("%d events not stored", q.Held())
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
