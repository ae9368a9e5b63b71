// Package mailqueuetest is the conformance suite every mailqueue.Store
// passes, and the delivery suite that runs a store end to end against a
// real SMTP server in the test process.
package mailqueuetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/mail/mailqueue"
)

// OpenStore returns a new, empty store for one test.
type OpenStore func(t *testing.T) mailqueue.Store

// Epoch is the suite's "now": whole milliseconds, as every store keeps.
var Epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestStore checks the Store contract.
func TestStore(t *testing.T, open OpenStore) {
	t.Run("EnqueueClaimAck", func(t *testing.T) { testEnqueueClaimAck(t, open(t)) })
	t.Run("ClaimOrderAndLimit", func(t *testing.T) { testClaimOrderAndLimit(t, open(t)) })
	t.Run("LeaseHidesJobUntilItEnds", func(t *testing.T) { testLease(t, open(t)) })
	t.Run("StaleClaimIsFenced", func(t *testing.T) { testFence(t, open(t)) })
	t.Run("Retry", func(t *testing.T) { testRetry(t, open(t)) })
	t.Run("Bury", func(t *testing.T) { testBury(t, open(t)) })
	t.Run("DeadLettersAreCapped", func(t *testing.T) { testDeadLetterCap(t, open(t)) })
	t.Run("ConcurrentClaimsShareNothing", func(t *testing.T) { testConcurrentClaims(t, open(t)) })
	t.Run("SettleEndsManyClaimsAtOnce", func(t *testing.T) { testSettleMany(t, open(t)) })
	t.Run("SettleRefusesUnknownOutcomes", func(t *testing.T) { testSettleChecks(t, open(t)) })
	t.Run("EnqueueReplacesTheJobOfItsKey", func(t *testing.T) { testReplace(t, open(t)) })
	t.Run("ReplacingAClaimedJobFencesTheClaim", func(t *testing.T) { testReplaceClaimed(t, open(t)) })
	t.Run("BuryKeepsThePayloadOnlyWhenAsked", func(t *testing.T) { testBuryKeep(t, open(t)) })
	t.Run("ReviveQueuesAKeptDeadLetterOnce", func(t *testing.T) { testRevive(t, open(t)) })
}

// NewJob returns a job due at due with a random ID and payload.
func NewJob(t testing.TB, due time.Time) *mailqueue.Job {
	t.Helper()
	p := make([]byte, 64)
	rand.Read(p)
	p[0] = 0 // binary payloads must round-trip
	return &mailqueue.Job{ID: rand.Text(), Payload: p, Due: due, Expires: due.Add(5 * time.Minute)}
}

