// Package memstore is a kv.Store in process memory: for tests, and for a
// single process that may forget everything when it stops (per-IP counters).
package memstore

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

var _ kv.Store = (*Store)(nil)

// sweepEvery is how many writes pass between sweeps of expired entries,
// which bounds the memory held by data nobody asks for again. A sweep
// costs what is stored, so it runs at most once per sweepEvery writes.
const sweepEvery = 4096

type entry struct {
	value   []byte
	expires time.Time // zero: never
}

func (e entry) live(now time.Time) bool { return e.expires.IsZero() || now.Before(e.expires) }

// Store is a kv.Store under one mutex. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	records map[string]entry
	sets    map[string]map[string]time.Time
	writes  int
}

// New returns an empty store.
func New() *Store {
	return &Store{records: map[string]entry{}, sets: map[string]map[string]time.Time{}}
}

// Ping always succeeds.
func (s *Store) Ping(context.Context) error { return nil }

// Close does nothing; it exists so that every store closes alike.
func (s *Store) Close() error { return nil }

// Get returns a copy of the live record at key.
func (s *Store) Get(_ context.Context, key string, now time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.records[key]
	if !ok || !e.live(now) {
		return nil, kv.ErrNotFound
	}
	return bytes.Clone(e.value), nil
}

// Put stores a copy of value.
func (s *Store) Put(_ context.Context, key string, value []byte, expires, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, value, expires, now)
	return nil
}

func (s *Store) put(key string, value []byte, expires, now time.Time) {
	s.wrote(now)
	if !expires.IsZero() && !now.Before(expires) {
		delete(s.records, key)
		return
	}
	if value == nil {
		value = []byte{}
	}
	s.records[key] = entry{value: bytes.Clone(value), expires: expires}
}

// Delete removes the record or set at key.
func (s *Store) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
	delete(s.sets, key)
	return nil
}

// Update runs fn under the store's lock.
func (s *Store) Update(_ context.Context, key string, now time.Time, fn func([]byte) (kv.Change, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur []byte
	if e, ok := s.records[key]; ok && e.live(now) {
		cur = bytes.Clone(e.value)
	}
	c, err := fn(cur)
	if err != nil {
		return err
	}
	switch c.Op {
	case kv.Write:
		s.put(key, c.Value, c.Expires, now)
	case kv.Remove:
		delete(s.records, key)
	}
	return nil
}

func (s *Store) counter(key string, now time.Time) (kv.Counter, error) {
	e, ok := s.records[key]
	if !ok || !e.live(now) {
		return kv.Counter{}, nil
	}
	return kv.DecodeCounter(e.value)
}

// Reserve takes one unit of the counter at key if the limit allows.
func (s *Store) Reserve(_ context.Context, key string, limit int, window time.Duration, now time.Time) (kv.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.counter(key, now)
	if err != nil {
		return kv.Decision{}, err
	}
	c, d := c.Reserve(limit, window, now)
	if d.Allowed {
		s.put(key, c.Encode(), c.Expires(window), now)
	}
	return d, nil
}

// Release gives back one unit taken at taken.
func (s *Store) Release(_ context.Context, key string, window time.Duration, taken time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.records[key]
	if !ok {
		return nil
	}
	c, err := kv.DecodeCounter(e.value)
	if err != nil {
		return err
	}
	e.value = c.Release(window, taken).Encode()
	s.records[key] = e
	return nil
}

// Count reports the units held under key at now.
func (s *Store) Count(_ context.Context, key string, window time.Duration, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.counter(key, now)
	if err != nil {
		return 0, err
	}
	return c.Count(window, now), nil
}

// AddMember puts member into the set at key until expires.
func (s *Store) AddMember(_ context.Context, key, member string, expires, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrote(now)
	set := s.sets[key]
	if set == nil {
		set = map[string]time.Time{}
		s.sets[key] = set
	}
	set[member] = expires
	return nil
}

// RemoveMember takes member out of the set at key.
func (s *Store) RemoveMember(_ context.Context, key, member string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.sets[key]; set != nil {
		delete(set, member)
		if len(set) == 0 {
			delete(s.sets, key)
		}
	}
	return nil
}

// Members returns the live members of the set at key.
func (s *Store) Members(_ context.Context, key string, now time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for m, exp := range s.sets[key] {
		if (entry{expires: exp}).live(now) {
			out = append(out, m)
		}
	}
	return out, nil
}

// Scan calls fn with a copy of every live record under prefix. It copies
// them first, so fn may call the store.
func (s *Store) Scan(_ context.Context, prefix string, now time.Time, fn func(string, []byte) error) error {
	type kvPair struct {
		k string
		v []byte
	}
	var found []kvPair
	s.mu.Lock()
	for k, e := range s.records {
		if strings.HasPrefix(k, prefix) && e.live(now) {
			found = append(found, kvPair{k, bytes.Clone(e.value)})
		}
	}
	s.mu.Unlock()
	for _, p := range found {
		if err := fn(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

// wrote counts a write and now and then drops what has expired. Callers
// hold mu.
func (s *Store) wrote(now time.Time) {
	s.writes++
	if s.writes%sweepEvery != 0 {
		return
	}
	for k, e := range s.records {
		if !e.live(now) {
			delete(s.records, k)
		}
	}
	for k, set := range s.sets {
		for m, exp := range set {
			if !(entry{expires: exp}).live(now) {
				delete(set, m)
			}
		}
		if len(set) == 0 {
			delete(s.sets, k)
		}
	}
}
