package boltstore_test

import (
	"testing"

	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/mailqueue/mailqueuetest"
)

// mustOpenMailQueue opens the store in dir and its mail queue.
func mustOpenMailQueue(t *testing.T, dir string) (*boltstore.Store, *boltstore.MailQueue) {
	t.Helper()
	s, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	q, err := boltstore.NewMailQueue(s.DB())
	if err != nil {
		s.Close()
		t.Fatalf("NewMailQueue: %v", err)
	}
	return s, q
}

func openMailQueue(t *testing.T) mailqueue.Store {
	s, q := mustOpenMailQueue(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	return q
}

func TestMailQueueConformance(t *testing.T) {
	mailqueuetest.TestStore(t, openMailQueue)
}

func TestMailQueueDelivery(t *testing.T) {
	mailqueuetest.TestDelivery(t, openMailQueue)
}

func TestMailQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	mailqueuetest.TestRestart(t, func(t *testing.T) (mailqueue.Store, func()) {
		s, q := mustOpenMailQueue(t, dir)
		return q, func() { s.Close() }
	})
}