func mustEnqueue(t *testing.T, s mailqueue.Store, jobs ...*mailqueue.Job) {
	t.Helper()
	for _, j := range jobs {
		if _, err := s.Enqueue(context.Background(), j); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
}

// mustReplace enqueues j and checks whether it replaced a job.
func mustReplace(t *testing.T, s mailqueue.Store, j *mailqueue.Job, want bool) {
	t.Helper()
	replaced, err := s.Enqueue(context.Background(), j)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if replaced != want {
		t.Fatalf("Enqueue of %s (key %q) replaced = %v, want %v", j.ID, j.Key, replaced, want)
	}
}

// settle ends one claim and returns its error: the store's, or ErrLeaseLost.
func settle(s mailqueue.Store, j *mailqueue.Job, o mailqueue.Outcome, at time.Time) error {
	lost, err := s.Settle(context.Background(), []mailqueue.Settlement{{Job: j, Outcome: o, At: at}})
	if err != nil {
		return err
	}
	if len(lost) != 1 {
		return fmt.Errorf("settle returned %d results for one settlement", len(lost))
	}
	return lost[0]
}

func ack(s mailqueue.Store, j *mailqueue.Job) error { return settle(s, j, mailqueue.Ack, time.Time{}) }
func retry(s mailqueue.Store, j *mailqueue.Job) error {
	return settle(s, j, mailqueue.Retry, time.Time{})
}
func bury(s mailqueue.Store, j *mailqueue.Job, at time.Time) error {
	return settle(s, j, mailqueue.Bury, at)
}

func mustClaim(t *testing.T, s mailqueue.Store, now time.Time, lease time.Duration, n int) []*mailqueue.Job {
	t.Helper()
	jobs, err := s.Claim(context.Background(), now, lease, n)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return jobs
}

func mustStats(t *testing.T, s mailqueue.Store, want mailqueue.Stats) {
	t.Helper()
	got, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

func ids(jobs []*mailqueue.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func testEnqueueClaimAck(t *testing.T, s mailqueue.Store) {
	mustStats(t, s, mailqueue.Stats{})
	j := NewJob(t, Epoch)
	mustEnqueue(t, s, j)
	mustStats(t, s, mailqueue.Stats{Queued: 1})
	if got := mustClaim(t, s, Epoch.Add(-time.Millisecond), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %v before it was due", ids(got))
	}
	got := mustClaim(t, s, Epoch, time.Minute, 10)
	if len(got) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(got))
	}
	c := got[0]
	if c.ID != j.ID || !bytes.Equal(c.Payload, j.Payload) || c.Attempts != 1 || !c.Expires.Equal(j.Expires) || c.LastError != "" {
		t.Fatalf("claimed %+v, want %+v with Attempts 1", c, j)
	}
	if !c.Due.Equal(Epoch.Add(time.Minute)) {
		t.Fatalf("claimed job due %v, want the lease's end %v", c.Due, Epoch.Add(time.Minute))
	}
	if err := ack(s, c); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	mustStats(t, s, mailqueue.Stats{})
	if got := mustClaim(t, s, Epoch.Add(time.Hour), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %v after Ack", ids(got))
	}
	if err := ack(s, c); !errors.Is(err, mailqueue.ErrLeaseLost) {
		t.Fatalf("second Ack: %v, want ErrLeaseLost", err)
	}
}

func testClaimOrderAndLimit(t *testing.T, s mailqueue.Store) {
	var jobs []*mailqueue.Job
	for _, off := range []time.Duration{3, 1, 4, 2, 9} {
		jobs = append(jobs, NewJob(t, Epoch.Add(off*time.Second)))
	}
	mustEnqueue(t, s, jobs...)
	got := mustClaim(t, s, Epoch.Add(5*time.Second), time.Minute, 3)
	want := []string{jobs[1].ID, jobs[3].ID, jobs[0].ID} // due at 1s, 2s, 3s
	if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Fatalf("claimed %v, want the 3 earliest due %v", ids(got), want)
	}
	got = mustClaim(t, s, Epoch.Add(5*time.Second), time.Minute, 3)
	if len(got) != 1 || got[0].ID != jobs[2].ID {
		t.Fatalf("second claim %v, want only the one due at 4s (%s)", ids(got), jobs[2].ID)
	}
	mustStats(t, s, mailqueue.Stats{Queued: 5})
}

func testLease(t *testing.T, s mailqueue.Store) {
	j := NewJob(t, Epoch)
	mustEnqueue(t, s, j)
	first := mustClaim(t, s, Epoch, time.Minute, 1)
	if len(first) != 1 {
		t.Fatal("no claim")
	}
	if got := mustClaim(t, s, Epoch.Add(59*time.Second), time.Minute, 1); len(got) != 0 {
		t.Fatal("a leased job was claimed again before its lease ended")
	}
	again := mustClaim(t, s, Epoch.Add(time.Minute), time.Minute, 1)
	if len(again) != 1 || again[0].ID != j.ID || again[0].Attempts != 2 {
		t.Fatalf("after the lease: claimed %+v, want the job again with Attempts 2", again)
	}
}

func testFence(t *testing.T, s mailqueue.Store) {
	j := NewJob(t, Epoch)
	mustEnqueue(t, s, j)
	stale := mustClaim(t, s, Epoch, time.Second, 1)[0]
	current := mustClaim(t, s, Epoch.Add(time.Second), time.Minute, 1)[0]
	stale.Due = Epoch.Add(time.Hour)
	for name, op := range map[string]func() error{
		"Ack":   func() error { return ack(s, stale) },
		"Retry": func() error { return retry(s, stale) },
		"Bury":  func() error { return bury(s, stale, Epoch) },
	} {
		if err := op(); !errors.Is(err, mailqueue.ErrLeaseLost) {
			t.Fatalf("%s with a stale claim: %v, want ErrLeaseLost", name, err)
		}
	}
	mustStats(t, s, mailqueue.Stats{Queued: 1})
	if err := ack(s, current); err != nil {
		t.Fatalf("Ack with the current claim: %v", err)
	}
	unknown := NewJob(t, Epoch)
	unknown.Attempts = 1
	if err := retry(s, unknown); !errors.Is(err, mailqueue.ErrLeaseLost) {
		t.Fatalf("Retry of an unknown job: %v, want ErrLeaseLost", err)
	}
	mustStats(t, s, mailqueue.Stats{})
}

