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
	mu    sync.Mutex
	jobs  map[string]*Job
	byKey map[string]string // Job.Key → ID
	dead  []DeadLetter      // by At, oldest first
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{jobs: map[string]*Job{}, byKey: map[string]string{}}
}

// Enqueue stores a copy of j, replacing the job of the same Key.
func (s *MemoryStore) Enqueue(_ context.Context, j *Job) (bool, error) {
	c := *j
	c.Payload = slices.Clone(j.Payload)
	s.mu.Lock()
	defer s.mu.Unlock()
	replaced := false
	if j.Key != "" {
		if old, ok := s.byKey[j.Key]; ok {
			delete(s.jobs, old)
			replaced = true
		}
		s.byKey[j.Key] = j.ID
	}
	s.jobs[j.ID] = &c
	return replaced, nil
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

// remove deletes a job and its key.
func (s *MemoryStore) remove(j *Job) {
	delete(s.jobs, j.ID)
	if j.Key != "" && s.byKey[j.Key] == j.ID {
		delete(s.byKey, j.Key)
	}
}

// Settle ends the claims under one lock.
func (s *MemoryStore) Settle(_ context.Context, ss []Settlement) ([]error, error) {
	if err := CheckSettlements(ss); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lost := make([]error, len(ss))
	for i, st := range ss {
		stored, err := s.held(st.Job)
		if err != nil {
			lost[i] = err
			continue
		}
		switch st.Outcome {
		case Ack:
			s.remove(stored)
		case Retry:
			stored.Due, stored.LastError = st.Job.Due, st.Job.LastError
		case Bury:
			s.remove(stored)
			d := DeadLetter{ID: stored.ID, Attempts: stored.Attempts, LastError: st.Job.LastError, At: st.At}
			if st.Keep {
				d.Payload = stored.Payload
			}
			s.bury(d)
		}
	}
	return lost, nil
}

func (s *MemoryStore) bury(d DeadLetter) {
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
}

// DeadLetters returns up to limit dead letters, newest first.
func (s *MemoryStore) DeadLetters(_ context.Context, limit int) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DeadLetter, 0, min(limit, len(s.dead)))
	for i := len(s.dead) - 1; i >= 0 && len(out) < limit; i-- {
		d := s.dead[i]
		d.Payload = slices.Clone(d.Payload)
		out = append(out, d)
	}
	return out, nil
}

// Revive queues the dead letter id again.
func (s *MemoryStore) Revive(_ context.Context, id string, due time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.dead, func(d DeadLetter) bool { return d.ID == id })
	if i < 0 || s.dead[i].Payload == nil {
		return ErrNoDeadLetter
	}
	d := s.dead[i]
	s.dead = slices.Delete(s.dead, i, i+1)
	s.jobs[id] = &Job{ID: id, Payload: d.Payload, Due: due, LastError: d.LastError}
	return nil
}

// Stats counts jobs and dead letters.
func (s *MemoryStore) Stats(context.Context) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Queued: len(s.jobs), DeadLetters: len(s.dead)}, nil
}
