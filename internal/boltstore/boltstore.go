// Package boltstore keeps Latch's state in one bbolt file: the embedded,
// persistent default for a single process.
//
// Writes go through bbolt's Batch, so concurrent logins share one fsync
// (group commit) instead of queueing for the disk. Every expiring record
// also has an entry in an expiry index ordered by deadline, which a
// background sweeper walks from the front, so cleanup costs what expired
// and not what is stored.
package boltstore

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latch-auth/latch/internal/auth"
)

var (
	_ auth.Store   = (*Store)(nil)
	_ auth.Limiter = (*Store)(nil)
)

var (
	bucketChallenges   = []byte("challenges")
	bucketTokens       = []byte("tokens")
	bucketSessions     = []byte("sessions")
	bucketUserSessions = []byte("user_sessions")
	bucketUsers        = []byte("users")
	bucketLimits       = []byte("limits")
	bucketExpiry       = []byte("expiry")
	allBuckets         = [][]byte{bucketChallenges, bucketTokens, bucketSessions, bucketUserSessions, bucketUsers, bucketLimits, bucketExpiry}
)

// Kinds of expiry-index entries.
const (
	kindChallenge byte = 'c'
	kindSession   byte = 's'
	kindLimit     byte = 'l'
)

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// SweepInterval is how often expired records are removed (1m).
	SweepInterval time.Duration
	// Clock tells the sweeper the time (the system clock).
	Clock auth.Clock
	// Logger reports sweeper failures (slog.Default()).
	Logger *slog.Logger
}

// Store is an auth.Store and auth.Limiter in a bbolt file.
type Store struct {
	db     *bolt.DB
	opts   Options
	stop   chan struct{}
	done   sync.WaitGroup
	closed sync.Once
}

// FileName is the database file inside the data directory.
const FileName = "latch.db"

// Open opens (creating if needed) the database in dir and starts the sweeper.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = auth.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{
		Timeout: 2 * time.Second,
		// The free list is kept as a hash map, so commits allocate pages
		// in constant time. It is written at every commit (bbolt's
		// default): without it each open reads the whole file to rebuild
		// it, which with a million sessions holds ~0.7 GB as RSS.
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", filepath.Join(dir, FileName), err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: create buckets: %w", err)
	}
	s := &Store{db: db, opts: opts, stop: make(chan struct{})}
	s.done.Add(1)
	go s.sweepLoop()
	return s, nil
}

// DB returns the underlying database, for other packages that keep their
// own buckets in the same file (the mail queue).
func (s *Store) DB() *bolt.DB { return s.db }

// Close stops the sweeper and closes the file.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop)
		s.done.Wait()
		err = s.db.Close()
	})
	return err
}

// Ping checks that the database is open.
func (s *Store) Ping(context.Context) error {
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketChallenges) == nil {
			return errors.New("boltstore: buckets missing")
		}
		return nil
	})
}

// update runs fn in a batched write transaction. fn may run more than
// once, so it must set its results afresh each time.
// A failed transaction means the file cannot serve (a full disk, an I/O
// error, a closed database): callers answer 503, not 500.
func (s *Store) update(op string, fn func(tx *bolt.Tx) error) error {
	if err := s.db.Batch(fn); err != nil {
		return auth.Unavailable("boltstore: "+op, err)
	}
	return nil
}

func (s *Store) view(op string, fn func(tx *bolt.Tx) error) error {
	if err := s.db.View(fn); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return err
		}
		return auth.Unavailable("boltstore: "+op, err)
	}
	return nil
}

// expiryKey orders index entries by deadline, then kind and id.
func expiryKey(deadline time.Time, kind byte, id []byte) []byte {
	k := make([]byte, 9, 9+len(id))
	binary.BigEndian.PutUint64(k, uint64(deadline.UnixNano()))
	k[8] = kind
	return append(k, id...)
}

func putExpiry(tx *bolt.Tx, deadline time.Time, kind byte, id []byte) error {
	return tx.Bucket(bucketExpiry).Put(expiryKey(deadline, kind, id), nil)
}

func deleteExpiry(tx *bolt.Tx, deadline time.Time, kind byte, id []byte) error {
	return tx.Bucket(bucketExpiry).Delete(expiryKey(deadline, kind, id))
}

// --- challenges

func getChallenge(tx *bolt.Tx, id string) (*auth.Challenge, error) {
	v := tx.Bucket(bucketChallenges).Get([]byte(id))
	if v == nil {
		return nil, auth.ErrNotFound
	}
	var c auth.Challenge
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("decode challenge: %w", err)
	}
	return &c, nil
}

func liveChallenge(tx *bolt.Tx, id string, now time.Time) (*auth.Challenge, error) {
	c, err := getChallenge(tx, id)
	if err != nil {
		return nil, err
	}
	if !c.Live(now) {
		return nil, auth.ErrNotFound
	}
	return c, nil
}

func putChallenge(tx *bolt.Tx, c *auth.Challenge) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketChallenges).Put([]byte(c.ID), v)
}

func deleteChallenge(tx *bolt.Tx, c *auth.Challenge) error {
	if err := tx.Bucket(bucketChallenges).Delete([]byte(c.ID)); err != nil {
		return err
	}
	if c.TokenHash != nil {
		if err := tx.Bucket(bucketTokens).Delete(c.TokenHash); err != nil {
			return err
		}
	}
	return deleteExpiry(tx, c.ExpiresAt, kindChallenge, []byte(c.ID))
}

// CreateChallenge stores c and indexes its token and expiry.
func (s *Store) CreateChallenge(_ context.Context, c *auth.Challenge) error {
	return s.update("create challenge", func(tx *bolt.Tx) error {
		if err := putChallenge(tx, c); err != nil {
			return err
		}
		if c.TokenHash != nil {
			if err := tx.Bucket(bucketTokens).Put(c.TokenHash, []byte(c.ID)); err != nil {
				return err
			}
		}
		return putExpiry(tx, c.ExpiresAt, kindChallenge, []byte(c.ID))
	})
}

// Challenge returns the live challenge id.
func (s *Store) Challenge(_ context.Context, id string, now time.Time) (*auth.Challenge, error) {
	var c *auth.Challenge
	err := s.view("get challenge", func(tx *bolt.Tx) (err error) {
		c, err = liveChallenge(tx, id, now)
		return err
	})
	return c, err
}

// ChallengeByToken returns the live challenge whose link hashes to tokenHash.
func (s *Store) ChallengeByToken(_ context.Context, tokenHash []byte, now time.Time) (*auth.Challenge, error) {
	var c *auth.Challenge
	err := s.view("get challenge by token", func(tx *bolt.Tx) (err error) {
		id := tx.Bucket(bucketTokens).Get(tokenHash)
		if id == nil {
			return auth.ErrNotFound
		}
		c, err = liveChallenge(tx, string(id), now)
		return err
	})
	return c, err
}

// changeChallenge runs fn on the live challenge id inside a batched write
// transaction. fn returns a verdict for the caller (ErrLocked, ErrNotFound)
// that keeps the transaction, or an error that aborts it. A missing or
// expired challenge is the verdict ErrNotFound without calling fn. fn may
// run more than once (see update), so it must set its results afresh.
func (s *Store) changeChallenge(op, id string, now time.Time, fn func(tx *bolt.Tx, c *auth.Challenge) (verdict, err error)) error {
	var verdict error
	err := s.update(op, func(tx *bolt.Tx) error {
		c, err := liveChallenge(tx, id, now)
		if errors.Is(err, auth.ErrNotFound) {
			verdict = err
			return nil
		}
		if err != nil {
			return err
		}
		verdict, err = fn(tx, c)
		return err
	})
	if err != nil {
		return err
	}
	return verdict
}

