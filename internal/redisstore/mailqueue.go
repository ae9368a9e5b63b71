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
//	                          ID:x expiry (ms), ID:e last error,
//	                          ID:k its Key; k:KEY → the ID keyed so
//	<prefix>{mailq}:dead      dead letter ID → time (ms)           sorted set
//	<prefix>{mailq}:deadinfo  dead letter ID → JSON; ID:p the      hash
//	                          payload, when kept (Settlement.Keep)
//
// Enqueue, Claim and Settle are Lua scripts, one round trip each: a claim
// takes the due jobs and moves them to the end of their lease in one
// step, so racing replicas never claim the same job under one lease, and
// one settlement ends any number of claims.
type MailQueue struct {
	client                 redis.UniversalClient
	due, jobs, dead, dinfo string
}

// NewMailQueue returns the mail queue kept under prefix, normally a
// Store's Client and Prefix. It does no I/O; closing the client ends it.
func NewMailQueue(client redis.UniversalClient, prefix string) *MailQueue {
	return NewQueue(client, prefix, "mailq")
}

// NewQueue returns the queue named name kept under prefix, beside the
// mail queue ("mailq") and like it: for example "hookq" for webhook
// events, whose keys are <prefix>{hookq}:due and so on. It does no I/O.
func NewQueue(client redis.UniversalClient, prefix, name string) *MailQueue {
	k := prefix + "{" + name + "}:"
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

// KEYS: due, jobs. ARGV: id, payload, attempts, due ms, expires ms, last
// error, key. Returns 1 when it replaced the job of the same key.
var mailQueueEnqueueScript = redis.NewScript(`
local replaced = 0
local id, key = ARGV[1], ARGV[7]
if key ~= '' then
  local old = redis.call('HGET', KEYS[2], 'k:'..key)
  if old and redis.call('HEXISTS', KEYS[2], old) == 1 then
    redis.call('HDEL', KEYS[2], old, old..':a', old..':x', old..':e', old..':k')
    redis.call('ZREM', KEYS[1], old)
    replaced = 1
  end
  redis.call('HSET', KEYS[2], 'k:'..key, id, id..':k', key)
end
redis.call('HSET', KEYS[2], id, ARGV[2], id..':a', ARGV[3], id..':x', ARGV[5], id..':e', ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[4], id)
return replaced
`)

// Enqueue stores j, replacing the job stored under j.Key.
func (q *MailQueue) Enqueue(ctx context.Context, j *mailqueue.Job) (bool, error) {
	n, err := mailQueueEnqueueScript.Run(ctx, q.client, []string{q.due, q.jobs},
		j.ID, j.Payload, j.Attempts, ms(j.Due), ms(j.Expires), j.LastError, j.Key).Int()
	if err != nil {
		return false, mailQueueError("enqueue", err)
	}
	return n == 1, nil
}

// KEYS: due, jobs. ARGV: now ms, lease end ms, n.
// Returns {id, payload, attempts, expires ms, last error, key} per claimed job.
var mailQueueClaimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', KEYS[2], id, id..':x', id..':e', id..':k')
  if f[1] then
    local a = redis.call('HINCRBY', KEYS[2], id..':a', 1)
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out+1] = {id, f[1], a, f[2] or '0', f[3] or '', f[4] or ''}
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
		if !ok || len(f) != 6 {
			return nil, mailQueueError("claim", fmt.Errorf("unexpected reply %v", r))
		}
		id, _ := f[0].(string)
		payload, _ := f[1].(string)
		attempts, _ := f[2].(int64)
		xs, _ := f[3].(string)
		lastErr, _ := f[4].(string)
		key, _ := f[5].(string)
		expires, err := strconv.ParseInt(xs, 10, 64)
		if err != nil {
			return nil, mailQueueError("claim", fmt.Errorf("job %s expiry %q: %w", id, xs, err))
		}
		out = append(out, &mailqueue.Job{ID: id, Key: key, Payload: []byte(payload), Attempts: int(attempts), Due: due, Expires: fromMs(expires), LastError: lastErr})
	}
	return out, nil
}

