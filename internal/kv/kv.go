// Package kv is the store contract every engine package keeps its records
// through: opaque records with expiry, one atomic read-modify-write of one
// record, counters that reserve a unit below a limit in a sliding window,
// and small index sets. Backends (memstore, boltstore, redisstore) keep
// bytes and judge nothing; every rule lives in the package that owns the
// record kind. Package kvtest is the conformance suite every backend passes.
package kv

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (possibly wrapped) when a key holds no live record.
var ErrNotFound = errors.New("kv: not found")

// ErrUnavailable is wrapped into the errors of a backend that cannot be
// reached, so callers can answer 503 and retry later.
var ErrUnavailable = errors.New("kv: store unavailable")

// Store keeps records. Keys are printable ASCII of at most 512 bytes, made by
// the package that owns the record kind ("c:" + id, "s:" + id, ...); a backend
// may add its own prefix but never interprets them. Every method that judges
// expiry takes now from the caller, so one clock rules the whole system; a
// backend that can also expire data by itself (Redis TTLs) never keeps a
// record past its expiry. A zero expires means "never expires".
type Store interface {
	// Get returns the record at key, or ErrNotFound when there is none or it
	// expired at or before now. The returned slice is the caller's.
	Get(ctx context.Context, key string, now time.Time) ([]byte, error)
	// Put writes value at key until expires, replacing any record there.
	Put(ctx context.Context, key string, value []byte, expires, now time.Time) error
	// Delete removes the record or the set at key; a missing key is not an
	// error.
	Delete(ctx context.Context, key string) error
	// Update reads the live record at key (nil when there is none) and writes
	// what fn decides, atomically: no other write to key lands between the
	// read fn saw and the write. fn may run more than once when writers race
	// (a compare-and-set backend retries), so it must set its results afresh
	// on each run and have no other side effect. An error from fn aborts the
	// update, writes nothing and is returned unwrapped.
	Update(ctx context.Context, key string, now time.Time, fn func(current []byte) (Change, error)) error

	// Reserve takes one unit of the counter at key if fewer than limit units
	// are held in the sliding window of length window ending at now; else it
	// takes nothing and reports Allowed false with how long until a unit
	// frees up. Racing callers never take more than limit units in total.
	Reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (Decision, error)
	// Release gives back one unit that Reserve took under key at the time
	// taken, if that unit still counts; giving back more than was taken
	// never makes a counter negative.
	Release(ctx context.Context, key string, window time.Duration, taken time.Time) error
	// Count reports the units held under key in the window ending at now
	// (the sliding estimate, rounded up), taking nothing.
	Count(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)

	// AddMember puts member into the set at key until expires (per member;
	// re-adding moves its expiry). Sets are small: tens of members.
	AddMember(ctx context.Context, key, member string, expires, now time.Time) error
	// RemoveMember takes member out of the set; a missing one is not an error.
	RemoveMember(ctx context.Context, key, member string) error
	// Members returns the live members of the set at key, in no set order;
	// an empty or missing set gives an empty slice and no error.
	Members(ctx context.Context, key string, now time.Time) ([]string, error)

	// Scan calls fn with every live record whose key starts with prefix,
	// in no set order; records written during the scan may or may not be
	// seen. A non-nil error from fn stops the scan and is returned.
	Scan(ctx context.Context, prefix string, now time.Time, fn func(key string, value []byte) error) error

	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error
}

// Op is what an update does to its record.
type Op int

// The operations of a Change.
const (
	Keep   Op = iota // leave the record as it is
	Write            // store Value until Expires
	Remove           // delete the record
)

// Change is an update function's decision.
type Change struct {
	Op      Op
	Value   []byte
	Expires time.Time
}

// Decision is the state of one counter after Reserve.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int // units still free after this call
	// RetryAfter is how long until a unit frees up (zero when Allowed).
	RetryAfter time.Duration
	// Reset is how long until the counter is empty if nothing more is taken.
	Reset time.Duration
}

// Unavailable wraps a backend failure so that it matches ErrUnavailable
// (and still matches err).
func Unavailable(op string, err error) error { return &unavailableError{op: op, err: err} }

type unavailableError struct {
	op  string
	err error
}

func (e *unavailableError) Error() string   { return e.op + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }
