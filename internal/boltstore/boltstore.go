// Package boltstore is a kv.Store in one bbolt file: the embedded,
// persistent default for a single process.
//
// Writes go through a group commit (commit.go), so concurrent writers
// share one transaction and one fsync instead of queueing for the disk. Every record with an
// expiry also has an entry in an index ordered by deadline, which a
// background sweeper walks from the front, so cleanup costs what expired
// and not what is stored.
//
// # Layout
//
//	kv         key → expiry (8 bytes, Unix ms, 0 = never) ‖ value
//	kv_sets    set key ‖ 0x00 ‖ member → expiry (8 bytes)
//	kv_expiry  deadline (8 bytes) ‖ kind ('r' record, 'm' member) ‖ key[‖ 0x00 ‖ member] → empty
//
// Keys are printable ASCII (the kv contract), so 0x00 never occurs in one.
// The buckets of the release before (challenges, sessions, users, …) are
// read once by Legacy and removed by DropLegacy; see legacy.go.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/latch-auth/latch/internal/kv"
)

var _ kv.Store = (*Store)(nil)

var (
	bucketKV     = []byte("kv")
	bucketSets   = []byte("kv_sets")
	bucketExpiry = []byte("kv_expiry")
)

// Kinds of expiry-index entries.
const (
	kindRecord byte = 'r'
	kindMember byte = 'm'
)

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// SweepInterval is how often expired records are removed (1m).
	SweepInterval time.Duration
	// Clock tells the sweeper the time (the system clock).
	Clock interface{ Now() time.Time }
	// Logger reports sweeper failures (slog.Default()).
	Logger *slog.Logger
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Store is a kv.Store in a bbolt file.
type Store struct {
	db      *bolt.DB
	commits *committer
	opts    Options
	stop    chan struct{}
	done    sync.WaitGroup
	closed  sync.Once
}

// FileName is the database file inside the data directory.
const FileName = "latch.db"

// Open opens (creating if needed) the database in dir and starts the sweeper.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second,
		// The free list is kept as a hash map, so commits allocate pages
		// in constant time. It is written at every commit (bbolt's
		// default): without it each open reads the whole file to rebuild
		// it, which with a million sessions holds ~0.7 GB as RSS.
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: %s is locked by another process (is Latch already running with this DATA_DIR?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKV, bucketSets, bucketExpiry} {
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
	s := &Store{db: db, commits: newCommitter(db), opts: opts, stop: make(chan struct{})}
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
		s.commits.close()
		err = s.db.Close()
	})
	return err
}

// Ping checks that the database is open and readable.
func (s *Store) Ping(context.Context) error {
	return s.view("ping", func(tx *bolt.Tx) error {
		if tx.Bucket(bucketKV) == nil {
			return errors.New("buckets missing")
		}
		return nil
	})
}

// update runs fn in a write transaction shared with the writes pending
// beside it (a group commit); fn may run more than once. A failed transaction means the file cannot serve (a full disk, an
// I/O error, a closed database): callers answer 503, not 500.
func (s *Store) update(op string, fn func(tx *bolt.Tx) error) error {
	if err := s.commits.write(fn); err != nil {
		return kv.Unavailable("boltstore: "+op, err)
	}
	return nil
}

func (s *Store) view(op string, fn func(tx *bolt.Tx) error) error {
	if err := s.db.View(fn); err != nil {
		return kv.Unavailable("boltstore: "+op, err)
	}
	return nil
}

func ms(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(max(1, t.UnixMilli()))
}

// live reports whether a stored expiry (ms, 0 = never) is after now.
func live(exp uint64, now time.Time) bool { return exp == 0 || int64(exp) > now.UnixMilli() }

func expiryKey(exp uint64, kind byte, key []byte) []byte {
	k := make([]byte, 9, 9+len(key))
	binary.BigEndian.PutUint64(k, exp)
	k[8] = kind
	return append(k, key...)
}

// getRecord returns the stored expiry and value of key; ok is false when
// there is none (expired or not).
func getRecord(tx *bolt.Tx, key string) (exp uint64, value []byte, ok bool) {
	v := tx.Bucket(bucketKV).Get([]byte(key))
	if len(v) < 8 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(v), v[8:], true
}

