package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/mailqueue/mailqueuetest"
)

// mustOpenMailQueue opens the store in dir and its mail queue, in the
// store's file (shared) or in a file of its own.
func mustOpenMailQueue(t *testing.T, dir string, shared bool) (*boltstore.MailQueue, func()) {
	t.Helper()
	s, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var q *boltstore.MailQueue
	if shared {
		q, err = boltstore.NewMailQueue(s.DB())
	} else {
		q, err = boltstore.OpenMailQueue(dir, s.DB())
	}
	if err != nil {
		s.Close()
		t.Fatalf("mail queue: %v", err)
	}
	return q, func() {
		if err := q.Close(); err != nil {
			t.Errorf("MailQueue.Close: %v", err)
		}
		s.Close()
	}
}

func opener(shared bool) mailqueuetest.OpenStore {
	return func(t *testing.T) mailqueue.Store {
		q, closeAll := mustOpenMailQueue(t, t.TempDir(), shared)
		t.Cleanup(closeAll)
		return q
	}
}

var layouts = []struct {
	name   string
	shared bool
}{{"OwnFile", false}, {"InTheStoreFile", true}}

func TestMailQueueConformance(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) { mailqueuetest.TestStore(t, opener(l.shared)) })
	}
}

func TestMailQueueDelivery(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) { mailqueuetest.TestDelivery(t, opener(l.shared)) })
	}
}

func TestMailQueueSurvivesRestart(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			dir := t.TempDir()
			mailqueuetest.TestRestart(t, func(t *testing.T) (mailqueue.Store, func()) {
				return mustOpenMailQueue(t, dir, l.shared)
			})
		})
	}
}

// A queue kept in the store's file by an earlier release moves into the
// queue's own file at the next start, jobs, keys and dead letters alike.
func TestMailQueueMovesIntoItsOwnFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, closeOld := mustOpenMailQueue(t, dir, true)
	now := mailqueuetest.Epoch
	a, b, gone := mailqueuetest.NewJob(t, now), mailqueuetest.NewJob(t, now), mailqueuetest.NewJob(t, now)
	b.Key = "challenge-b"
	for _, j := range []*mailqueue.Job{a, b, gone} {
		if _, err := old.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := old.Claim(ctx, now, time.Minute, 3)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("Claim = %d, %v", len(claimed), err)
	}
	for _, c := range claimed {
		if c.ID == gone.ID {
			c.LastError = "550 gone"
			if lost, err := old.Settle(ctx, []mailqueue.Settlement{{Job: c, Outcome: mailqueue.Bury, At: now}}); err != nil || lost[0] != nil {
				t.Fatalf("Bury: %v %v", lost, err)
			}
		}
	}
	closeOld()

	q, closeNew := mustOpenMailQueue(t, dir, false)
	if st, err := q.Stats(ctx); err != nil || st != (mailqueue.Stats{Queued: 2, DeadLetters: 1}) {
		t.Fatalf("Stats after the move = %+v, %v; want 2 queued and 1 dead letter", st, err)
	}
	got, err := q.Claim(ctx, now.Add(time.Hour), time.Minute, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("Claim after the move = %d, %v", len(got), err)
	}
	renewed := mailqueuetest.NewJob(t, now)
	renewed.Key = b.Key
	if replaced, err := q.Enqueue(ctx, renewed); err != nil || !replaced {
		t.Fatalf("the moved job's key: replaced = %v, %v", replaced, err)
	}
	if dead, err := q.DeadLetters(ctx, 10); err != nil || len(dead) != 1 || dead[0].ID != gone.ID {
		t.Fatalf("DeadLetters after the move = %+v, %v", dead, err)
	}
	closeNew()
	// The store's file no longer holds a queue.
	s, err := bolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("mailq_jobs")) != nil {
			t.Error("the store's file still has the mail queue's jobs")
		}
		return nil
	})
}

// A second queue beside the mail queue (webhook events) keeps the same
// contract in buckets of its own, in the same file.
func TestQueueNamespace(t *testing.T) {
	open := func(t *testing.T) (mail, hooks *boltstore.MailQueue) {
		q, closeAll := mustOpenMailQueue(t, t.TempDir(), false)
		t.Cleanup(closeAll)
		h, err := q.Namespace("hookq")
		if err != nil {
			t.Fatalf("Namespace: %v", err)
		}
		return q, h
	}
	mailqueuetest.TestStore(t, func(t *testing.T) mailqueue.Store { _, h := open(t); return h })

	t.Run("SharesNothingWithTheMailQueue", func(t *testing.T) {
		ctx := context.Background()
		q, h := open(t)
		if _, err := h.Enqueue(ctx, mailqueuetest.NewJob(t, mailqueuetest.Epoch)); err != nil {
			t.Fatal(err)
		}
		if st, err := q.Stats(ctx); err != nil || st != (mailqueue.Stats{}) {
			t.Fatalf("the mail queue's Stats = %+v, %v; want it empty", st, err)
		}
		if got, err := q.Claim(ctx, mailqueuetest.Epoch.Add(time.Hour), time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("the mail queue claimed %d webhook jobs (%v)", len(got), err)
		}
		if _, err := q.Namespace("mailq"); err == nil {
			t.Fatal("Namespace(\"mailq\") was allowed: it would be the mail queue itself")
		}
	})
}
