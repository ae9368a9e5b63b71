package mailqueue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Job is one queued mail as a Store keeps it. The payload is sealed
// (encrypted and authenticated) by the Queue; stores never look inside.
type Job struct {
	// ID is unique and random; the mail's Message-ID is ID@domain.
	ID string
	// Key, when not empty, names what the mail is about (a keyed hash of
	// its challenge): enqueuing a job with the Key of a queued one
	// replaces it. Stores keep it as opaque bytes.
	Key     string
	Payload []byte
	// Attempts counts the claims of this job so far, the current one
	// included. It also fences a claim: see Store.
	Attempts int
	// Due is when the job may next be claimed.
	Due time.Time
	// Expires is when the mail is worthless (its challenge has expired);
	// zero means never. The worker drops a job claimed after it.
	Expires time.Time
	// LastError describes the last failed delivery ("" before any).
	LastError string
}

// DeadLetter records a job that was given up on. A mail's payload is not
// kept: the code or link in it is expired or refused, and a secret all
// the same. A job buried with Settlement.Keep (a webhook event, whose
// payload holds no secret and which an operator may want delivered
// later) keeps its payload, still sealed, so that Revive can queue it
// again.
type DeadLetter struct {
	ID        string
	Attempts  int
	LastError string
	At        time.Time
	// Payload is the job's payload when it was buried with Keep, else nil.
	Payload []byte `json:",omitempty"`
}

// Stats counts what a Store holds.
type Stats struct {
	Queued      int // jobs waiting or being delivered
	DeadLetters int // kept dead letters (at most MaxDeadLetters)
}

// MaxDeadLetters is how many dead letters a Store keeps; older ones are
// forgotten as new ones come.
const MaxDeadLetters = 1000

// ErrLeaseLost is what Settle reports for a claim whose job is gone
// (delivered, replaced by a resend) or has been claimed again since (the
// caller's lease ran out). The caller must leave the job alone.
var ErrLeaseLost = errors.New("mailqueue: lease lost")

// ErrNoDeadLetter is what Revive reports for an ID that names no kept dead
// letter with its payload (never buried, buried without Keep, forgotten,
// or revived already).
var ErrNoDeadLetter = errors.New("mailqueue: no such dead letter with its payload")

// Outcome is how a claim ends.
type Outcome uint8

// The outcomes of a claim.
const (
	// Ack deletes the job: it was delivered, or dropped.
	Ack Outcome = iota + 1
	// Retry makes the job due again at Job.Due, recording Job.LastError.
	Retry
	// Bury deletes the job and records it as a dead letter at
	// Settlement.At, with Job.Attempts and Job.LastError, keeping the
	// newest MaxDeadLetters.
	Bury
)

// CheckSettlements reports a settlement with an unknown outcome or no
// job, before a store changes anything.
func CheckSettlements(ss []Settlement) error {
	for _, st := range ss {
		if st.Job == nil {
			return errors.New("mailqueue: a settlement without a job")
		}
		if st.Outcome < Ack || st.Outcome > Bury {
			return fmt.Errorf("mailqueue: settlement of %s: unknown outcome %d", st.Job.ID, st.Outcome)
		}
	}
	return nil
}

// Settlement ends one claim: Job is the job as the claim returned it
// (with Due and LastError set for a Retry).
type Settlement struct {
	Job     *Job
	Outcome Outcome
	At      time.Time // Bury only
	// Keep (Bury only) keeps the job's payload in its dead letter, for
	// Revive. The mail queue never sets it.
	Keep bool
}

// Store keeps the queue durably, shared by every replica that shares the
// backing store. Every implementation passes the conformance suite in
// package mailqueuetest.
//
// A job is claimed with a lease: Claim increments its Attempts and moves
// its Due to the end of the lease, so no other claim returns it meanwhile,
// and a worker that dies holding a job hands it back when the lease runs
// out (delivery is at least once). The Attempts a claim returned fences
// the claim: Ack, Retry and Bury act only while the stored Attempts still
// equals the caller's, else they return ErrLeaseLost and change nothing.
// Times are the caller's (one clock rules); stores keep them to at least
// millisecond precision.
//
// Claims and their ends are batched: one Claim leases many jobs and one
// Settle ends many claims, each in one atomic step (one commit on disk,
// one round trip to a server), so the cost of the queue per mail falls
// as the load on it grows.
type Store interface {
	// Enqueue stores j, to be claimed from j.Due on. j.ID is new. When
	// j.Key is not empty, a job stored under the same Key is deleted in
	// the same step, whether due, waiting for a retry or claimed (a claim
	// of it then ends in ErrLeaseLost), and replaced reports it.
	Enqueue(ctx context.Context, j *Job) (replaced bool, err error)
	// Claim leases up to n jobs with Due at or before now, earliest Due
	// first, in one atomic step, and returns them as stored after the claim
	// (Attempts incremented, Due = now+lease).
	Claim(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*Job, error)
	// Settle ends the claims of ss in one atomic step, in order, and
	// returns one error per settlement: nil, or ErrLeaseLost for a claim
	// that no longer holds its job (that settlement changes nothing). A
	// non-nil err means nothing was recorded.
	Settle(ctx context.Context, ss []Settlement) (lost []error, err error)
	// DeadLetters returns up to limit dead letters, newest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Stats counts the queued jobs and the kept dead letters.
	Stats(ctx context.Context) (Stats, error)
	// Revive moves the dead letter id, if it kept its payload, back into
	// the queue in one atomic step: a job with the same ID and payload,
	// no Key, Attempts 0, due at due, never expiring, and the dead
	// letter's LastError. Of two Revives of one dead letter one succeeds;
	// the other, like any ID without a kept payload, gets ErrNoDeadLetter
	// and changes nothing.
	Revive(ctx context.Context, id string, due time.Time) error
}
