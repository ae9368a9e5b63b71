package mailqueue

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore is a Store in process memory, for tests and for a single
// process that may lose its queue on exit. It is safe for concurrent use.
type MemoryStore struct {
	mu   sync.Mutex
	jobs map[string]*Job
	dead []DeadLetter // by At, oldest first
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{jobs: map[string]*Job{}}
}

// Enqueue stores a copy of j.
func (s *MemoryStore) Enqueue(_ context.Context, j *Job) error {
	c := *j
	c.Payload = slices.Clone(j.Payload)
	s.mu.Lock()
	s.jobs[j.ID] = &c
	s.mu.Unlock()
	return nil
}

// Claim leases up to n due jobs, earliest first.
func (s *MemoryStore) Claim(_ context.Context, now time.Time, lease time.Duration, n int) ([]*Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []*Job
	for _, j := range s.jobs {
		if !j.Due.After(now) {
			due = append(due, j)
		}
	}
	slices.SortFunc(due, func(a, b *Job) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(due) > n {
		due = due[:n]
	}
	out := make([]*Job, len(due))
	for i, j := range due {
		j.Attempts++
		j.Due = now.Add(lease)
		c := *j
		c.Payload = slices.Clone(j.Payload)
		out[i] = &c
	}
	return out, nil
}

// held returns the stored job j.ID if the caller's claim still holds it.
func (s *MemoryStore) held(j *Job) (*Job, error) {
	stored, ok := s.jobs[j.ID]
	if !ok || stored.Attempts != j.Attempts {
		return nil, ErrLeaseLost
	}
	return stored, nil
}

// Ack deletes the claimed job.
func (s *MemoryStore) Ack(_ context.Context, j *Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.held(j); err != nil {
		return err
	}
	delete(s.jobs, j.ID)
	return nil
}

// Retry makes the claimed job due at j.Due.
func (s *MemoryStore) Retry(_ context.Context, j *Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := s.held(j)
	if err != nil {
		return err
	}
	stored.Due, stored.LastError = j.Due, j.LastError
	return nil
}

// Bury moves the claimed job to the dead letters.
func (s *MemoryStore) Bury(_ context.Context, j *Job, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.held(j); err != nil {
		return err
	}
	delete(s.jobs, j.ID)
	d := DeadLetter{ID: j.ID, Attempts: j.Attempts, LastError: j.LastError, At: at}
	i, _ := slices.BinarySearchFunc(s.dead, d, func(a, b DeadLetter) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	s.dead = slices.Insert(s.dead, i, d)
	if over := len(s.dead) - MaxDeadLetters; over > 0 {
		s.dead = slices.Delete(s.dead, 0, over)
	}
	return nil
}

// DeadLetters returns up to limit dead letters, newest first.
func (s *MemoryStore) DeadLetters(_ context.Context, limit int) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DeadLetter, 0, min(limit, len(s.dead)))
	for i := len(s.dead) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.dead[i])
	}
	return out, nil
}

// Stats counts jobs and dead letters.
func (s *MemoryStore) Stats(context.Context) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Queued: len(s.jobs), DeadLetters: len(s.dead)}, nil
}
