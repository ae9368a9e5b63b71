// Package kvtest is the conformance suite every kv.Store backend passes:
// records with expiry, atomic updates under races, reserving counters,
// index sets and prefix scans.
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// Epoch is the instant the suites start at. It is fixed, and seven minutes
// past an hour, so that no test's windows cross a boundary by accident.
var Epoch = time.Date(2026, 6, 1, 10, 7, 0, 0, time.UTC)

// Open returns a fresh, empty store for one test; register cleanup with
// t.Cleanup.
type Open func(t *testing.T) kv.Store

// Run runs the conformance suite.
func Run(t *testing.T, open Open) {
	t.Run("GetPutDelete", func(t *testing.T) { testGetPutDelete(t, open(t)) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, open(t)) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, open(t)) })
	t.Run("UpdateExpired", func(t *testing.T) { testUpdateExpired(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrentUpdates(t, open(t)) })
	t.Run("Reserve", func(t *testing.T) { testReserve(t, open(t)) })
	t.Run("ReserveSliding", func(t *testing.T) { testReserveSliding(t, open(t)) })
	t.Run("ConcurrentReserve", func(t *testing.T) { testConcurrentReserve(t, open(t)) })
	t.Run("Release", func(t *testing.T) { testRelease(t, open(t)) })
	t.Run("Sets", func(t *testing.T) { testSets(t, open(t)) })
	t.Run("Scan", func(t *testing.T) { testScan(t, open(t)) })
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

var ctx = context.Background()

func mustPut(t *testing.T, s kv.Store, key, value string, expires, now time.Time) {
	t.Helper()
	if err := s.Put(ctx, key, []byte(value), expires, now); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func mustGet(t *testing.T, s kv.Store, key string, now time.Time) string {
	t.Helper()
	v, err := s.Get(ctx, key, now)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return string(v)
}

func mustMissing(t *testing.T, s kv.Store, key string, now time.Time) {
	t.Helper()
	if v, err := s.Get(ctx, key, now); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get %s = %q, %v; want ErrNotFound", key, v, err)
	}
}

func testGetPutDelete(t *testing.T, s kv.Store) {
	now := Epoch
	mustMissing(t, s, "a", now)
	mustPut(t, s, "a", "one", now.Add(time.Hour), now)
	mustPut(t, s, "a:b{c}*?[", "odd key", time.Time{}, now)
	mustPut(t, s, "empty", "", now.Add(time.Hour), now)
	if got := mustGet(t, s, "a", now); got != "one" {
		t.Fatalf("Get = %q", got)
	}
	if got := mustGet(t, s, "a:b{c}*?[", now); got != "odd key" {
		t.Fatalf("Get odd key = %q", got)
	}
	if got := mustGet(t, s, "empty", now); got != "" {
		t.Fatalf("Get empty = %q", got)
	}
	mustPut(t, s, "a", "two", now.Add(time.Hour), now)
	if got := mustGet(t, s, "a", now); got != "two" {
		t.Fatalf("Get after overwrite = %q", got)
	}
	// The caller owns what Get returns.
	v, _ := s.Get(ctx, "a", now)
	v[0] = 'X'
	if got := mustGet(t, s, "a", now); got != "two" {
		t.Fatalf("Get after mutating a returned slice = %q", got)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	mustMissing(t, s, "a", now)
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
}

func testExpiry(t *testing.T, s kv.Store) {
	now := Epoch
	mustPut(t, s, "short", "v", now.Add(time.Minute), now)
	mustPut(t, s, "forever", "v", time.Time{}, now)
	mustGet(t, s, "short", now.Add(time.Minute-time.Millisecond))
	mustMissing(t, s, "short", now.Add(time.Minute))
	mustGet(t, s, "forever", now.Add(10*365*24*time.Hour))
	// A Put whose expiry has passed stores nothing that can be read.
	mustPut(t, s, "past", "v", now.Add(-time.Second), now)
	mustMissing(t, s, "past", now)
}

func testUpdate(t *testing.T, s kv.Store) {
	now := Epoch
	exp := now.Add(time.Hour)
	write := func(v string) func([]byte) (kv.Change, error) {
		return func(cur []byte) (kv.Change, error) {
			return kv.Change{Op: kv.Write, Value: append(bytes.Clone(cur), v...), Expires: exp}, nil
		}
	}
	var saw []byte
	seen := func(cur []byte) (kv.Change, error) { saw = bytes.Clone(cur); return kv.Change{Op: kv.Keep}, nil }

	if err := s.Update(ctx, "u", now, seen); err != nil || saw != nil {
		t.Fatalf("Update of a missing key saw %q, %v; want nil", saw, err)
	}
	mustMissing(t, s, "u", now)
	if err := s.Update(ctx, "u", now, write("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "u", now, write("b")); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "u", now); got != "ab" {
		t.Fatalf("after two updates = %q", got)
	}
	boom := errors.New("boom")
	err := s.Update(ctx, "u", now, func([]byte) (kv.Change, error) { return kv.Change{Op: kv.Write, Value: []byte("lost")}, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v; want the function's error", err)
	}
	if got := mustGet(t, s, "u", now); got != "ab" {
		t.Fatalf("a failed update wrote %q", got)
	}
	if err := s.Update(ctx, "u", now, func([]byte) (kv.Change, error) { return kv.Change{Op: kv.Remove}, nil }); err != nil {
		t.Fatal(err)
	}
	mustMissing(t, s, "u", now)
	// An update can shorten a record's life.
	mustPut(t, s, "u2", "v", now.Add(time.Hour), now)
	err = s.Update(ctx, "u2", now, func(cur []byte) (kv.Change, error) {
		return kv.Change{Op: kv.Write, Value: cur, Expires: now.Add(time.Minute)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustMissing(t, s, "u2", now.Add(time.Minute))
}

func testUpdateExpired(t *testing.T, s kv.Store) {
	now := Epoch
	mustPut(t, s, "x", "old", now.Add(time.Second), now)
	var saw []byte
	later := now.Add(2 * time.Second)
	err := s.Update(ctx, "x", later, func(cur []byte) (kv.Change, error) {
		saw = bytes.Clone(cur)
		return kv.Change{Op: kv.Write, Value: []byte("new"), Expires: later.Add(time.Hour)}, nil
	})
	if err != nil || saw != nil {
		t.Fatalf("Update of an expired record saw %q, %v; want nil", saw, err)
	}
	if got := mustGet(t, s, "x", later); got != "new" {
		t.Fatalf("= %q", got)
	}
}

// testConcurrentUpdates: 50 racing read-modify-writes of one record all land.
func testConcurrentUpdates(t *testing.T, s kv.Store) {
	const n = 50
	now := Epoch
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- s.Update(ctx, "count", now, func(cur []byte) (kv.Change, error) {
				c := 0
				if cur != nil {
					var err error
					if c, err = strconv.Atoi(string(cur)); err != nil {
						return kv.Change{}, err
					}
				}
				return kv.Change{Op: kv.Write, Value: []byte(strconv.Itoa(c + 1)), Expires: now.Add(time.Hour)}, nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := mustGet(t, s, "count", now); got != strconv.Itoa(n) {
		t.Fatalf("after %d concurrent increments the record holds %s", n, got)
	}
}

func mustReserve(t *testing.T, s kv.Store, key string, limit int, window time.Duration, now time.Time) kv.Decision {
	t.Helper()
	d, err := s.Reserve(ctx, key, limit, window, now)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	return d
}

func testReserve(t *testing.T, s kv.Store) {
	now := Epoch
	w := time.Minute
	for i := range 3 {
		d := mustReserve(t, s, "r", 3, w, now)
		if !d.Allowed || d.Remaining != 2-i || d.Limit != 3 {
			t.Fatalf("reserve %d: %+v", i+1, d)
		}
	}
	d := mustReserve(t, s, "r", 3, w, now)
	if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 2*w {
		t.Fatalf("reserve over the limit: %+v", d)
	}
	if n, err := s.Count(ctx, "r", w, now); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3 (a refused reserve takes nothing)", n, err)
	}
	// Keys are independent.
	if d := mustReserve(t, s, "other", 3, w, now); !d.Allowed {
		t.Fatalf("another key: %+v", d)
	}
	if n, err := s.Count(ctx, "never", w, now); err != nil || n != 0 {
		t.Fatalf("Count of an unused key = %d, %v", n, err)
	}
	// Two windows later everything has slid out.
	if d := mustReserve(t, s, "r", 3, w, now.Add(2*w)); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("two windows later: %+v", d)
	}
}

// testReserveSliding: a burst at a fixed-window boundary cannot take twice
// the limit, and the refusal says when a unit frees up: a window after it
// was taken, to the slot (window/kv.Slots).
func testReserveSliding(t *testing.T, s kv.Store) {
	w := time.Minute
	slot := w / kv.Slots
	start := Epoch.Truncate(w)
	first := start.Add(30 * time.Second)
	late := start.Add(w - time.Second)
	for _, at := range []time.Time{first, late} {
		if d := mustReserve(t, s, "b", 2, w, at); !d.Allowed {
			t.Fatalf("reserve at %s: %+v", at, d)
		}
	}
	early := start.Add(w + time.Second)
	d := mustReserve(t, s, "b", 2, w, early)
	if d.Allowed {
		t.Fatalf("a third unit two seconds later, across the boundary, was allowed: %+v", d)
	}
	// The first unit frees up a window after it was taken.
	retry := early.Add(d.RetryAfter)
	if want := first.Add(w); retry.Before(want.Add(-slot)) || retry.After(want) {
		t.Fatalf("RetryAfter %s points at %s; want within a slot before %s", d.RetryAfter, retry, want)
	}
	if d := mustReserve(t, s, "b", 2, w, retry.Add(-slot)); d.Allowed {
		t.Fatalf("a slot before RetryAfter: %+v", d)
	}
	if d := mustReserve(t, s, "b", 2, w, retry); !d.Allowed {
		t.Fatalf("at RetryAfter: %+v", d)
	}
	if d := mustReserve(t, s, "b", 2, w, retry); d.Allowed {
		t.Fatalf("the second unit freed up with the first: %+v", d)
	}
}

// testConcurrentReserve: 40 racing reservations against a limit of 15.
func testConcurrentReserve(t *testing.T, s kv.Store) {
	var allowed, denied atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			d, err := s.Reserve(ctx, "race", 15, time.Minute, Epoch)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else {
				denied.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 15 || denied.Load() != 25 {
		t.Fatalf("40 racing reservations against 15: %d allowed, %d denied", allowed.Load(), denied.Load())
	}
}

func testRelease(t *testing.T, s kv.Store) {
	w := time.Minute
	now := Epoch
	mustReserve(t, s, "g", 2, w, now)
	mustReserve(t, s, "g", 2, w, now)
	if err := s.Release(ctx, "g", w, now); err != nil {
		t.Fatal(err)
	}
	if d := mustReserve(t, s, "g", 2, w, now); !d.Allowed {
		t.Fatalf("after a release: %+v", d)
	}
	// Giving back more than was taken never goes below zero.
	for range 5 {
		if err := s.Release(ctx, "g", w, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Release(ctx, "missing", w, now); err != nil {
		t.Fatalf("Release of an unused key: %v", err)
	}
	if n, err := s.Count(ctx, "g", w, now); err != nil || n != 0 {
		t.Fatalf("Count after over-release = %d, %v", n, err)
	}
	for range 2 {
		if d := mustReserve(t, s, "g", 2, w, now); !d.Allowed {
			t.Fatalf("after over-release: %+v", d)
		}
	}
	if d := mustReserve(t, s, "g", 2, w, now); d.Allowed {
		t.Fatal("over-release handed out more than the limit")
	}
}

func testSets(t *testing.T, s kv.Store) {
	now := Epoch
	members := func(at time.Time) []string {
		t.Helper()
		m, err := s.Members(ctx, "set", at)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(m)
		return m
	}
	if m := members(now); len(m) != 0 {
		t.Fatalf("empty set has %v", m)
	}
	for i, exp := range []time.Duration{time.Hour, time.Minute, 2 * time.Hour} {
		if err := s.AddMember(ctx, "set", fmt.Sprint("m", i), now.Add(exp), now); err != nil {
			t.Fatal(err)
		}
	}
	if m := members(now); !slices.Equal(m, []string{"m0", "m1", "m2"}) {
		t.Fatalf("members = %v", m)
	}
	if m := members(now.Add(time.Minute)); !slices.Equal(m, []string{"m0", "m2"}) {
		t.Fatalf("after m1 expired = %v", m)
	}
	// Re-adding moves a member's expiry.
	if err := s.AddMember(ctx, "set", "m1", now.Add(3*time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(ctx, "set", "m0"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(ctx, "set", "nobody"); err != nil {
		t.Fatal(err)
	}
	if m := members(now.Add(150 * time.Minute)); !slices.Equal(m, []string{"m1"}) {
		t.Fatalf("members = %v", m)
	}
	if err := s.Delete(ctx, "set"); err != nil {
		t.Fatal(err)
	}
	if m := members(now); len(m) != 0 {
		t.Fatalf("a deleted set has %v", m)
	}
}

func testScan(t *testing.T, s kv.Store) {
	now := Epoch
	mustPut(t, s, "p*:1", "a", now.Add(time.Hour), now)
	mustPut(t, s, "p*:2", "b", time.Time{}, now)
	mustPut(t, s, "p*:3", "gone", now.Add(time.Second), now)
	mustPut(t, s, "px:1", "not this prefix", now.Add(time.Hour), now)
	mustPut(t, s, "q:1", "nor this", now.Add(time.Hour), now)
	got := map[string]string{}
	err := s.Scan(ctx, "p*:", now.Add(time.Minute), func(k string, v []byte) error {
		got[k] = string(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["p*:1"] != "a" || got["p*:2"] != "b" {
		t.Fatalf("Scan = %v", got)
	}
	stop := errors.New("stop")
	calls := 0
	err = s.Scan(ctx, "p*:", now, func(string, []byte) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("a failing callback: %v after %d calls", err, calls)
	}
}
