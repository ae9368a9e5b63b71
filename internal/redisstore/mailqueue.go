package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/mail/mailqueue"
)

var _ mailqueue.Store = (*MailQueue)(nil)

// MailQueue is a mailqueue.Store in Redis, shared by every replica, so any
// of them delivers what another queued. Its four keys share one hash tag,
// so its scripts, which touch several of them at once, run on one Cluster
// node:
//
//	<prefix>{mailq}:due       job ID → due time (ms)              sorted set
//	<prefix>{mailq}:jobs      ID → sealed payload; ID:a attempts,  hash
//	                          ID:x expiry (ms), ID:e last error
//	<prefix>{mailq}:dead      dead letter ID → time (ms)           sorted set
//	<prefix>{mailq}:deadinfo  dead letter ID → JSON                hash
//
// Claim, Ack, Retry and Bury are Lua scripts: a claim takes the due jobs
// and moves them to the end of their lease in one step, so racing
// replicas never claim the same job under one lease.
type MailQueue struct {
	client                 redis.UniversalClient
	due, jobs, dead, dinfo string
}

// NewMailQueue returns the mail queue kept under prefix, normally a
// Store's Client and Prefix. It does no I/O; closing the client ends it.
func NewMailQueue(client redis.UniversalClient, prefix string) *MailQueue {
	k := prefix + "{mailq}:"
	return &MailQueue{client: client, due: k + "due", jobs: k + "jobs", dead: k + "dead", dinfo: k + "deadinfo"}
}

func mailQueueError(op string, err error) error {
	return fmt.Errorf("redisstore: mail queue %s: %w", op, err)
}

// ms is t in Unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// KEYS: due, jobs. ARGV: id, payload, attempts, due ms, expires ms, last error.
var mailQueueEnqueueScript = redis.NewScript(`
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2], ARGV[1]..':a', ARGV[3], ARGV[1]..':x', ARGV[5], ARGV[1]..':e', ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
`)

// Enqueue stores j.
func (q *MailQueue) Enqueue(ctx context.Context, j *mailqueue.Job) error {
	err := mailQueueEnqueueScript.Run(ctx, q.client, []string{q.due, q.jobs},
		j.ID, j.Payload, j.Attempts, ms(j.Due), ms(j.Expires), j.LastError).Err()
	if err != nil {
		return mailQueueError("enqueue", err)
	}
	return nil
}

// KEYS: due, jobs. ARGV: now ms, lease end ms, n.
// Returns {id, payload, attempts, expires ms, last error} per claimed job.
var mailQueueClaimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', KEYS[2], id, id..':x', id..':e')
  if f[1] then
    local a = redis.call('HINCRBY', KEYS[2], id..':a', 1)
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out+1] = {id, f[1], a, f[2] or '0', f[3] or ''}
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)

// Claim leases up to n due jobs, earliest first.
func (q *MailQueue) Claim(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*mailqueue.Job, error) {
	due := now.Add(lease)
	res, err := mailQueueClaimScript.Run(ctx, q.client, []string{q.due, q.jobs}, ms(now), ms(due), n).Slice()
	if err != nil {
		return nil, mailQueueError("claim", err)
	}
	out := make([]*mailqueue.Job, 0, len(res))
	for _, r := range res {
		f, ok := r.([]any)
		if !ok || len(f) != 5 {
			return nil, mailQueueError("claim", fmt.Errorf("unexpected reply %v", r))
		}
		id, _ := f[0].(string)
		payload, _ := f[1].(string)
		attempts, _ := f[2].(int64)
		xs, _ := f[3].(string)
		lastErr, _ := f[4].(string)
		expires, err := strconv.ParseInt(xs, 10, 64)
		if err != nil {
			return nil, mailQueueError("claim", fmt.Errorf("job %s expiry %q: %w", id, xs, err))
		}
		out = append(out, &mailqueue.Job{ID: id, Payload: []byte(payload), Attempts: int(attempts), Due: due, Expires: fromMs(expires), LastError: lastErr})
	}
	return out, nil
}

