// Package redisstore is a kv.Store on Redis (standalone, Sentinel or
// Cluster), so that many replicas share one truth. It keeps bytes and
// judges nothing: the engine's rules run in Go, and each atomic step here
// touches exactly one key, so every operation works unchanged on Cluster.
//
// # Connecting
//
// Options.URL (REDIS_URL) takes one of these forms:
//
//	redis://[[user]:password@]host[:port][/db][?option=value&…]     standalone
//	rediss://…                                                        standalone over TLS
//	unix://[[user]:password@]/path/to/redis.sock[?db=N&…]            standalone on a Unix socket
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]…]/master[?db=N&…]
//	rediss-sentinel://…                                               Sentinel, TLS to every node
//	redis-cluster://[[user]:password@]host[:port][,host[:port]…][?…]  Redis Cluster, from seed nodes
//	rediss-cluster://…                                                Redis Cluster over TLS
//
// Ports default to 6379, or 26379 for Sentinels; IPv6 addresses go in
// brackets ([::1]:6379); reserved characters in a password (@ : / ? # %)
// are percent-encoded. With Sentinel, the user and password are those of
// the Redis master and replicas and the path names the master; the
// Sentinels' own credentials, if any, are the options sentinel_username
// and sentinel_password. A cluster has database 0 only, so it takes no db.
//
// The options are db, pool_size, min_idle_conns, dial_timeout,
// read_timeout, write_timeout, pool_timeout (durations such as 500ms, or
// whole seconds), client_name, skip_verify=true (TLS without certificate
// checks; for tests) and, with Sentinel, sentinel_username and
// sentinel_password. Unknown options are errors. Fields set in Options win
// over the URL; cmd/latch sets them from REDIS_POOL_SIZE (PoolSize) and
// REDIS_TIMEOUT (ReadTimeout and WriteTimeout). Defaults: dial 2s,
// read and write 1s, pool wait 1s, pool size 10 per CPU per node.
//
// New does no I/O. A Store made while Redis is down answers every call,
// Ping included, with a kv.ErrUnavailable error (HTTP 503), and starts
// working when Redis answers, without being recreated. No command is
// retried by the client: an update is a compare-and-set, and a retry after
// a lost reply must go through the caller's function again.
//
// # Keys and values
//
// A kv key K is stored as prefix + "{" + K + "}" (Options.KeyPrefix,
// "latch:"); the braces make the whole key its own Redis Cluster hash
// tag. A record is a string: its expiry (8 bytes, Unix milliseconds, 0 =
// never) then the value, with a relative TTL as a safety net that frees
// memory (expiry − now, rounded up to the millisecond), so the Redis
// server's clock does not matter and one clock — the caller's — judges
// expiry. A set is a sorted set scored by each member's expiry, whose TTL
// follows its latest member. A counter is kv.Counter's text form
// ("slot:count,…"), which the scripts read and write, with a TTL until its
// newest unit leaves the window.
//
// # Atomicity
//
// Update reads the record, runs the caller's function in Go, and writes
// with a one-key compare-and-set script that succeeds only if the record
// is still what was read; on a conflict it reads again and retries, so
// racing replicas serialise without locks. Reserve, Release and AddMember
// are one-key scripts.
//
// # Errors
//
// Nothing live is kv.ErrNotFound. Network failures, timeouts, a full pool,
// a closed client and the server's "cannot serve now" replies (LOADING,
// CLUSTERDOWN, TRYAGAIN, MASTERDOWN, READONLY, OOM, NOAUTH, …) match
// kv.ErrUnavailable, which transports answer with 503. Anything else (a
// script error) is an internal error. Every error is wrapped once with the
// operation: "redisstore: update: …".
package redisstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/kv"
)

var _ kv.Store = (*Store)(nil)

// Store is a kv.Store on Redis. It is safe for concurrent use by many
// goroutines and many processes.
type Store struct {
	client redis.UniversalClient
	prefix string
}

// New returns a Store for opts. It connects lazily and does not fail when
// Redis is down; Ping tells when it is ready.
func New(opts Options) (*Store, error) {
	uo, err := opts.universal()
	if err != nil {
		return nil, err
	}
	prefix := opts.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	return &Store{client: redis.NewUniversalClient(uo), prefix: prefix}, nil
}

