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
	prefix := "latchtest:" + rand.Text()[:12] + ":"
	open := func(t *testing.T) (mailqueue.Store, func()) {
		t.Helper()
		s, err := redisstore.New(redisstore.Options{URL: url, KeyPrefix: prefix})
		if err != nil {
			t.Fatalf("redisstore.New: %v", err)
		}
		return redisstore.NewMailQueue(s.Client(), s.Prefix()), func() { s.Close() }
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
			s.Client().Unlink(ctx, prefix+"{mailq}:"+k)
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
