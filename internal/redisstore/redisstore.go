// Package redisstore keeps Latch's state in Redis (standalone, Sentinel or
// Cluster) so that many replicas share one truth: an auth.Store and
// auth.Limiter whose every judging or consuming step is one Lua script run
// by the server.
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
// Ping included, with an auth.Unavailable error (HTTP 503), and starts
// working when Redis answers, without being recreated. No command is
// retried by the client: consuming a challenge is not idempotent, and a
// retry after a lost reply would tell the one winner that it lost.
//
// # Keys
//
// Every key is the prefix (Options.KeyPrefix, "latch:"), then a hash tag
// in braces, which is all that Redis Cluster hashes to pick a slot:
//
//	latch:{c:<challengeID>}           challenge record             string, TTL
//	latch:{t:<tokenHash>}             link token → challenge ID    string, TTL
//	latch:{s:<sessionID>}             session record               string, TTL
//	latch:{u:<userID>}:s              the user's session IDs       sorted set, TTL
//	latch:{e:<emailHash>}             user record                  string
//	latch:{r:<limiterKey>}:<startMs>  events in one window         string counter, TTL
//
// tokenHash is the link token's HMAC and emailHash the SHA-256 of the
// address, both base64url, so no secret and no address appears in a key
// name; limiter keys are used as the engine gives them (it pseudonymises
// addresses itself). Records are compact binary strings (see codec.go):
// one string costs far less than a hash whose fields outgrow the listpack
// limit. docs/redis.md has the measured bytes per session and challenge.
//
// # Atomicity
//
// AttemptCode, ConsumeLink, RenewChallenge, TouchSession, EnsureUser,
// Take and the session index update are Lua scripts (EVALSHA, falling
// back to EVAL when the server has not cached them), so Redis serialises
// racing replicas: each attempt counts once and a challenge is consumed
// once. Every check that guards a write runs in the script that writes;
// nothing is judged in Go and written back. Reads (Challenge, Session,
// Peek) are one GET; writes of two keys go in one pipeline, which a
// cluster client sends to each node in parallel.
//
// Each script touches exactly one key, so no operation depends on two
// keys sharing a slot, and all of them work unchanged on Cluster. Two
// indexes cannot live beside what they index, because they are looked up
// by something else: a challenge by token (ChallengeByToken) and a user's
// sessions by user (DeleteUserSessions). Both are therefore hints, never
// the truth:
//
//   - A token index entry is written with its challenge and the same TTL.
//     ChallengeByToken follows it (two GETs) and then checks, in constant
//     time, that the challenge itself still holds that token hash, so a
//     stale entry finds nothing. Once a challenge is consumed or renewed,
//     its old entry is deleted, best effort (one more round trip); it
//     would expire anyway.
//   - A user's session index holds session IDs scored by their absolute
//     expiry. DeleteUserSessions reads it, then deletes those sessions and
//     those entries in one pipeline, and counts the sessions that really
//     were there; a session created meanwhile survives, as if created
//     just after. DeleteSession removes its entry after the session (best
//     effort), and each new session prunes the expired entries.
//
// The scripts compare code and token hashes with Lua's ==, whose timing
// depends on the bytes compared. That leaks nothing useful: the values
// are HMAC-SHA256 outputs under a key only the servers hold, so a caller
// cannot choose the bytes it submits for comparison, and learning how
// many of them matched says nothing about the code or token; every wrong
// code is counted too.
//
// # Expiry
//
// Every decision uses the now the caller passes, so one clock rules the
// system and tests can use a fake one. TTLs are only a safety net that
// frees memory; they are relative (deadline − now, rounded up to the
// millisecond), so the Redis server's clock does not matter:
//
//   - a challenge and its token index: until ExpiresAt; a renewal restarts both;
//   - a session: until Deadline(); TouchSession moves the TTL to the new
//     idle deadline, never past the absolute expiry;
//   - a user's session index: until the latest absolute expiry among the
//     sessions it holds;
//   - a limiter counter: until its window ends;
//   - users: never.
//
// Records keep times to the microsecond.
//
// # Errors
//
// Nothing live is auth.ErrNotFound. Network failures, timeouts, a full
// pool, a closed client and the server's "cannot serve now" replies
// (LOADING, CLUSTERDOWN, TRYAGAIN, MASTERDOWN, READONLY, OOM, NOAUTH, …)
// are auth.Unavailable, which transports answer with 503. Anything else
// (a corrupt record, a script error) is an internal error. Every error is
// wrapped once with the operation: "redisstore: consume link: …".
//
// The Store needs Redis 6.2 or later (GETDEL), or a compatible server
// whose Lua has the struct library (Valkey does).
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/auth"
)

var (
	_ auth.Store   = (*Store)(nil)
	_ auth.Limiter = (*Store)(nil)
)

// Store is an auth.Store and auth.Limiter on Redis. It is safe for
// concurrent use by many goroutines and many processes.
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
		return auth.Unavailable("redisstore: ping", err)
	}
	return nil
}

// Keys. The hash tag in braces is what Redis Cluster hashes.

func (s *Store) challengeKey(id string) string { return s.prefix + "{c:" + id + "}" }

func (s *Store) tokenKey(tokenHash []byte) string {
	return s.prefix + "{t:" + base64.RawURLEncoding.EncodeToString(tokenHash) + "}"
}

func (s *Store) sessionKey(id string) string { return s.prefix + "{s:" + id + "}" }

func (s *Store) userSessionsKey(userID string) string { return s.prefix + "{u:" + userID + "}:s" }

func (s *Store) userKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return s.prefix + "{e:" + base64.RawURLEncoding.EncodeToString(sum[:]) + "}"
}

func (s *Store) counterKey(key string, windowStart time.Time) string {
	return s.prefix + "{r:" + key + "}:" + strconv.FormatInt(windowStart.UnixMilli(), 10)
}

// ttl is how long Redis should keep what ends at deadline, seen at now:
// rounded up to the millisecond and at least one, as PX 0 is an error.
func ttl(deadline, now time.Time) time.Duration {
	d := deadline.Sub(now)
	if d < time.Millisecond {
		return time.Millisecond
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// creationTime is the now of a create call, which gets none: the record's
// own creation time, else the clock.
func creationTime(created time.Time) time.Time {
	if created.IsZero() {
		return time.Now()
	}
	return created
}

// fail wraps an error of the Redis client for op, once: unavailability as
// auth.Unavailable, anything else as an internal error. Callers handle
// redis.Nil first.
func fail(op string, err error) error {
	op = "redisstore: " + op
	if unavailable(err) {
		return auth.Unavailable(op, err)
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

// isNoScript reports whether a pipelined EVALSHA found no cached script.
func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }
