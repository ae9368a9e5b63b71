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

// queueBuckets are the buckets of one queue, named after it: the mail
// queue's are mailq_jobs, mailq_due, mailq_dead and mailq_keys.
type queueBuckets struct {
	jobs []byte // id → mailQueueRecord (JSON)
	due  []byte // due (8 bytes, Unix ns) | id → nothing
	dead []byte // at (8 bytes, Unix ns) | id → DeadLetter (JSON)
	keys []byte // Job.Key → id
}

func bucketsOf(name string) queueBuckets {
	return queueBuckets{jobs: []byte(name + "_jobs"), due: []byte(name + "_due"), dead: []byte(name + "_dead"), keys: []byte(name + "_keys")}
}

func (b queueBuckets) all() [][]byte { return [][]byte{b.jobs, b.due, b.dead, b.keys} }

// mailQueueName names the mail queue's buckets.
const mailQueueName = "mailq"

// mailQueueBuckets are the mail queue's.
var mailQueueBuckets = bucketsOf(mailQueueName)

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
	b     queueBuckets
}

func (b queueBuckets) create(tx *bolt.Tx) error {
	for _, name := range b.all() {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Namespace returns another queue kept beside q, in the same file and
// sharing its commits, under buckets of its own named after name (for
// example "hookq" for webhook events: hookq_jobs, hookq_due, …). name must
// not be "mailq". It lives as long as q; its Close does nothing.
func (q *MailQueue) Namespace(name string) (*MailQueue, error) {
	if name == "" || name == mailQueueName {
		return nil, fmt.Errorf("boltstore: queue namespace %q is not another queue's", name)
	}
	b := bucketsOf(name)
	if err := q.db.Update(b.create); err != nil {
		return nil, fmt.Errorf("boltstore: create the %s queue's buckets: %w", name, err)
	}
	return &MailQueue{db: q.db, write: q.write, b: b}, nil
}

// NewMailQueue returns the mail queue kept in db (Store.DB), creating its
// buckets if needed. It lives as long as the database: close the Store
// after the workers.
func NewMailQueue(db *bolt.DB) (*MailQueue, error) {
	if err := db.Update(mailQueueBuckets.create); err != nil {
		return nil, fmt.Errorf("boltstore: create mail queue buckets: %w", err)
	}
	return &MailQueue{db: db, write: db.Batch, b: mailQueueBuckets}, nil
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
	if err := db.Update(mailQueueBuckets.create); err != nil {
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
	return &MailQueue{db: db, write: c.write, own: c, b: mailQueueBuckets}, nil
}

// moveMailQueue copies the mail queue buckets of from into to, commits,
// and only then deletes them from from.
func moveMailQueue(from, to *bolt.DB) error {
	found := false
	err := from.View(func(old *bolt.Tx) error {
		for _, name := range mailQueueBuckets.all() {
			if old.Bucket(name) != nil {
				found = true
			}
		}
		if !found {
			return nil
		}
		return to.Update(func(tx *bolt.Tx) error {
			for _, name := range mailQueueBuckets.all() {
				src := old.Bucket(name)
				if src == nil {
					continue
				}
				dst := tx.Bucket(name)
				if err := src.ForEach(func(k, v []byte) error { return dst.Put(k, v) }); err != nil {
					return err
				}
			}
			return trimDeadLetters(tx.Bucket(mailQueueBuckets.dead))
		})
	})
	if err != nil || !found {
		return err
	}
	return from.Update(func(tx *bolt.Tx) error {
		for _, name := range mailQueueBuckets.all() {
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
			keys := tx.Bucket(q.b.keys)
			if old := keys.Get([]byte(j.Key)); old != nil {
				gone, err := q.b.deleteJob(tx, old)
				if err != nil {
					return err
				}
				replaced = gone
			}
			if err := keys.Put([]byte(j.Key), []byte(j.ID)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(q.b.jobs).Put([]byte(j.ID), v); err != nil {
			return err
		}
		return tx.Bucket(q.b.due).Put(mailQueueKey(j.Due, j.ID), nil)
	})
	return replaced, err
}

// deleteJob deletes job id and its due entry (not its key) and
// reports whether it was there.
func (b queueBuckets) deleteJob(tx *bolt.Tx, id []byte) (bool, error) {
	jobs := tx.Bucket(b.jobs)
	rec, err := getMailQueueRecord(jobs, id)
	if err != nil || rec == nil {
		return false, err
	}
	if err := tx.Bucket(b.due).Delete(mailQueueKey(rec.Due, string(id))); err != nil {
		return false, err
	}
	return true, jobs.Delete(id)
}

// dueKeys returns the due-index keys of up to n jobs due at now.
func (b queueBuckets) dueKeys(tx *bolt.Tx, now time.Time, n int) [][]byte {
	var keys [][]byte
	c := tx.Bucket(b.due).Cursor()
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
		anyDue = len(q.b.dueKeys(tx, now, 1)) > 0
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
		jobs, due := tx.Bucket(q.b.jobs), tx.Bucket(q.b.due)
		for _, k := range q.b.dueKeys(tx, now, n) {
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
			if err := q.b.putRecord(tx, id, rec); err != nil {
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

// putRecord stores rec and indexes it under rec.Due.
func (b queueBuckets) putRecord(tx *bolt.Tx, id []byte, rec *mailQueueRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := tx.Bucket(b.jobs).Put(id, v); err != nil {
		return err
	}
	return tx.Bucket(b.due).Put(mailQueueKey(rec.Due, string(id)), nil)
}

// heldRecord returns j's record with its index entry removed, if
// the caller's claim still holds it.
func (b queueBuckets) heldRecord(tx *bolt.Tx, j *mailqueue.Job) (*mailQueueRecord, error) {
	rec, err := getMailQueueRecord(tx.Bucket(b.jobs), []byte(j.ID))
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Attempts != j.Attempts {
		return nil, mailqueue.ErrLeaseLost
	}
	if err := tx.Bucket(b.due).Delete(mailQueueKey(rec.Due, j.ID)); err != nil {
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
		d := mailqueue.DeadLetter{ID: j.ID, Attempts: j.Attempts, LastError: j.LastError, At: st.At}
		if st.Keep {
			d.Payload = j.Payload
		}
		v, err := json.Marshal(d)
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
			rec, err := q.b.heldRecord(tx, j)
			if errors.Is(err, mailqueue.ErrLeaseLost) {
				lost[i] = err
				continue
			}
			if err != nil {
				return err
			}
			if st.Outcome == mailqueue.Retry {
				rec.Due, rec.LastError = j.Due, j.LastError
				if err := q.b.putRecord(tx, []byte(j.ID), rec); err != nil {
					return err
				}
				continue
			}
			if err := tx.Bucket(q.b.jobs).Delete([]byte(j.ID)); err != nil {
				return err
			}
			if rec.Key != "" {
				keys := tx.Bucket(q.b.keys)
				if string(keys.Get([]byte(rec.Key))) == j.ID {
					if err := keys.Delete([]byte(rec.Key)); err != nil {
						return err
					}
				}
			}
			if st.Outcome == mailqueue.Bury {
				if err := tx.Bucket(q.b.dead).Put(mailQueueKey(st.At, j.ID), dead[i]); err != nil {
					return err
				}
				buried = true
			}
		}
		if buried {
			return trimDeadLetters(tx.Bucket(q.b.dead))
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
		c := tx.Bucket(q.b.dead).Cursor()
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
		st.Queued = tx.Bucket(q.b.jobs).Stats().KeyN
		st.DeadLetters = tx.Bucket(q.b.dead).Stats().KeyN
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("boltstore: mail queue stats: %w", err)
	}
	return st, nil
}

// Revive moves the dead letter id back into the queue, if it kept its
// payload, in one write transaction.
func (q *MailQueue) Revive(_ context.Context, id string, due time.Time) error {
	return q.update("revive", func(tx *bolt.Tx) error {
		dead := tx.Bucket(q.b.dead)
		c := dead.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if string(k[8:]) != id {
				continue
			}
			var d mailqueue.DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode dead letter %s: %w", id, err)
			}
			if d.Payload == nil {
				return mailqueue.ErrNoDeadLetter
			}
			if err := dead.Delete(k); err != nil {
				return err
			}
			return q.b.putRecord(tx, []byte(id), &mailQueueRecord{Payload: d.Payload, Due: due, LastError: d.LastError})
		}
		return mailqueue.ErrNoDeadLetter
	})
}
