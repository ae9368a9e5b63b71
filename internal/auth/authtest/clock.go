// Package authtest holds what tests of the engine and its parts share: a
// settable clock at a fixed epoch, one fake mailbox, an engine wired to any
// kv.Store, and the suite that runs the engine's rules once on top of
// every backend.
package authtest

import (
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/kv/kvtest"
)

// Epoch is the fixed instant tests start at (kvtest.Epoch): seven minutes
// past an hour, so no test's windows cross a boundary by accident.
var Epoch = kvtest.Epoch

// Clock is an auth.Clock that moves only when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
