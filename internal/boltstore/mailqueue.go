package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latch-auth/latch/internal/mail/mailqueue"
)

var _ mailqueue.Store = (*MailQueue)(nil)

// The mail queue's buckets.
var (
	mailQueueJobs = []byte("mailq_jobs") // id → mailQueueRecord (JSON)
	mailQueueDue  = []byte("mailq_due")  // due (8 bytes, Unix ns) | id → nothing
	mailQueueDead = []byte("mailq_dead") // at (8 bytes, Unix ns) | id → DeadLetter (JSON)
	mailQueueKeys = []byte("mailq_keys") // Job.Key → id
)

// MailQueueFileName is the mail queue's own database file (OpenMailQueue)
// inside the data directory.
const MailQueueFileName = "mailqueue.db"

// MailQueue is a mailqueue.Store in a bbolt file, in buckets of its own.
// Jobs are indexed by due time, so a claim reads only what is due; a poll
// that finds nothing due writes nothing.
//
// Opened with OpenMailQueue, it has a file of its own with a group
// commit: the enqueues of concurrent sends, a claim of many jobs and a
// settlement of many claims share one commit (one fsync), and none of
// them waits behind the sign-in store's writes, which go to another file
// with its own lock. NewMailQueue keeps it in the Store's own file
// instead, sharing bbolt's Batch with the Store's writes.
type MailQueue struct {
	db    *bolt.DB
	write func(func(*bolt.Tx) error) error
	own   *committer // with OpenMailQueue: closed with the file
}

var mailQueueBuckets = [][]byte{mailQueueJobs, mailQueueDue, mailQueueDead, mailQueueKeys}