func putRecord(tx *bolt.Tx, key string, value []byte, expires, now time.Time) error {
	if err := deleteRecord(tx, key); err != nil {
		return err
	}
	exp := ms(expires)
	if !live(exp, now) {
		return nil
	}
	v := make([]byte, 8, 8+len(value))
	binary.BigEndian.PutUint64(v, exp)
	if err := tx.Bucket(bucketKV).Put([]byte(key), append(v, value...)); err != nil {
		return err
	}
	if exp == 0 {
		return nil
	}
	return tx.Bucket(bucketExpiry).Put(expiryKey(exp, kindRecord, []byte(key)), nil)
}

func deleteRecord(tx *bolt.Tx, key string) error {
	exp, _, ok := getRecord(tx, key)
	if !ok {
		return nil
	}
	if exp != 0 {
		if err := tx.Bucket(bucketExpiry).Delete(expiryKey(exp, kindRecord, []byte(key))); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketKV).Delete([]byte(key))
}

// Get returns the live record at key with one read transaction.
func (s *Store) Get(_ context.Context, key string, now time.Time) ([]byte, error) {
	var out []byte
	found := false
	err := s.view("get", func(tx *bolt.Tx) error {
		exp, v, ok := getRecord(tx, key)
		if ok && live(exp, now) {
			found, out = true, bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, kv.ErrNotFound
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// Put writes value at key until expires.
func (s *Store) Put(_ context.Context, key string, value []byte, expires, now time.Time) error {
	return s.update("put", func(tx *bolt.Tx) error { return putRecord(tx, key, value, expires, now) })
}

// Delete removes the record or the set at key.
func (s *Store) Delete(_ context.Context, key string) error {
	return s.update("delete", func(tx *bolt.Tx) error {
		if err := deleteRecord(tx, key); err != nil {
			return err
		}
		return deleteSet(tx, key)
	})
}

// Update runs fn inside one write transaction. fn's own error is
// returned as is, not as an outage, and fails only this call: the group
// commit it shares goes on without its change.
func (s *Store) Update(_ context.Context, key string, now time.Time, fn func([]byte) (kv.Change, error)) error {
	var fnErr error
	err := s.commits.write(func(tx *bolt.Tx) error {
		fnErr = nil
		var cur []byte
		if exp, v, ok := getRecord(tx, key); ok && live(exp, now) {
			cur = bytes.Clone(v)
			if cur == nil {
				cur = []byte{}
			}
		}
		c, err := fn(cur)
		if err != nil {
			fnErr = err // nothing was written yet
			return nil
		}
		switch c.Op {
		case kv.Write:
			return putRecord(tx, key, c.Value, c.Expires, now)
		case kv.Remove:
			return deleteRecord(tx, key)
		}
		return nil
	})
	if err != nil {
		return kv.Unavailable("boltstore: update", err)
	}
	return fnErr
}

func getCounter(tx *bolt.Tx, key string, now time.Time) (kv.Counter, error) {
	exp, v, ok := getRecord(tx, key)
	if !ok || !live(exp, now) {
		return kv.Counter{}, nil
	}
	return kv.DecodeCounter(v)
}

// Reserve takes one unit of the counter at key in one write transaction.
// Counters persist, so a restart hands out no fresh quota.
func (s *Store) Reserve(_ context.Context, key string, limit int, window time.Duration, now time.Time) (kv.Decision, error) {
	var d kv.Decision
	err := s.update("reserve", func(tx *bolt.Tx) error {
		c, err := getCounter(tx, key, now)
		if err != nil {
			return err
		}
		c, d = c.Reserve(limit, window, now)
		if !d.Allowed {
			return nil
		}
		return putRecord(tx, key, c.Encode(), c.Expires(window), now)
	})
	return d, err
}

// Release gives back one unit taken at taken.
func (s *Store) Release(_ context.Context, key string, window time.Duration, taken time.Time) error {
	return s.update("release", func(tx *bolt.Tx) error {
		exp, v, ok := getRecord(tx, key)
		if !ok {
			return nil
		}
		c, err := kv.DecodeCounter(v)
		if err != nil {
			return err
		}
		b := make([]byte, 8, 25)
		binary.BigEndian.PutUint64(b, exp)
		return tx.Bucket(bucketKV).Put([]byte(key), append(b, c.Release(window, taken).Encode()...))
	})
}

// Count reports the units held under key at now.
func (s *Store) Count(_ context.Context, key string, window time.Duration, now time.Time) (int, error) {
	var n int
	err := s.view("count", func(tx *bolt.Tx) error {
		c, err := getCounter(tx, key, now)
		n = c.Count(window, now)
		return err
	})
	return n, err
}

func memberKey(key, member string) []byte {
	return append(append([]byte(key), 0), member...)
}

func deleteMember(tx *bolt.Tx, mk []byte) error {
	b := tx.Bucket(bucketSets)
	v := b.Get(mk)
	if v == nil {
		return nil
	}
	if exp := binary.BigEndian.Uint64(v); exp != 0 {
		if err := tx.Bucket(bucketExpiry).Delete(expiryKey(exp, kindMember, mk)); err != nil {
			return err
		}
	}
	return b.Delete(mk)
}

func deleteSet(tx *bolt.Tx, key string) error {
	prefix := memberKey(key, "")
	var found [][]byte
	c := tx.Bucket(bucketSets).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		found = append(found, bytes.Clone(k))
	}
	for _, mk := range found {
		if err := deleteMember(tx, mk); err != nil {
			return err
		}
	}
	return nil
}

// AddMember puts member into the set at key until expires.
func (s *Store) AddMember(_ context.Context, key, member string, expires, now time.Time) error {
	return s.update("add member", func(tx *bolt.Tx) error {
		mk := memberKey(key, member)
		if err := deleteMember(tx, mk); err != nil {
			return err
		}
		exp := ms(expires)
		if !live(exp, now) {
			return nil
		}
		if err := tx.Bucket(bucketSets).Put(mk, binary.BigEndian.AppendUint64(nil, exp)); err != nil {
			return err
		}
		if exp == 0 {
			return nil
		}
		return tx.Bucket(bucketExpiry).Put(expiryKey(exp, kindMember, mk), nil)
	})
}

// RemoveMember takes member out of the set at key.
func (s *Store) RemoveMember(_ context.Context, key, member string) error {
	return s.update("remove member", func(tx *bolt.Tx) error { return deleteMember(tx, memberKey(key, member)) })
}

// Members returns the live members of the set at key.
func (s *Store) Members(_ context.Context, key string, now time.Time) ([]string, error) {
	out := []string{}
	err := s.view("members", func(tx *bolt.Tx) error {
		prefix := memberKey(key, "")
		c := tx.Bucket(bucketSets).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 8 && live(binary.BigEndian.Uint64(v), now) {
				out = append(out, string(k[len(prefix):]))
			}
		}
		return nil
	})
	return out, err
}

// scanBatch is how many records one read transaction of Scan visits, so
// that fn runs outside any transaction and may use the store.
const scanBatch = 256

// Scan calls fn with every live record under prefix, in key order.
func (s *Store) Scan(_ context.Context, prefix string, now time.Time, fn func(string, []byte) error) error {
	type pair struct {
		k string
		v []byte
	}
	after := []byte(prefix)
	first := true
	for {
		var batch []pair
		err := s.view("scan", func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketKV).Cursor()
			k, v := c.Seek(after)
			if !first && k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, []byte(prefix)) && len(batch) < scanBatch; k, v = c.Next() {
				if len(v) >= 8 && live(binary.BigEndian.Uint64(v), now) {
					batch = append(batch, pair{string(k), bytes.Clone(v[8:])})
				}
				after = bytes.Clone(k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		first = false
		for _, p := range batch {
			if err := fn(p.k, p.v); err != nil {
				return err
			}
		}
		if len(batch) < scanBatch {
			return nil
		}
	}
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

// Sweep removes records and members whose expiry is at or before now and
// reports how many.
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
				if live(binary.BigEndian.Uint64(k), now) {
					break
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := removeExpired(tx, k); err != nil {
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

// removeExpired deletes what an expiry entry points at, if it still has
// that expiry (a rewrite removes the old entry, so it always should).
func removeExpired(tx *bolt.Tx, k []byte) error {
	exp, target := binary.BigEndian.Uint64(k), k[9:]
	switch k[8] {
	case kindRecord:
		if e, _, ok := getRecord(tx, string(target)); ok && e == exp {
			if err := tx.Bucket(bucketKV).Delete(target); err != nil {
				return err
			}
		}
	case kindMember:
		if v := tx.Bucket(bucketSets).Get(target); len(v) == 8 && binary.BigEndian.Uint64(v) == exp {
			if err := tx.Bucket(bucketSets).Delete(target); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketExpiry).Delete(k)
}