// AttemptCode judges one code inside a write transaction.
func (s *Store) AttemptCode(_ context.Context, id string, candidates [][]byte, maxAttempts int, now time.Time) (auth.Attempt, error) {
	var a auth.Attempt
	err := s.changeChallenge("attempt code", id, now, func(tx *bolt.Tx, c *auth.Challenge) (error, error) {
		if c.Attempts >= maxAttempts {
			a = auth.Attempt{Outcome: auth.Locked, Challenge: c}
			return nil, nil
		}
		match := 0
		for _, h := range candidates {
			match |= subtle.ConstantTimeCompare(c.CodeHash, h)
		}
		if match == 1 && len(c.CodeHash) > 0 {
			a = auth.Attempt{Outcome: auth.Accepted, Challenge: c, AttemptsLeft: maxAttempts - c.Attempts}
			return nil, deleteChallenge(tx, c)
		}
		c.Attempts++
		a = auth.Attempt{Outcome: auth.Rejected, Challenge: c, AttemptsLeft: maxAttempts - c.Attempts}
		return nil, putChallenge(tx, c)
	})
	if err != nil {
		return auth.Attempt{}, err
	}
	return a, nil
}

// ConsumeLink consumes the challenge id if tokenHash matches its link.
func (s *Store) ConsumeLink(_ context.Context, id string, tokenHash []byte, now time.Time) (*auth.Challenge, error) {
	var consumed *auth.Challenge
	err := s.changeChallenge("consume link", id, now, func(tx *bolt.Tx, c *auth.Challenge) (error, error) {
		if len(c.TokenHash) == 0 || subtle.ConstantTimeCompare(c.TokenHash, tokenHash) != 1 {
			return auth.ErrNotFound, nil
		}
		consumed = c
		return nil, deleteChallenge(tx, c)
	})
	if err != nil {
		return nil, err
	}
	return consumed, nil
}

// RenewChallenge replaces the code and link of the challenge id.
func (s *Store) RenewChallenge(_ context.Context, id string, r auth.Renewal, maxAttempts int, now time.Time) (*auth.Challenge, error) {
	var renewed *auth.Challenge
	err := s.changeChallenge("renew challenge", id, now, func(tx *bolt.Tx, c *auth.Challenge) (error, error) {
		if c.Attempts >= maxAttempts {
			return auth.ErrLocked, nil
		}
		if err := deleteChallenge(tx, c); err != nil {
			return nil, err
		}
		c.CodeHash, c.TokenHash = r.CodeHash, r.TokenHash
		c.Attempts, c.SentAt, c.ExpiresAt = 0, r.SentAt, r.ExpiresAt
		if err := putChallenge(tx, c); err != nil {
			return nil, err
		}
		if c.TokenHash != nil {
			if err := tx.Bucket(bucketTokens).Put(c.TokenHash, []byte(c.ID)); err != nil {
				return nil, err
			}
		}
		renewed = c
		return nil, putExpiry(tx, c.ExpiresAt, kindChallenge, []byte(c.ID))
	})
	if err != nil {
		return nil, err
	}
	return renewed, nil
}

// --- sessions

func userSessionKey(userID, sessionID string) []byte {
	return append(append([]byte(userID), 0), sessionID...)
}

func getSession(tx *bolt.Tx, id string) (*auth.Session, error) {
	v := tx.Bucket(bucketSessions).Get([]byte(id))
	if v == nil {
		return nil, auth.ErrNotFound
	}
	sess, err := decodeSession(v)
	if err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	sess.ID = id
	return sess, nil
}

func putSession(tx *bolt.Tx, sess *auth.Session) error {
	return tx.Bucket(bucketSessions).Put([]byte(sess.ID), encodeSession(sess))
}