// Client returns the Store's client, for other packages that keep their
// own keys (under Prefix) on the same connections. Close the Store only
// after they are done with it.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Prefix returns the prefix of every key the Store writes.
func (s *Store) Prefix() string { return s.prefix }

// Close closes the client and its connections.
func (s *Store) Close() error { return s.client.Close() }

// Ping reports whether Redis answers; in a cluster, every master must.
func (s *Store) Ping(ctx context.Context) error {
	var err error
	if c, ok := s.client.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return node.Ping(ctx).Err()
		})
	} else {
		err = s.client.Ping(ctx).Err()
	}
	if err != nil {
		return fail("ping", err)
	}
	return nil
}

func (s *Store) key(k string) string { return s.prefix + "{" + k + "}" }

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(1, t.UnixMilli())
}

// ttl is how long Redis should keep what ends at expires, seen at now:
// rounded up to the millisecond and at least one, as PX 0 is an error.
func ttl(expires, now time.Time) time.Duration {
	d := expires.Sub(now)
	if d < time.Millisecond {
		return time.Millisecond
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// record is what Get and Update read: the stored string, whether it holds
// a live value at now, and the value.
func splitRecord(raw []byte, now time.Time) (value []byte, live bool) {
	if len(raw) < 8 {
		return nil, false
	}
	exp := int64(binary.BigEndian.Uint64(raw))
	if exp != 0 && exp <= now.UnixMilli() {
		return nil, false
	}
	return raw[8:], true
}

func joinRecord(value []byte, expires time.Time) []byte {
	b := make([]byte, 8, 8+len(value))
	binary.BigEndian.PutUint64(b, uint64(millis(expires)))
	return append(b, value...)
}

// Get returns the live record at key with one GET.
func (s *Store) Get(ctx context.Context, key string, now time.Time) ([]byte, error) {
	raw, err := s.client.Get(ctx, s.key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, fail("get", err)
	}
	v, ok := splitRecord(raw, now)
	if !ok {
		return nil, kv.ErrNotFound
	}
	return v, nil
}

// Put writes value at key until expires with one SET.
func (s *Store) Put(ctx context.Context, key string, value []byte, expires, now time.Time) error {
	var err error
	switch {
	case expires.IsZero():
		err = s.client.Set(ctx, s.key(key), joinRecord(value, expires), 0).Err()
	case !now.Before(expires):
		err = s.client.Del(ctx, s.key(key)).Err()
	default:
		err = s.client.Set(ctx, s.key(key), joinRecord(value, expires), ttl(expires, now)).Err()
	}
	if err != nil {
		return fail("put", err)
	}
	return nil
}

// Delete removes the record or set at key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.key(key)).Err(); err != nil {
		return fail("delete", err)
	}
	return nil
}

