package mailqueue_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/mailqueue/mailqueuetest"
	"github.com/latch-auth/latch/internal/mail/smtpmail"
	"github.com/latch-auth/latch/internal/mail/smtpmail/smtptest"
)

// BenchmarkQueuedDelivery measures delivery of queued mail to a local SMTP
// server, in mails per second: a new connection per mail against
// connections kept open and reused, on the memory and the bbolt store.
func BenchmarkQueuedDelivery(b *testing.B) {
	for _, c := range []struct {
		store   string
		tls     smtptest.Security
		reuse   bool
		workers int
	}{
		{"memory", smtptest.Plain, false, 1},
		{"memory", smtptest.Plain, true, 1},
		{"memory", smtptest.StartTLS, false, 1},
		{"memory", smtptest.StartTLS, true, 1},
		{"memory", smtptest.StartTLS, false, 4},
		{"memory", smtptest.StartTLS, true, 4},
		{"bolt", smtptest.StartTLS, false, 4},
		{"bolt", smtptest.StartTLS, true, 4},
	} {
		conn := "conn=per-mail"
		if c.reuse {
			conn = "conn=reused"
		}
		tls := "plain"
		if c.tls == smtptest.StartTLS {
			tls = "starttls"
		}
		name := fmt.Sprintf("store=%s/%s/%s/workers=%d", c.store, tls, conn, c.workers)
		b.Run(name, func(b *testing.B) {
			var store mailqueue.Store = mailqueue.NewMemoryStore()
			if c.store == "bolt" {
				dir := b.TempDir()
				s, err := boltstore.Open(dir, boltstore.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				mq, err := boltstore.OpenMailQueue(dir, s.DB())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { mq.Close() })
				store = mq
			}
			srv := smtptest.Start(b, smtptest.Options{Security: c.tls})
			q, err := mailqueue.New(store, mailqueue.Options{Key: mailqueuetest.Key, Domain: "latch.test", Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			mails := make(chan struct{})
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for range mails {
						if err := q.SendLogin(context.Background(), mailqueuetest.NewLoginMail("bench@example.com")); err != nil {
							b.Error(err)
						}
					}
				})
			}
			for range b.N {
				mails <- struct{}{}
			}
			close(mails)
			wg.Wait()

			tr, err := smtpmail.New(smtpmail.Options{URL: srv.URL(""), TLSConfig: srv.ClientTLS(), NoReuse: !c.reuse, MaxIdle: c.workers})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			w, err := mailqueue.NewWorker(q, mustRenderer(b), tr, mailqueue.WorkerOptions{Concurrency: c.workers, MaxConcurrency: c.workers})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			w.Start(context.Background())
			srv.WaitMessages(b, b.N, 5*time.Minute)
			elapsed := time.Since(start)
			b.StopTimer()
			w.Close()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "mails/s")
			b.ReportMetric(float64(srv.Conns()), "conns")
		})
	}
}