// CreateSession stores sess and indexes it by user and deadline.
func (s *Store) CreateSession(_ context.Context, sess *auth.Session) error {
	return s.update("create session", func(tx *bolt.Tx) error {
		if err := putSession(tx, sess); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUserSessions).Put(userSessionKey(sess.UserID, sess.ID), nil); err != nil {
			return err
		}
		return putExpiry(tx, sess.Deadline(), kindSession, []byte(sess.ID))
	})
}

// ImportSessions stores many sessions in one transaction each thousand,
// for bulk loading (benchmarks at scale, migrations); what CreateSession
// does for one.
func (s *Store) ImportSessions(sessions []*auth.Session) error {
	for len(sessions) > 0 {
		n := min(len(sessions), 1000)
		chunk := sessions[:n]
		sessions = sessions[n:]
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, sess := range chunk {
				if err := putSession(tx, sess); err != nil {
					return err
				}
				if err := tx.Bucket(bucketUserSessions).Put(userSessionKey(sess.UserID, sess.ID), nil); err != nil {
					return err
				}
				if err := putExpiry(tx, sess.Deadline(), kindSession, []byte(sess.ID)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("boltstore: import sessions: %w", err)
		}
	}
	return nil
}

// Session returns the live session id with one read.
func (s *Store) Session(_ context.Context, id string, now time.Time) (*auth.Session, error) {
	var sess *auth.Session
	err := s.view("get session", func(tx *bolt.Tx) (err error) {
		sess, err = getSession(tx, id)
		if err == nil && !sess.Live(now) {
			err = auth.ErrNotFound
		}
		return err
	})
	return sess, err
}

// TouchSession moves the session's last use and its expiry-index entry.
func (s *Store) TouchSession(_ context.Context, id string, lastSeen time.Time) error {
	var result error
	err := s.update("touch session", func(tx *bolt.Tx) error {
		result = nil
		sess, err := getSession(tx, id)
		if errors.Is(err, auth.ErrNotFound) || err == nil && !sess.Live(lastSeen) {
			result = auth.ErrNotFound
			return nil
		}
		if err != nil || !lastSeen.After(sess.LastSeenAt) {
			return err
		}
		if err := deleteExpiry(tx, sess.Deadline(), kindSession, []byte(id)); err != nil {
			return err
		}
		sess.LastSeenAt = lastSeen
		if err := putSession(tx, sess); err != nil {
			return err
		}
		return putExpiry(tx, sess.Deadline(), kindSession, []byte(id))
	})
	if err != nil {
		return err
	}
	return result
}

func deleteSession(tx *bolt.Tx, id string) error {
	sess, err := getSession(tx, id)
	if errors.Is(err, auth.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketSessions).Delete([]byte(id)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketUserSessions).Delete(userSessionKey(sess.UserID, id)); err != nil {
		return err
	}
	return deleteExpiry(tx, sess.Deadline(), kindSession, []byte(id))
}

// DeleteSession removes session id.
func (s *Store) DeleteSession(_ context.Context, id string) error {
	return s.update("delete session", func(tx *bolt.Tx) error { return deleteSession(tx, id) })
}

// DeleteUserSessions removes every session of userID.
func (s *Store) DeleteUserSessions(_ context.Context, userID string) (int, error) {
	var n int
	err := s.update("delete user sessions", func(tx *bolt.Tx) error {
		n = 0
		prefix := append([]byte(userID), 0)
		var ids []string
		c := tx.Bucket(bucketUserSessions).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
		for _, id := range ids {
			if err := deleteSession(tx, id); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// --- users

// EnsureUser returns the user of candidate.Email, creating it if needed.
func (s *Store) EnsureUser(_ context.Context, candidate auth.User) (auth.User, error) {
	var u auth.User
	// Most sign-ins are by people already known: a read answers them
	// without waiting for a commit. The write below checks again.
	found := false
	err := s.view("find user", func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(candidate.Email))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &u)
	})
	if err != nil || found {
		u.Email = candidate.Email
		return u, err
	}
	err = s.update("ensure user", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if v := b.Get([]byte(candidate.Email)); v != nil {
			return json.Unmarshal(v, &u)
		}
		u = candidate
		v, err := json.Marshal(userRecord{ID: u.ID, CreatedAt: u.CreatedAt})
		if err != nil {
			return err
		}
		return b.Put([]byte(candidate.Email), v)
	})
	u.Email = candidate.Email
	return u, err
}

type userRecord struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
}