func createMailQueueBuckets(tx *bolt.Tx) error {
	for _, b := range mailQueueBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// NewMailQueue returns the mail queue kept in db (Store.DB), creating its
// buckets if needed. It lives as long as the database: close the Store
// after the workers.
func NewMailQueue(db *bolt.DB) (*MailQueue, error) {
	if err := db.Update(createMailQueueBuckets); err != nil {
		return nil, fmt.Errorf("boltstore: create mail queue buckets: %w", err)
	}
	return &MailQueue{db: db, write: db.Batch}, nil
}

// OpenMailQueue opens (or creates) the mail queue's own file in dir.
// When from (the Store's database, Store.DB) still holds a mail queue,
// as releases before this one kept it there, its jobs and dead letters
// are moved into the new file first; a move cut short is done again at
// the next open, and nothing is lost. Close it after the workers.
func OpenMailQueue(dir string, from *bolt.DB) (*MailQueue, error) {
	path := filepath.Join(dir, MailQueueFileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := db.Update(createMailQueueBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: create mail queue buckets: %w", err)
	}
	if from != nil {
		if err := moveMailQueue(from, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("boltstore: move the mail queue into %s: %w", path, err)
		}
	}
	c := newCommitter(db)
	return &MailQueue{db: db, write: c.write, own: c}, nil
}

// moveMailQueue copies the mail queue buckets of from into to, commits,
// and only then deletes them from from.
func moveMailQueue(from, to *bolt.DB) error {
	found := false
	err := from.View(func(old *bolt.Tx) error {
		for _, name := range mailQueueBuckets {
			if old.Bucket(name) != nil {
				found = true
			}
		}
		if !found {
			return nil
		}
		return to.Update(func(tx *bolt.Tx) error {
			for _, name := range mailQueueBuckets {
				src := old.Bucket(name)
				if src == nil {
					continue
				}
				dst := tx.Bucket(name)
				if err := src.ForEach(func(k, v []byte) error { return dst.Put(k, v) }); err != nil {
					return err
				}
			}
			return trimDeadLetters(tx.Bucket(mailQueueDead))
		})
	})
	if err != nil || !found {
		return err
	}
	return from.Update(func(tx *bolt.Tx) error {
		for _, name := range mailQueueBuckets {
			if tx.Bucket(name) == nil {
				continue
			}
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close ends a mail queue opened with OpenMailQueue, after committing
// what is pending; for one made by NewMailQueue it does nothing.
func (q *MailQueue) Close() error {
	if q.own == nil {
		return nil
	}
	q.own.close()
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close mail queue: %w", err)
	}
	return nil
}

// mailQueueRecord is a job as stored, without its ID (the key). Records
// written before Key existed read with an empty Key.
type mailQueueRecord struct {
	Key       string `json:",omitempty"`
	Payload   []byte
	Attempts  int
	Due       time.Time
	Expires   time.Time
	LastError string
}

func mailQueueKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

func mailQueueKeyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
}

func (q *MailQueue) update(op string, fn func(tx *bolt.Tx) error) error {
	if err := q.write(fn); err != nil {
		return fmt.Errorf("boltstore: mail queue %s: %w", op, err)
	}
	return nil
}

// Enqueue stores j, replacing the job stored under j.Key.
func (q *MailQueue) Enqueue(_ context.Context, j *mailqueue.Job) (bool, error) {
	v, err := json.Marshal(mailQueueRecord{Key: j.Key, Payload: j.Payload, Attempts: j.Attempts, Due: j.Due, Expires: j.Expires, LastError: j.LastError})
	if err != nil {
		return false, fmt.Errorf("boltstore: mail queue enqueue: %w", err)
	}
	var replaced bool
	err = q.update("enqueue", func(tx *bolt.Tx) error {
		replaced = false
		if j.Key != "" {
			keys := tx.Bucket(mailQueueKeys)
			if old := keys.Get([]byte(j.Key)); old != nil {
				gone, err := deleteMailQueueJob(tx, old)
				if err != nil {
					return err
				}
				replaced = gone
			}
			if err := keys.Put([]byte(j.Key), []byte(j.ID)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(mailQueueJobs).Put([]byte(j.ID), v); err != nil {
			return err
		}
		return tx.Bucket(mailQueueDue).Put(mailQueueKey(j.Due, j.ID), nil)
	})
	return replaced, err
}

// deleteMailQueueJob deletes job id and its due entry (not its key) and
// reports whether it was there.
func deleteMailQueueJob(tx *bolt.Tx, id []byte) (bool, error) {
	jobs := tx.Bucket(mailQueueJobs)
	rec, err := getMailQueueRecord(jobs, id)
	if err != nil || rec == nil {
		return false, err
	}
	if err := tx.Bucket(mailQueueDue).Delete(mailQueueKey(rec.Due, string(id))); err != nil {
		return false, err
	}
	return true, jobs.Delete(id)
}

// dueKeys returns the due-index keys of up to n jobs due at now.
func dueKeys(tx *bolt.Tx, now time.Time, n int) [][]byte {
	var keys [][]byte
	c := tx.Bucket(mailQueueDue).Cursor()
	for k, _ := c.First(); k != nil && len(keys) < n; k, _ = c.Next() {
		if mailQueueKeyTime(k).After(now) {
			break
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	return keys
}

// Claim leases up to n due jobs, earliest first.
func (q *MailQueue) Claim(_ context.Context, now time.Time, lease time.Duration, n int) ([]*mailqueue.Job, error) {
	var anyDue bool
	err := q.db.View(func(tx *bolt.Tx) error {
		anyDue = len(dueKeys(tx, now, 1)) > 0
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: mail queue claim: %w", err)
	}
	if !anyDue {
		return nil, nil
	}
	var out []*mailqueue.Job
	err = q.update("claim", func(tx *bolt.Tx) error {
		out = out[:0]
		jobs, due := tx.Bucket(mailQueueJobs), tx.Bucket(mailQueueDue)
		for _, k := range dueKeys(tx, now, n) {
			id := k[8:]
			if err := due.Delete(k); err != nil {
				return err
			}
			rec, err := getMailQueueRecord(jobs, id)
			if err != nil {
				return err
			}
			if rec == nil {
				continue // an index entry without its job; now gone
			}
			rec.Attempts++
			rec.Due = now.Add(lease)
			if err := putMailQueueRecord(tx, id, rec); err != nil {
				return err
			}
			out = append(out, &mailqueue.Job{ID: string(id), Key: rec.Key, Payload: rec.Payload, Attempts: rec.Attempts, Due: rec.Due, Expires: rec.Expires, LastError: rec.LastError})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func getMailQueueRecord(jobs *bolt.Bucket, id []byte) (*mailQueueRecord, error) {
	v := jobs.Get(id)
	if v == nil {
		return nil, nil
	}
	var rec mailQueueRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("decode job %s: %w", id, err)
	}
	return &rec, nil
}

// putMailQueueRecord stores rec and indexes it under rec.Due.
func putMailQueueRecord(tx *bolt.Tx, id []byte, rec *mailQueueRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := tx.Bucket(mailQueueJobs).Put(id, v); err != nil {
		return err
	}
	return tx.Bucket(mailQueueDue).Put(mailQueueKey(rec.Due, string(id)), nil)
}

// heldMailQueueRecord returns j's record with its index entry removed, if
// the caller's claim still holds it.
func heldMailQueueRecord(tx *bolt.Tx, j *mailqueue.Job) (*mailQueueRecord, error) {
	rec, err := getMailQueueRecord(tx.Bucket(mailQueueJobs), []byte(j.ID))
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Attempts != j.Attempts {
		return nil, mailqueue.ErrLeaseLost
	}
	if err := tx.Bucket(mailQueueDue).Delete(mailQueueKey(rec.Due, j.ID)); err != nil {
		return nil, err
	}
	return rec, nil
}

// Settle ends the claims in one write transaction.
func (q *MailQueue) Settle(_ context.Context, ss []mailqueue.Settlement) ([]error, error) {
	if err := mailqueue.CheckSettlements(ss); err != nil {
		return nil, err
	}
	dead := make([][]byte, len(ss))
	for i, st := range ss {
		if st.Outcome != mailqueue.Bury {
			continue
		}
		j := st.Job
		v, err := json.Marshal(mailqueue.DeadLetter{ID: j.ID, Attempts: j.Attempts, LastError: j.LastError, At: st.At})
		if err != nil {
			return nil, fmt.Errorf("boltstore: mail queue settle: %w", err)
		}
		dead[i] = v
	}
	lost := make([]error, len(ss))
	err := q.update("settle", func(tx *bolt.Tx) error {
		clear(lost)
		buried := false
		for i, st := range ss {
			j := st.Job
			rec, err := heldMailQueueRecord(tx, j)
			if errors.Is(err, mailqueue.ErrLeaseLost) {
				lost[i] = err
				continue
			}
			if err != nil {
				return err
			}
			if st.Outcome == mailqueue.Retry {
				rec.Due, rec.LastError = j.Due, j.LastError
				if err := putMailQueueRecord(tx, []byte(j.ID), rec); err != nil {
					return err
				}
				continue
			}
			if err := tx.Bucket(mailQueueJobs).Delete([]byte(j.ID)); err != nil {
				return err
			}
			if rec.Key != "" {
				keys := tx.Bucket(mailQueueKeys)
				if string(keys.Get([]byte(rec.Key))) == j.ID {
					if err := keys.Delete([]byte(rec.Key)); err != nil {
						return err
					}
				}
			}
			if st.Outcome == mailqueue.Bury {
				if err := tx.Bucket(mailQueueDead).Put(mailQueueKey(st.At, j.ID), dead[i]); err != nil {
					return err
				}
				buried = true
			}
		}
		if buried {
			return trimDeadLetters(tx.Bucket(mailQueueDead))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// trimDeadLetters keeps the newest mailqueue.MaxDeadLetters.
func trimDeadLetters(dead *bolt.Bucket) error {
	// Count with a cursor: unlike Stats, it sees this transaction's writes.
	c := dead.Cursor()
	n := 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	var old [][]byte
	for k, _ := c.First(); k != nil && len(old) < n-mailqueue.MaxDeadLetters; k, _ = c.Next() {
		old = append(old, append([]byte(nil), k...))
	}
	for _, k := range old {
		if err := dead.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// DeadLetters returns up to limit dead letters, newest first.
func (q *MailQueue) DeadLetters(_ context.Context, limit int) ([]mailqueue.DeadLetter, error) {
	var out []mailqueue.DeadLetter
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(mailQueueDead).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var d mailqueue.DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode dead letter: %w", err)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: mail queue dead letters: %w", err)
	}
	return out, nil
}

// Stats counts jobs and dead letters.
func (q *MailQueue) Stats(context.Context) (mailqueue.Stats, error) {
	var st mailqueue.Stats
	err := q.db.View(func(tx *bolt.Tx) error {
		st.Queued = tx.Bucket(mailQueueJobs).Stats().KeyN
		st.DeadLetters = tx.Bucket(mailQueueDead).Stats().KeyN
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("boltstore: mail queue stats: %w", err)
	}
	return st, nil
}