// casScript writes KEYS[1] only if it still holds what the caller read.
// ARGV[1] "1" if the caller read a value, "0" if it read none; ARGV[2] that
// value; ARGV[3] "w" to write or "d" to delete; ARGV[4] the new value;
// ARGV[5] its TTL in milliseconds, "0" for none. Returns 1, or 0 on a
// conflict.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if ARGV[3] == 'd' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
`)

// maxConflicts bounds the compare-and-set retries of one Update. Each
// conflict means another writer succeeded, so the system as a whole always
// progresses; the bound only keeps one caller from spinning forever.
const maxConflicts = 1000

// Update runs fn on the current record and writes with compare-and-set,
// retrying on conflict.
func (s *Store) Update(ctx context.Context, key string, now time.Time, fn func([]byte) (kv.Change, error)) error {
	k := s.key(key)
	for range maxConflicts {
		raw, err := s.client.Get(ctx, k).Bytes()
		exists := true
		if errors.Is(err, redis.Nil) {
			exists, err = false, nil
		}
		if err != nil {
			return fail("update", err)
		}
		var cur []byte
		if v, ok := splitRecord(raw, now); exists && ok {
			cur = bytes.Clone(v)
		}
		c, err := fn(cur)
		if err != nil {
			return err
		}
		args := []any{"0", "", "w", "", "0"}
		if exists {
			args[0], args[1] = "1", raw
		}
		switch c.Op {
		case kv.Keep:
			return nil
		case kv.Remove:
			if !exists {
				return nil
			}
			args[2] = "d"
		case kv.Write:
			if !c.Expires.IsZero() && !now.Before(c.Expires) {
				args[2] = "d"
				break
			}
			args[3] = joinRecord(c.Value, c.Expires)
			if !c.Expires.IsZero() {
				args[4] = ttl(c.Expires, now).Milliseconds()
			}
		}
		ok, err := casScript.Run(ctx, s.client, []string{k}, args...).Int()
		if err != nil {
			return fail("update", err)
		}
		if ok == 1 {
			return nil
		}
	}
	return fmt.Errorf("redisstore: update %s: still conflicting after %d attempts", key, maxConflicts)
}

// counterLua parses a counter's text form (kv.Counter.Encode) into the
// entries still inside the window ending at now, and writes one back.
const counterLua = `
local function parse(v, window, now)
  local slots, counts, held = {}, {}, 0
  for s, c in string.gmatch(v or '', '(%-?%d+):(%d+)') do
    s, c = tonumber(s), tonumber(c)
    if s + window > now and c > 0 then
      slots[#slots + 1] = s
      counts[#counts + 1] = c
      held = held + c
    end
  end
  return slots, counts, held
end
local function format(slots, counts)
  local parts = {}
  for i = 1, #slots do parts[i] = string.format('%d:%d', slots[i], counts[i]) end
  return table.concat(parts, ',')
end
`

// reserveScript is kv.Counter.Reserve in Lua. ARGV[1] limit, ARGV[2]
// window ms, ARGV[3] now ms, ARGV[4] the slot of now (ms). Returns
// {allowed (0|1), the counter's text as it was judged}.
var reserveScript = redis.NewScript(counterLua + `
local limit, window, now, slot = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('GET', KEYS[1])
local slots, counts, held = parse(v, window, now)
if limit <= 0 or held >= limit then return {0, v or ''} end
local n = #slots
if n > 0 and slots[n] >= slot then
  counts[n] = counts[n] + 1
else
  slots[n + 1], counts[n + 1] = slot, 1
end
redis.call('SET', KEYS[1], format(slots, counts), 'PX', math.max(1, slots[#slots] + window - now))
return {1, v or ''}
`)

// Reserve takes one unit of the counter at key in one script.
func (s *Store) Reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (kv.Decision, error) {
	now = time.UnixMilli(now.UnixMilli())
	slot := kv.Slot(now, window)
	res, err := reserveScript.Run(ctx, s.client, []string{s.key(key)}, limit, window.Milliseconds(), now.UnixMilli(), slot).Slice()
	if err != nil {
		return kv.Decision{}, fail("reserve", err)
	}
	allowed, _ := res[0].(int64)
	text, _ := res[1].(string)
	judged, err := kv.DecodeCounter([]byte(text))
	if len(res) != 2 || err != nil {
		return kv.Decision{}, fmt.Errorf("redisstore: reserve: script returned %v: %w", res, kv.ErrCorrupt)
	}
	_, d := judged.Reserve(limit, window, now)
	d.Allowed = allowed == 1 // the script's verdict is the one that counted
	return d, nil
}

// releaseScript gives back one unit taken in the slot starting at ARGV[1]
// ms. ARGV[2] window ms, ARGV[3] now ms.
var releaseScript = redis.NewScript(counterLua + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local taken, window, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local slots, counts = parse(v, window, now)
for i = 1, #slots do
  if slots[i] == taken then
    counts[i] = counts[i] - 1
    if counts[i] == 0 then
      table.remove(slots, i)
      table.remove(counts, i)
    end
    if #slots == 0 then
      redis.call('DEL', KEYS[1])
    else
      redis.call('SET', KEYS[1], format(slots, counts), 'KEEPTTL')
    end
    return 1
  end
end
return 0
`)

// Release gives back one unit taken at taken.
func (s *Store) Release(ctx context.Context, key string, window time.Duration, taken time.Time) error {
	if err := releaseScript.Run(ctx, s.client, []string{s.key(key)}, kv.Slot(taken, window), window.Milliseconds(), taken.UnixMilli()).Err(); err != nil {
		return fail("release", err)
	}
	return nil
}

// Count reports the units held under key at now with one GET.
func (s *Store) Count(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	v, err := s.client.Get(ctx, s.key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fail("count", err)
	}
	c, err := kv.DecodeCounter(v)
	if err != nil {
		return 0, fmt.Errorf("redisstore: count: %w", err)
	}
	return c.Count(window, now), nil
}

// addMemberScript adds a member scored by its expiry (ms; "+inf" for
// none), prunes what expired by ARGV[3] (now, ms), and keeps the set until
// its latest member expires.
var addMemberScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #top == 0 then return 0 end
if top[2] == 'inf' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(top[2]) - tonumber(ARGV[3])))
end
return 1
`)

func score(expires time.Time) string {
	if expires.IsZero() {
		return "+inf"
	}
	return strconv.FormatInt(millis(expires), 10)
}

// AddMember puts member into the set at key until expires.
func (s *Store) AddMember(ctx context.Context, key, member string, expires, now time.Time) error {
	if !expires.IsZero() && !now.Before(expires) {
		return s.RemoveMember(ctx, key, member)
	}
	if err := addMemberScript.Run(ctx, s.client, []string{s.key(key)}, member, score(expires), now.UnixMilli()).Err(); err != nil {
		return fail("add member", err)
	}
	return nil
}

// RemoveMember takes member out of the set at key.
func (s *Store) RemoveMember(ctx context.Context, key, member string) error {
	if err := s.client.ZRem(ctx, s.key(key), member).Err(); err != nil {
		return fail("remove member", err)
	}
	return nil
}

// Members returns the members of key that expire after now.
func (s *Store) Members(ctx context.Context, key string, now time.Time) ([]string, error) {
	m, err := s.client.ZRangeByScore(ctx, s.key(key), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fail("members", err)
	}
	if m == nil {
		m = []string{}
	}
	return m, nil
}

// globEscape quotes the characters SCAN's MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Scan walks every master with SCAN MATCH and reads the records it finds.
func (s *Store) Scan(ctx context.Context, prefix string, now time.Time, fn func(string, []byte) error) error {
	pattern := globEscape(s.prefix+"{"+prefix) + "*"
	scanNode := func(ctx context.Context, c redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 256).Result()
			if err != nil {
				return fail("scan", err)
			}
			for _, full := range keys {
				raw, err := s.client.Get(ctx, full).Bytes()
				if errors.Is(err, redis.Nil) {
					continue
				}
				var wrongType redis.Error
				if errors.As(err, &wrongType) && strings.HasPrefix(err.Error(), "WRONGTYPE") {
					continue // a set, not a record
				}
				if err != nil {
					return fail("scan", err)
				}
				v, ok := splitRecord(raw, now)
				if !ok {
					continue
				}
				k := strings.TrimSuffix(strings.TrimPrefix(full, s.prefix+"{"), "}")
				if err := fn(k, v); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	return forEachNode(ctx, s.client, scanNode)
}

// forEachNode runs fn on the one server, or on every master of a
// cluster, one master at a time so that fn's callbacks never overlap.
func forEachNode(ctx context.Context, client redis.UniversalClient, fn func(context.Context, redis.UniversalClient) error) error {
	c, ok := client.(*redis.ClusterClient)
	if !ok {
		return fn(ctx, client)
	}
	var mu sync.Mutex
	var stopped error
	err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		if stopped == nil {
			stopped = fn(ctx, node)
		}
		return stopped
	})
	if stopped != nil {
		return stopped
	}
	return err
}

// fail wraps an error of the Redis client for op, once: unavailability as
// kv.ErrUnavailable, anything else as an internal error.
func fail(op string, err error) error {
	op = "redisstore: " + op
	if unavailable(err) {
		return kv.Unavailable(op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailableReplies are the server errors that mean "not now" rather than
// "wrong request".
var unavailableReplies = []string{
	"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "NOREPLICAS",
	"BUSY ", "OOM", "MISCONF", "NOAUTH", "WRONGPASS", "NOPERM", "max number of clients",
}

func unavailable(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true // network, timeout, pool, closed client, cancelled context
	}
	for _, p := range unavailableReplies {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