// --- limiter

// Take counts one event under key. Counts persist, so a restart does not
// hand out fresh quota.
func (s *Store) Take(_ context.Context, key string, limit int, window time.Duration, now time.Time) (auth.Decision, error) {
	var d auth.Decision
	err := s.update("rate limit", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLimits)
		start := auth.WindowStart(now, window)
		count := counterValue(b.Get([]byte(key)), start)
		if count == 0 {
			if err := putExpiry(tx, start.Add(window), kindLimit, []byte(key)); err != nil {
				return err
			}
		}
		count++
		v := make([]byte, 16)
		binary.BigEndian.PutUint64(v, uint64(start.UnixNano()))
		binary.BigEndian.PutUint64(v[8:], uint64(count))
		d = auth.NewDecision(count, limit, window, now)
		return b.Put([]byte(key), v)
	})
	return d, err
}

// Peek reports the count under key without changing it.
func (s *Store) Peek(_ context.Context, key string, limit int, window time.Duration, now time.Time) (auth.Decision, error) {
	var d auth.Decision
	err := s.view("rate limit peek", func(tx *bolt.Tx) error {
		count := counterValue(tx.Bucket(bucketLimits).Get([]byte(key)), auth.WindowStart(now, window))
		d = auth.PeekDecision(count, limit, window, now)
		return nil
	})
	return d, err
}

// counterValue reads a stored counter; one from another window counts 0.
func counterValue(v []byte, start time.Time) int {
	if len(v) != 16 || int64(binary.BigEndian.Uint64(v)) != start.UnixNano() {
		return 0
	}
	return int(binary.BigEndian.Uint64(v[8:]))
}

// --- sweeping

func (s *Store) sweepLoop() {
	defer s.done.Done()
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.Sweep(s.opts.Clock.Now()); err != nil {
				s.opts.Logger.Warn("boltstore: sweep failed", "err", err)
			}
		}
	}
}

// sweepBatch bounds one sweep transaction, so sweeping never holds the
// writer lock for long.
const sweepBatch = 1000

// Sweep removes records whose deadline is before now and reports how many.
func (s *Store) Sweep(now time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			n = 0
			idx := tx.Bucket(bucketExpiry)
			var keys [][]byte
			c := idx.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < sweepBatch; k, _ = c.Next() {
				if int64(binary.BigEndian.Uint64(k)) > now.UnixNano() {
					break
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := removeExpired(tx, k, now); err != nil {
					return err
				}
				if err := idx.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("boltstore: sweep: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

func removeExpired(tx *bolt.Tx, k []byte, now time.Time) error {
	id := string(k[9:])
	switch k[8] {
	case kindChallenge:
		c, err := getChallenge(tx, id)
		if errors.Is(err, auth.ErrNotFound) || err == nil && c.Live(now) {
			return nil
		}
		if err != nil {
			return err
		}
		return deleteChallenge(tx, c)
	case kindSession:
		sess, err := getSession(tx, id)
		if errors.Is(err, auth.ErrNotFound) || err == nil && sess.Live(now) {
			return nil
		}
		if err != nil {
			return err
		}
		return deleteSession(tx, id)
	case kindLimit:
		// The entry marks the end of one window; the counter may already
		// count a later one, which must stay.
		b := tx.Bucket(bucketLimits)
		v := b.Get([]byte(id))
		if len(v) == 16 && int64(binary.BigEndian.Uint64(v)) < int64(binary.BigEndian.Uint64(k)) {
			return b.Delete([]byte(id))
		}
	}
	return nil
}