// KEYS: due, jobs, dead, deadinfo. ARGV: max dead letters kept, then per
// settlement six values: outcome (1 ack, 2 retry, 3 bury, 4 bury keeping
// the payload), id, attempts, due ms (retry) or time ms (bury), last
// error (retry) or info JSON (bury), and "". A settlement acts only while
// the job's stored attempts equal the caller's; the reply has 1 for each
// that did, 0 for each lost.
var mailQueueSettleScript = redis.NewScript(`
local out = {}
local buried = false
for i = 2, #ARGV, 6 do
  local outcome, id, attempts, t, info = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  if redis.call('HGET', KEYS[2], id..':a') ~= attempts then
    out[#out+1] = 0
  elseif outcome == '2' then
    redis.call('HSET', KEYS[2], id..':e', info)
    redis.call('ZADD', KEYS[1], t, id)
    out[#out+1] = 1
  else
    local key = redis.call('HGET', KEYS[2], id..':k')
    if key and redis.call('HGET', KEYS[2], 'k:'..key) == id then
      redis.call('HDEL', KEYS[2], 'k:'..key)
    end
    local payload = nil
    if outcome == '4' then
      payload = redis.call('HGET', KEYS[2], id)
    end
    redis.call('HDEL', KEYS[2], id, id..':a', id..':x', id..':e', id..':k')
    redis.call('ZREM', KEYS[1], id)
    if outcome == '3' or outcome == '4' then
      redis.call('ZADD', KEYS[3], t, id)
      redis.call('HSET', KEYS[4], id, info)
      if payload then
        redis.call('HSET', KEYS[4], id..':p', payload)
      end
      buried = true
    end
    out[#out+1] = 1
  end
end
if buried then
  local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[1])
  if over > 0 then
    local old = redis.call('ZRANGE', KEYS[3], 0, over - 1)
    for s = 1, #old, 1000 do
      redis.call('HDEL', KEYS[4], unpack(old, s, math.min(s + 999, #old)))
    end
    for _, id in ipairs(old) do
      redis.call('HDEL', KEYS[4], id..':p')
    end
    redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1)
  end
end
return out
`)

// Settle ends the claims in one script.
func (q *MailQueue) Settle(ctx context.Context, ss []mailqueue.Settlement) ([]error, error) {
	if err := mailqueue.CheckSettlements(ss); err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 1+6*len(ss))
	args = append(args, mailqueue.MaxDeadLetters)
	for _, st := range ss {
		j := st.Job
		switch st.Outcome {
		case mailqueue.Ack:
			args = append(args, 1, j.ID, j.Attempts, 0, "", "")
		case mailqueue.Retry:
			args = append(args, 2, j.ID, j.Attempts, ms(j.Due), j.LastError, "")
		case mailqueue.Bury:
			info, err := json.Marshal(mailqueue.DeadLetter{ID: j.ID, Attempts: j.Attempts, LastError: j.LastError, At: st.At})
			if err != nil {
				return nil, mailQueueError("settle", err)
			}
			outcome := 3
			if st.Keep {
				outcome = 4
			}
			args = append(args, outcome, j.ID, j.Attempts, ms(st.At), info, "")
		}
	}
	res, err := mailQueueSettleScript.Run(ctx, q.client, []string{q.due, q.jobs, q.dead, q.dinfo}, args...).Int64Slice()
	if err != nil {
		return nil, mailQueueError("settle", err)
	}
	if len(res) != len(ss) {
		return nil, mailQueueError("settle", fmt.Errorf("%d replies for %d settlements", len(res), len(ss)))
	}
	lost := make([]error, len(ss))
	for i, held := range res {
		if held == 0 {
			lost[i] = mailqueue.ErrLeaseLost
		}
	}
	return lost, nil
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
	fields := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		fields = append(fields, id, id+":p")
	}
	infos, err := q.client.HMGet(ctx, q.dinfo, fields...).Result()
	if err != nil {
		return nil, mailQueueError("dead letters", err)
	}
	out := make([]mailqueue.DeadLetter, 0, len(ids))
	for i, id := range ids {
		s, ok := infos[2*i].(string)
		if !ok {
			continue // trimmed between the two reads
		}
		var d mailqueue.DeadLetter
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return nil, mailQueueError("dead letters", fmt.Errorf("decode %s: %w", id, err))
		}
		if p, ok := infos[2*i+1].(string); ok {
			d.Payload = []byte(p)
		}
		out = append(out, d)
	}
	return out, nil
}

// KEYS: due, jobs, dead, deadinfo. ARGV: id, due ms. Returns 1 when it
// queued the dead letter again, 0 when there is none with its payload.
var mailQueueReviveScript = redis.NewScript(`
local id = ARGV[1]
local payload = redis.call('HGET', KEYS[4], id..':p')
local info = redis.call('HGET', KEYS[4], id)
if not payload or not info then
  return 0
end
local lastError = cjson.decode(info)['LastError'] or ''
redis.call('HDEL', KEYS[4], id, id..':p')
redis.call('ZREM', KEYS[3], id)
redis.call('HSET', KEYS[2], id, payload, id..':a', 0, id..':x', 0, id..':e', lastError)
redis.call('ZADD', KEYS[1], ARGV[2], id)
return 1
`)

// Revive queues the dead letter id again, in one script.
func (q *MailQueue) Revive(ctx context.Context, id string, due time.Time) error {
	n, err := mailQueueReviveScript.Run(ctx, q.client, []string{q.due, q.jobs, q.dead, q.dinfo}, id, ms(due)).Int()
	if err != nil {
		return mailQueueError("revive", err)
	}
	if n == 0 {
		return mailqueue.ErrNoDeadLetter
	}
	return nil
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