func testRetry(t *testing.T, s mailqueue.Store) {
	j := NewJob(t, Epoch)
	mustEnqueue(t, s, j)
	c := mustClaim(t, s, Epoch, time.Minute, 1)[0]
	c.Due = Epoch.Add(3 * time.Second)
	c.LastError = "451 4.3.0 try again"
	if err := retry(s, c); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if got := mustClaim(t, s, Epoch.Add(2999*time.Millisecond), time.Minute, 1); len(got) != 0 {
		t.Fatal("claimed before the retry was due")
	}
	got := mustClaim(t, s, Epoch.Add(3*time.Second), time.Minute, 1)
	if len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != c.LastError || !bytes.Equal(got[0].Payload, j.Payload) {
		t.Fatalf("claimed after retry: %+v, want Attempts 2 and the last error", got)
	}
}

func testBury(t *testing.T, s mailqueue.Store) {
	ctx := context.Background()
	j, other := NewJob(t, Epoch), NewJob(t, Epoch.Add(time.Second))
	mustEnqueue(t, s, j, other)
	c := mustClaim(t, s, Epoch, time.Minute, 1)[0]
	c.LastError = "550 5.1.1 no such user"
	at := Epoch.Add(2 * time.Second)
	if err := bury(s, c, at); err != nil {
		t.Fatalf("Bury: %v", err)
	}
	mustStats(t, s, mailqueue.Stats{Queued: 1, DeadLetters: 1})
	dead, err := s.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	want := mailqueue.DeadLetter{ID: j.ID, Attempts: 1, LastError: c.LastError, At: at}
	if len(dead) != 1 || dead[0].ID != want.ID || dead[0].Attempts != 1 || dead[0].LastError != want.LastError || !dead[0].At.Equal(at) {
		t.Fatalf("DeadLetters = %+v, want [%+v]", dead, want)
	}
	if got := mustClaim(t, s, Epoch.Add(time.Hour), time.Minute, 10); len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("claimed %v after Bury, want only the other job", ids(got))
	}
}

