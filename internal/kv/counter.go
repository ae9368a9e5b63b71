package kv

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Slots is how many parts a counter's window is kept in.
const Slots = 64

// Counter is the state of one sliding-window counter, for backends that
// judge Reserve in Go (memory, bbolt); redisstore runs the same steps in a
// script on the same text form. It is a log of the units taken in the
// last window, each rounded down to a slot of window/Slots, so the state
// stays small (at most Slots+1 entries) however high the limit. A unit
// leaves the window a window after the start of its slot: the limit holds
// in every window of any start, give or take one slot, and a refusal says
// to the slot when the oldest unit frees up — never more than a window.
// Unlike a fixed window, a burst at a window boundary cannot take twice
// the limit.
type Counter struct {
	Entries []Entry // oldest first
}

// Entry is the units taken in one slot.
type Entry struct {
	Slot  int64 // the slot's start, Unix milliseconds
	Count int
}

// slotOf is the start of the slot holding t, in whole milliseconds since
// the Unix epoch, as every backend computes it.
func slotOf(t time.Time, window time.Duration) int64 {
	ms, w := t.UnixMilli(), slotMillis(window)
	return ms - ms%w
}

func slotMillis(window time.Duration) int64 { return max(1, window.Milliseconds()/Slots) }

// prune drops the entries that have left the window ending at now.
func (c Counter) prune(window time.Duration, now time.Time) Counter {
	ms := now.UnixMilli()
	i := 0
	for i < len(c.Entries) && c.Entries[i].Slot+window.Milliseconds() <= ms {
		i++
	}
	return Counter{Entries: c.Entries[i:]}
}

func (c Counter) held() int {
	n := 0
	for _, e := range c.Entries {
		n += e.Count
	}
	return n
}

// Reserve takes one unit if the limit allows and returns the new state
// and the decision.
func (c Counter) Reserve(limit int, window time.Duration, now time.Time) (Counter, Decision) {
	c = c.prune(window, now)
	held := c.held()
	d := Decision{Limit: limit}
	if limit > 0 && held < limit {
		slot := slotOf(now, window)
		entries := slices.Clone(c.Entries)
		if n := len(entries); n > 0 && entries[n-1].Slot >= slot {
			entries[n-1].Count++
		} else {
			entries = append(entries, Entry{Slot: slot, Count: 1})
		}
		c = Counter{Entries: entries}
		held++
		d.Allowed = true
	} else {
		d.RetryAfter = c.wait(limit, window, now)
	}
	d.Remaining = max(0, limit-held)
	if len(c.Entries) > 0 {
		d.Reset = time.Duration(c.Entries[len(c.Entries)-1].Slot+window.Milliseconds()-now.UnixMilli()) * time.Millisecond
	}
	return c, d
}

// wait is how long until one more unit fits under limit, if nothing more
// is taken: until enough of the oldest units have left the window.
func (c Counter) wait(limit int, window time.Duration, now time.Time) time.Duration {
	if limit <= 0 {
		return window
	}
	excess := c.held() - limit + 1
	for _, e := range c.Entries {
		excess -= e.Count
		if excess <= 0 {
			return max(time.Duration(e.Slot+window.Milliseconds()-now.UnixMilli())*time.Millisecond, time.Millisecond)
		}
	}
	return time.Millisecond
}

// Release gives back one unit taken at taken, if it still counts.
func (c Counter) Release(window time.Duration, taken time.Time) Counter {
	slot := slotOf(taken, window)
	entries := slices.Clone(c.Entries)
	for i, e := range entries {
		if e.Slot == slot && e.Count > 0 {
			entries[i].Count--
			if entries[i].Count == 0 {
				entries = slices.Delete(entries, i, i+1)
			}
			break
		}
	}
	return Counter{Entries: entries}
}

// Count is the units held at now.
func (c Counter) Count(window time.Duration, now time.Time) int { return c.prune(window, now).held() }

// Expires is when c holds nothing any more (the zero time when empty).
func (c Counter) Expires(window time.Duration) time.Time {
	if len(c.Entries) == 0 {
		return time.Time{}
	}
	return time.UnixMilli(c.Entries[len(c.Entries)-1].Slot).Add(window)
}

// Encode returns c's record: "slot:count" pairs, oldest first, joined by
// commas (the form redisstore's scripts read and write too).
func (c Counter) Encode() []byte {
	var b []byte
	for i, e := range c.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, e.Slot, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(e.Count), 10)
	}
	return b
}

// DecodeCounter reads a record written by Encode; nil or empty gives the
// empty Counter.
func DecodeCounter(b []byte) (Counter, error) {
	if len(b) == 0 {
		return Counter{}, nil
	}
	parts := strings.Split(string(b), ",")
	c := Counter{Entries: make([]Entry, 0, len(parts))}
	for _, p := range parts {
		s, n, ok := strings.Cut(p, ":")
		slot, err1 := strconv.ParseInt(s, 10, 64)
		count, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || count < 0 {
			return Counter{}, errors.Join(ErrCorrupt, errors.New("counter entry "+strconv.Quote(p)))
		}
		c.Entries = append(c.Entries, Entry{Slot: slot, Count: count})
	}
	return c, nil
}

// Slot is the start of the slot of window that holds t, in Unix
// milliseconds: what a backend that judges in a script is told.
func Slot(t time.Time, window time.Duration) int64 { return slotOf(t, window) }
