package redisstore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/mailqueue/mailqueuetest"
	"github.com/latch-auth/latch/internal/redisstore"
)

// mailQueueOpener returns a function that opens the mail queue under one
// fresh prefix on url (each call a new client, as after a restart),
// deleting the queue's keys when the test ends.
func mailQueueOpener(t *testing.T, url string) func(t *testing.T) (mailqueue.Store, func()) {
	t.Helper()
	return queueOpener(t, url, "mailq")
}

// queueOpener is mailQueueOpener for the queue called name.
func queueOpener(t *testing.T, url, name string) func(t *testing.T) (mailqueue.Store, func()) {
	t.Helper()
	prefix := "latchtest:" + rand.Text()[:12] + ":"
	open := func(t *testing.T) (mailqueue.Store, func()) {
		t.Helper()
		s, err := redisstore.New(redisstore.Options{URL: url, KeyPrefix: prefix})
		if err != nil {
			t.Fatalf("redisstore.New: %v", err)
		}
		if name == "mailq" {
			return redisstore.NewMailQueue(s.Client(), s.Prefix()), func() { s.Close() }
		}
		return redisstore.NewQueue(s.Client(), s.Prefix(), name), func() { s.Close() }
	}
	t.Cleanup(func() {
		s, err := redisstore.New(redisstore.Options{URL: url, KeyPrefix: prefix})
		if err != nil {
			return
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range []string{"due", "jobs", "dead", "deadinfo"} {
			s.Client().Unlink(ctx, prefix+"{"+name+"}:"+k)
		}
	})
	return open
}

// mailQueueStores opens a fresh, empty mail queue for each test.
func mailQueueStores(url string) mailqueuetest.OpenStore {
	return func(t *testing.T) mailqueue.Store {
		s, closeStore := mailQueueOpener(t, url)(t)
		t.Cleanup(closeStore)
		return s
	}
}

func TestMailQueueConformance(t *testing.T) {
	mailqueuetest.TestStore(t, mailQueueStores(redisURL(t)))
}

func TestMailQueueDelivery(t *testing.T) {
	mailqueuetest.TestDelivery(t, mailQueueStores(redisURL(t)))
}

func TestMailQueueSurvivesRestart(t *testing.T) {
	mailqueuetest.TestRestart(t, mailQueueOpener(t, redisURL(t)))
}

func TestMailQueueCluster(t *testing.T) {
	url := clusterURL(t)
	mailqueuetest.TestStore(t, mailQueueStores(url))
	mailqueuetest.TestDelivery(t, mailQueueStores(url))
}

// A second queue beside the mail queue (webhook events) keeps the same
// contract under keys of its own.
func TestQueueNamespace(t *testing.T) {
	url := redisURL(t)
	mailqueuetest.TestStore(t, func(t *testing.T) mailqueue.Store {
		s, closeStore := queueOpener(t, url, "hookq")(t)
		t.Cleanup(closeStore)
		return s
	})
	t.Run("SharesNothingWithTheMailQueue", func(t *testing.T) {
		ctx := context.Background()
		s, err := redisstore.New(redisstore.Options{URL: url, KeyPrefix: "latchtest:" + rand.Text()[:12] + ":"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		mq, hq := redisstore.NewMailQueue(s.Client(), s.Prefix()), redisstore.NewQueue(s.Client(), s.Prefix(), "hookq")
		j := mailqueuetest.NewJob(t, mailqueuetest.Epoch)
		if _, err := hq.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
		defer s.Client().Unlink(ctx, s.Prefix()+"{hookq}:due", s.Prefix()+"{hookq}:jobs")
		if st, err := mq.Stats(ctx); err != nil || st != (mailqueue.Stats{}) {
			t.Fatalf("the mail queue's Stats = %+v, %v; want it empty", st, err)
		}
		if st, err := hq.Stats(ctx); err != nil || st.Queued != 1 {
			t.Fatalf("the webhook queue's Stats = %+v, %v; want 1 queued", st, err)
		}
	})
}
