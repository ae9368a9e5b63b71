package boltstore

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// errClosed is returned by writes after the committer's file is closed.
var errClosed = errors.New("boltstore: closed")

// committer is a group commit on a bbolt file: every write that arrives
// while a commit runs goes into the next one, so under load each commit
// serves all waiting writers and the commit rate is the disk's, with no
// delay added when there is no load. (bbolt's Batch instead closes a
// batch after a fixed delay, and under sustained load, when a commit
// takes longer than that delay, its batches queue behind each other on
// the writer lock: a burst of sign-ins once waited seconds there.)
type committer struct {
	db *bolt.DB

	mu      sync.Mutex
	pending []commitCall
	closed  bool
	kick    chan struct{} // capacity 1: there is pending work
	done    chan struct{} // the loop ended
}

type commitCall struct {
	fn  func(*bolt.Tx) error
	err chan error
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go c.loop()
	return c
}

// write runs fn in a write transaction shared with the writes pending
// beside it, and returns when that transaction is committed. fn may run
// more than once (as with bbolt's Batch), so it must set its results
// afresh each time. fn runs on the committer's goroutine: it must not
// call the store (that write would wait for the commit it is part of),
// and a panic in it is raised again here, on the caller's goroutine,
// where the HTTP server's recovery contains it.
func (c *committer) write(fn func(*bolt.Tx) error) error {
	call := commitCall{fn: fn, err: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	c.pending = append(c.pending, call)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	err := <-call.err
	if p, ok := err.(panicked); ok {
		panic(p.value)
	}
	return err
}

// panicked carries a panic of a write's function back to its caller.
type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("boltstore: a write panicked: %v", p.value) }

// guarded runs fn, turning a panic into a panicked error, so that one
// write's bug fails that write and not the process.
func guarded(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn(tx)
}

func (c *committer) loop() {
	defer close(c.done)
	for range c.kick {
		c.mu.Lock()
		calls, closed := c.pending, c.closed
		c.pending = nil
		c.mu.Unlock()
		if len(calls) > 0 {
			c.commit(calls)
		}
		if closed {
			return
		}
	}
}

// commit runs calls in one transaction; if it fails, each runs alone so
// that one failing write does not fail the others.
func (c *committer) commit(calls []commitCall) {
	err := c.db.Update(func(tx *bolt.Tx) error {
		for _, call := range calls {
			if err := guarded(call.fn, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(calls) > 1 {
		for _, call := range calls {
			call.err <- c.db.Update(func(tx *bolt.Tx) error { return guarded(call.fn, tx) })
		}
		return
	}
	for _, call := range calls {
		call.err <- err
	}
}

// close commits what is pending, stops the loop and refuses new writes.
func (c *committer) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closed = true
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	<-c.done
}