// The scripts below act only while the job's stored attempts equal the
// caller's (ARGV[2]); else they return 0 and change nothing.

// KEYS: due, jobs. ARGV: id, attempts.
var mailQueueAckScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]..':a') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1], ARGV[1]..':a', ARGV[1]..':x', ARGV[1]..':e')
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`)

// KEYS: due, jobs. ARGV: id, attempts, due ms, last error.
var mailQueueRetryScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]..':a') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1]..':e', ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// KEYS: due, jobs, dead, deadinfo. ARGV: id, attempts, at ms, info JSON, max kept.
var mailQueueBuryScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]..':a') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1], ARGV[1]..':a', ARGV[1]..':x', ARGV[1]..':e')
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[3], 0, over - 1)
  redis.call('HDEL', KEYS[4], unpack(old))
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1)
end
return 1
`)

func (q *MailQueue) fenced(ctx context.Context, op string, s *redis.Script, keys []string, args ...any) error {
	n, err := s.Run(ctx, q.client, keys, args...).Int()
	if err != nil {
		return mailQueueError(op, err)
	}
	if n == 0 {
		return mailQueueError(op, mailqueue.ErrLeaseLost)
	}
	return nil
}

// Ack deletes the claimed job.
func (q *MailQueue) Ack(ctx context.Context, j *mailqueue.Job) error {
	return q.fenced(ctx, "ack", mailQueueAckScript, []string{q.due, q.jobs}, j.ID, j.Attempts)
}

// Retry makes the claimed job due at j.Due.
func (q *MailQueue) Retry(ctx context.Context, j *mailqueue.Job) error {
	return q.fenced(ctx, "retry", mailQueueRetryScript, []string{q.due, q.jobs}, j.ID, j.Attempts, ms(j.Due), j.LastError)
}

// Bury moves the claimed job to the dead letters, keeping the newest
// mailqueue.MaxDeadLetters.
func (q *MailQueue) Bury(ctx context.Context, j *mailqueue.Job, at time.Time) error {
	info, err := json.Marshal(mailqueue.DeadLetter{ID: j.ID, Attempts: j.Attempts, LastError: j.LastError, At: at})
	if err != nil {
		return mailQueueError("bury", err)
	}
	return q.fenced(ctx, "bury", mailQueueBuryScript, []string{q.due, q.jobs, q.dead, q.dinfo},
		j.ID, j.Attempts, ms(at), info, mailqueue.MaxDeadLetters)
}

// DeadLetters returns up to limit dead letters, newest first.
func (q *MailQueue) DeadLetters(ctx context.Context, limit int) ([]mailqueue.DeadLetter, error) {
	if limit <= 0 {
		return nil, nil
	}
	ids, err := q.client.ZRevRange(ctx, q.dead, 0, int64(limit-1)).Result()
	if err != nil {
		return nil, mailQueueError("dead letters", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	infos, err := q.client.HMGet(ctx, q.dinfo, ids...).Result()
	if err != nil {
		return nil, mailQueueError("dead letters", err)
	}
	out := make([]mailqueue.DeadLetter, 0, len(infos))
	for i, v := range infos {
		s, ok := v.(string)
		if !ok {
			continue // trimmed between the two reads
		}
		var d mailqueue.DeadLetter
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return nil, mailQueueError("dead letters", fmt.Errorf("decode %s: %w", ids[i], err))
		}
		out = append(out, d)
	}
	return out, nil
}

// Stats counts jobs and dead letters.
func (q *MailQueue) Stats(ctx context.Context) (mailqueue.Stats, error) {
	var queued, dead *redis.IntCmd
	_, err := q.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		queued = p.ZCard(ctx, q.due)
		dead = p.ZCard(ctx, q.dead)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return mailqueue.Stats{}, mailQueueError("stats", err)
	}
	return mailqueue.Stats{Queued: int(queued.Val()), DeadLetters: int(dead.Val())}, nil
}