func testDeadLetterCap(t *testing.T, s mailqueue.Store) {
	ctx := context.Background()
	n := mailqueue.MaxDeadLetters + 10
	jobs := make([]*mailqueue.Job, n)
	for i := range jobs {
		jobs[i] = NewJob(t, Epoch)
	}
	parallel(t, n, func(i int) error { _, err := s.Enqueue(ctx, jobs[i]); return err })
	claimed := mustClaim(t, s, Epoch, time.Minute, n)
	if len(claimed) != n {
		t.Fatalf("claimed %d, want %d", len(claimed), n)
	}
	// Bury in the order of the claim, one millisecond apart, some one by
	// one and the rest in settlements of 100.
	parallel(t, 100, func(i int) error { return bury(s, claimed[i], Epoch.Add(time.Duration(i)*time.Millisecond)) })
	for from := 100; from < n; from += 100 {
		var ss []mailqueue.Settlement
		for i := from; i < min(from+100, n); i++ {
			ss = append(ss, mailqueue.Settlement{Job: claimed[i], Outcome: mailqueue.Bury, At: Epoch.Add(time.Duration(i) * time.Millisecond)})
		}
		if lost, err := s.Settle(ctx, ss); err != nil || slices.ContainsFunc(lost, func(e error) bool { return e != nil }) {
			t.Fatalf("Settle: %v, %v", lost, err)
		}
	}
	mustStats(t, s, mailqueue.Stats{DeadLetters: mailqueue.MaxDeadLetters})
	dead, err := s.DeadLetters(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != mailqueue.MaxDeadLetters || dead[0].ID != claimed[n-1].ID || dead[len(dead)-1].ID != claimed[10].ID {
		t.Fatalf("kept %d dead letters from %s to %s, want the newest %d (%s to %s)",
			len(dead), dead[0].ID, dead[len(dead)-1].ID, mailqueue.MaxDeadLetters, claimed[n-1].ID, claimed[10].ID)
	}
	if few, err := s.DeadLetters(ctx, 3); err != nil || len(few) != 3 || few[0].ID != claimed[n-1].ID {
		t.Fatalf("DeadLetters(3) = %v, %v; want the 3 newest", few, err)
	}
}

func testConcurrentClaims(t *testing.T, s mailqueue.Store) {
	ctx := context.Background()
	const jobs, claimers = 60, 8
	for range jobs {
		mustEnqueue(t, s, NewJob(t, Epoch))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	parallel(t, claimers, func(int) error {
		for {
			got, err := s.Claim(ctx, Epoch, time.Minute, 3)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			mu.Lock()
			for _, j := range got {
				seen[j.ID]++
			}
			mu.Unlock()
		}
	})
	if len(seen) != jobs {
		t.Fatalf("%d jobs claimed, want %d", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("job %s claimed %d times under one lease", id, n)
		}
	}
}

func testSettleMany(t *testing.T, s mailqueue.Store) {
	ctx := context.Background()
	var jobs []*mailqueue.Job
	for i := range 6 {
		jobs = append(jobs, NewJob(t, Epoch.Add(time.Duration(i)*time.Millisecond)))
	}
	mustEnqueue(t, s, jobs...)
	stale := mustClaim(t, s, Epoch.Add(time.Second), time.Second, 1)[0] // jobs[0], lease ends at 2s
	c := mustClaim(t, s, Epoch.Add(2*time.Second), 2*time.Hour, 10)
	if len(c) != 6 || c[5].ID != jobs[0].ID || c[5].Attempts != 2 {
		t.Fatalf("claimed %v, want all six, %s again last", ids(c), jobs[0].ID)
	}
	c[1].Due, c[1].LastError = Epoch.Add(time.Hour), "451 4.7.0 later"
	c[2].LastError = "550 5.1.1 gone"
	at := Epoch.Add(3 * time.Second)
	lost, err := s.Settle(ctx, []mailqueue.Settlement{
		{Job: stale, Outcome: mailqueue.Ack},  // fenced off by the second claim
		{Job: c[0], Outcome: mailqueue.Ack},   // delivered
		{Job: c[1], Outcome: mailqueue.Retry}, // again in an hour
		{Job: c[2], Outcome: mailqueue.Bury, At: at},
		{Job: c[3], Outcome: mailqueue.Ack},
		{Job: c[3], Outcome: mailqueue.Ack}, // the same claim twice: already gone
	})
	if err != nil {
		t.Fatalf("Settle: %v", err)
	}
	want := []error{mailqueue.ErrLeaseLost, nil, nil, nil, nil, mailqueue.ErrLeaseLost}
	if len(lost) != len(want) {
		t.Fatalf("Settle returned %d results, want %d", len(lost), len(want))
	}
	for i := range want {
		if !errors.Is(lost[i], want[i]) || (want[i] == nil) != (lost[i] == nil) {
			t.Fatalf("settlement %d: %v, want %v", i, lost[i], want[i])
		}
	}
	// Left: c[1] (to retry), c[4] and c[5] (claimed).
	mustStats(t, s, mailqueue.Stats{Queued: 3, DeadLetters: 1})
	if dead, err := s.DeadLetters(ctx, 10); err != nil || len(dead) != 1 || dead[0].ID != c[2].ID || dead[0].LastError != c[2].LastError || dead[0].Attempts != 1 || !dead[0].At.Equal(at) {
		t.Fatalf("DeadLetters = %+v, %v; want %s buried at %v", dead, err, c[2].ID, at)
	}
	if got := mustClaim(t, s, Epoch.Add(time.Hour-time.Millisecond), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %v before the retry was due", ids(got))
	}
	got := mustClaim(t, s, Epoch.Add(time.Hour), time.Minute, 10)
	if len(got) != 1 || got[0].ID != c[1].ID || got[0].LastError != c[1].LastError || got[0].Attempts != 2 {
		t.Fatalf("claimed %+v an hour later, want only the retried %s with its last error", got, c[1].ID)
	}
	if got := mustClaim(t, s, Epoch.Add(3*time.Hour), time.Minute, 10); len(got) != 3 {
		t.Fatalf("claimed %v after the leases, want the three left", ids(got))
	}
	if lost, err := s.Settle(ctx, nil); err != nil || len(lost) != 0 {
		t.Fatalf("Settle(nil) = %v, %v", lost, err)
	}
}

func testSettleChecks(t *testing.T, s mailqueue.Store) {
	mustEnqueue(t, s, NewJob(t, Epoch), NewJob(t, Epoch))
	c := mustClaim(t, s, Epoch, time.Minute, 2)
	_, err := s.Settle(context.Background(), []mailqueue.Settlement{{Job: c[0], Outcome: mailqueue.Ack}, {Job: c[1], Outcome: 99}})
	if err == nil {
		t.Fatal("Settle accepted an unknown outcome")
	}
	mustStats(t, s, mailqueue.Stats{Queued: 2}) // the valid Ack beside it was not applied
	if _, err := s.Settle(context.Background(), []mailqueue.Settlement{{Outcome: mailqueue.Ack}}); err == nil {
		t.Fatal("Settle accepted a settlement without a job")
	}
}

// keyed returns a job due at due under key.
func keyed(t *testing.T, due time.Time, key string) *mailqueue.Job {
	j := NewJob(t, due)
	j.Key = key
	return j
}

func testReplace(t *testing.T, s mailqueue.Store) {
	first, other := keyed(t, Epoch, "challenge-a"), keyed(t, Epoch, "challenge-b")
	mustReplace(t, s, first, false)
	mustReplace(t, s, other, false)
	mustReplace(t, s, NewJob(t, Epoch), false) // no key: replaces nothing
	second := keyed(t, Epoch.Add(time.Second), "challenge-a")
	mustReplace(t, s, second, true)
	mustStats(t, s, mailqueue.Stats{Queued: 3})
	got := mustClaim(t, s, Epoch.Add(time.Minute), time.Minute, 10)
	if len(got) != 3 || slices.Contains(ids(got), first.ID) || !slices.Contains(ids(got), second.ID) {
		t.Fatalf("claimed %v, want the replacement %s and not %s", ids(got), second.ID, first.ID)
	}
	for _, j := range got {
		if j.ID == second.ID && (j.Key != second.Key || !bytes.Equal(j.Payload, second.Payload)) {
			t.Fatalf("claimed %+v, want the key %q and payload kept", j, second.Key)
		}
	}
	// Once the keyed job is delivered its key is free: the next mail of
	// the same key replaces nothing.
	for _, j := range got {
		if err := ack(s, j); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	mustReplace(t, s, keyed(t, Epoch, "challenge-a"), false)
	// A job waiting for its retry is still queued, and is replaced.
	c := mustClaim(t, s, Epoch.Add(time.Minute), time.Minute, 1)[0]
	c.Due = Epoch.Add(time.Hour)
	if err := retry(s, c); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	mustReplace(t, s, keyed(t, Epoch, "challenge-a"), true)
	mustStats(t, s, mailqueue.Stats{Queued: 1})
}

func testReplaceClaimed(t *testing.T, s mailqueue.Store) {
	old := keyed(t, Epoch, "challenge-c")
	mustEnqueue(t, s, old)
	c := mustClaim(t, s, Epoch, time.Minute, 1)[0]
	renewed := keyed(t, Epoch.Add(time.Second), "challenge-c")
	mustReplace(t, s, renewed, true)
	if err := retry(s, c); !errors.Is(err, mailqueue.ErrLeaseLost) {
		t.Fatalf("Retry of the replaced job's claim: %v, want ErrLeaseLost", err)
	}
	mustStats(t, s, mailqueue.Stats{Queued: 1})
	got := mustClaim(t, s, Epoch.Add(time.Hour), time.Minute, 10)
	if len(got) != 1 || got[0].ID != renewed.ID {
		t.Fatalf("claimed %v, want only the renewed %s", ids(got), renewed.ID)
	}
	// The fenced claim's key cleanup must not free the renewed job's key.
	if err := ack(s, c); !errors.Is(err, mailqueue.ErrLeaseLost) {
		t.Fatalf("Ack of the replaced job's claim: %v", err)
	}
	mustReplace(t, s, keyed(t, Epoch, "challenge-c"), true)
}

// parallel runs f(0..n-1) on a few goroutines and fails on the first error.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(n, 32) {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

func testBuryKeep(t *testing.T, s mailqueue.Store) {
	ctx := context.Background()
	kept, dropped := NewJob(t, Epoch), NewJob(t, Epoch)
	mustEnqueue(t, s, kept, dropped)
	var ss []mailqueue.Settlement
	for _, c := range mustClaim(t, s, Epoch, time.Minute, 2) {
		c.LastError = "410 gone"
		ss = append(ss, mailqueue.Settlement{Job: c, Outcome: mailqueue.Bury, At: Epoch.Add(time.Second), Keep: c.ID == kept.ID})
	}
	if lost, err := s.Settle(ctx, ss); err != nil || lost[0] != nil || lost[1] != nil {
		t.Fatalf("Settle: %v, %v", lost, err)
	}
	dead, err := s.DeadLetters(ctx, 10)
	if err != nil || len(dead) != 2 {
		t.Fatalf("DeadLetters = %+v, %v; want 2", dead, err)
	}
	for _, d := range dead {
		switch d.ID {
		case kept.ID:
			if !bytes.Equal(d.Payload, kept.Payload) || d.LastError != "410 gone" || d.Attempts != 1 {
				t.Errorf("the dead letter buried with Keep: %+v, want its payload, attempts and error", d)
			}
		case dropped.ID:
			if d.Payload != nil {
				t.Errorf("a dead letter buried without Keep kept its payload")
			}
		default:
			t.Errorf("unknown dead letter %s", d.ID)
		}
	}
}

func testRevive(t *testing.T, s mailqueue.Store) {
	ctx := context.Background()
	kept, dropped := NewJob(t, Epoch), NewJob(t, Epoch)
	mustEnqueue(t, s, kept, dropped)
	for _, c := range mustClaim(t, s, Epoch, time.Minute, 2) {
		c.LastError = "503 down"
		if lost, err := s.Settle(ctx, []mailqueue.Settlement{{Job: c, Outcome: mailqueue.Bury, At: Epoch, Keep: c.ID == kept.ID}}); err != nil || lost[0] != nil {
			t.Fatalf("Bury: %v, %v", lost, err)
		}
	}
	for _, id := range []string{dropped.ID, "no-such-job"} {
		if err := s.Revive(ctx, id, Epoch); !errors.Is(err, mailqueue.ErrNoDeadLetter) {
			t.Fatalf("Revive(%s) = %v, want ErrNoDeadLetter", id, err)
		}
	}
	mustStats(t, s, mailqueue.Stats{DeadLetters: 2})

	due := Epoch.Add(time.Minute)
	if err := s.Revive(ctx, kept.ID, due); err != nil {
		t.Fatalf("Revive: %v", err)
	}
	if err := s.Revive(ctx, kept.ID, due); !errors.Is(err, mailqueue.ErrNoDeadLetter) {
		t.Fatalf("a second Revive = %v, want ErrNoDeadLetter", err)
	}
	mustStats(t, s, mailqueue.Stats{Queued: 1, DeadLetters: 1})
	if got := mustClaim(t, s, due.Add(-time.Millisecond), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %v before the revived job was due", ids(got))
	}
	got := mustClaim(t, s, due, time.Minute, 10)
	if len(got) != 1 || got[0].ID != kept.ID || !bytes.Equal(got[0].Payload, kept.Payload) || got[0].Attempts != 1 || got[0].Key != "" || !got[0].Expires.IsZero() || got[0].LastError != "503 down" {
		t.Fatalf("claimed after Revive: %+v, want the same ID and payload, attempt 1, no expiry, the last error", got)
	}
	if err := ack(s, got[0]); err != nil {
		t.Fatalf("Ack of the revived job: %v", err)
	}
	mustStats(t, s, mailqueue.Stats{DeadLetters: 1})
}
