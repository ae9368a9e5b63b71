package mailqueue

import (
	"context"
	"errors"
	"time"
)

// Job is one queued mail as a Store keeps it. The payload is sealed
// (encrypted and authenticated) by the Queue; stores never look inside.
type Job struct {
	// ID is unique and random; the mail's Message-ID is ID@domain.
	ID      string
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

// DeadLetter records a job that was given up on. The payload is not kept:
// the code or link in it is expired or refused, and a secret all the same.
type DeadLetter struct {
	ID        string
	Attempts  int
	LastError string
	At        time.Time
}

// Stats counts what a Store holds.
type Stats struct {
	Queued      int // jobs waiting or being delivered
	DeadLetters int // kept dead letters (at most MaxDeadLetters)
}

// MaxDeadLetters is how many dead letters a Store keeps; older ones are
// forgotten as new ones come.
const MaxDeadLetters = 1000

// ErrLeaseLost is returned by Ack, Retry and Bury when the job is gone or
// has been claimed again since the caller claimed it (the caller's lease
// ran out). The caller must leave the job alone.
var ErrLeaseLost = errors.New("mailqueue: lease lost")

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
type Store interface {
	// Enqueue stores j, to be claimed from j.Due on. j.ID is new.
	Enqueue(ctx context.Context, j *Job) error
	// Claim leases up to n jobs with Due at or before now, earliest Due
	// first, in one atomic step, and returns them as stored after the claim
	// (Attempts incremented, Due = now+lease).
	Claim(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*Job, error)
	// Ack deletes the claimed job j: it was delivered, or dropped.
	Ack(ctx context.Context, j *Job) error
	// Retry makes the claimed job j due again at j.Due, recording j.LastError.
	Retry(ctx context.Context, j *Job) error
	// Bury deletes the claimed job j and records it as a dead letter at
	// time at, with j.Attempts and j.LastError, keeping the newest
	// MaxDeadLetters.
	Bury(ctx context.Context, j *Job, at time.Time) error
	// DeadLetters returns up to limit dead letters, newest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Stats counts the queued jobs and the kept dead letters.
	Stats(ctx context.Context) (Stats, error)
}
