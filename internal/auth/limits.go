package auth

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// The engine's limits. Each is a sliding window in the kv store, and each
// protects against one thing (DESIGN.md, "Limits for crowds"):
//
//	lim:send:<addr>:<req>  mails to one address asked by one requester   EmailSendLimit / EmailSendWindow
//	lim:send:<addr>        mails to one address from everyone            EmailSendGlobalLimit / EmailSendWindow
//	lim:fail:<addr>:<req>  wrong codes for one address from one requester EmailFailureLimit / EmailFailureWindow
//	lim:fail:<addr>        wrong codes for one address from everyone     EmailFailureGlobalLimit / EmailFailureWindow
//	lim:rfail:<req>        wrong codes from one requester, any address   RequesterFailureLimit / EmailFailureWindow
//	lim:rmail:<req>        unconfirmed mail from one requester           RequesterMailLimit / RequesterMailWindow
//
// A limit keyed by a victim's address is also keyed by the requester, so
// somebody elsewhere can spend only their own share; the global caps are
// looser and stop a distributed attacker. Wrong codes take their unit
// before they are judged (a right code gives it back), so racing guesses
// cannot pass a cap. The requester's budget of unconfirmed mail is taken
// by each send and given back when that sign-in completes: a crowd that
// signs in costs nothing, while mail to addresses that never sign in runs
// the budget down. <addr> is a pseudonym of the address under a stable
// key of the vault, so rotating SESSION_SECRET resets no counter.

// limit is one counter of one request.
type limit struct {
	store  kv.Store
	key    string
	max    int
	window time.Duration
	name   string // for audit events and metrics
}

// reservation is the units a request holds, to give back together.
type reservation struct {
	at    time.Time
	taken []limit
}

// reserve takes one unit of every limit in order, or none: on the first
// refusal it gives back what it took and returns rate_limited (or the
// error refused builds) with the wait.
func (s *Service) reserve(ctx context.Context, now time.Time, email string, refused func(wait time.Duration) *Error, limits ...limit) (*reservation, error) {
	r := &reservation{at: now}
	for _, l := range limits {
		if l.max <= 0 {
			continue
		}
		d, err := l.store.Reserve(ctx, l.key, l.max, l.window, now)
		if err != nil {
			s.release(ctx, r)
			return nil, storeError("reserve "+l.name, err)
		}
		if !d.Allowed {
			s.release(ctx, r)
			s.cfg.Auditor.Audit(ctx, Event{Kind: EventRateLimited, Email: email, Method: l.name})
			return nil, refused(d.RetryAfter)
		}
		r.taken = append(r.taken, l)
	}
	return r, nil
}

// release gives back every unit of r. A failure only leaves a unit taken
// until its window slides by, which errs on the safe side.
func (s *Service) release(ctx context.Context, r *reservation) {
	if r == nil {
		return
	}
	for _, l := range r.taken {
		l.store.Release(context.WithoutCancel(ctx), l.key, l.window, r.at)
	}
	r.taken = nil
}

// addressKey is the stable pseudonym of an address in counter keys.
func (s *Service) addressKey(ctx context.Context, email string) (string, error) {
	key, err := s.vault.Key(ctx, "address-pseudonyms")
	if err != nil {
		return "", storeError("address key", err)
	}
	return base64.RawURLEncoding.EncodeToString(MAC(key, identity(email))[:18]), nil
}

func (s *Service) sendLimits(addr, requester string) []limit {
	c := s.cfg
	return []limit{
		{s.store, "lim:send:" + addr + ":" + requester, c.EmailSendLimit, c.EmailSendWindow, "email_send"},
		{s.store, "lim:send:" + addr, c.EmailSendGlobalLimit, c.EmailSendWindow, "email_send_global"},
	}
}

func (s *Service) failureLimits(addr string, c *Challenge) []limit {
	cfg := s.cfg
	ls := []limit{
		{s.store, "lim:fail:" + addr + ":" + c.Requester, cfg.EmailFailureLimit, cfg.EmailFailureWindow, "email_failures"},
		{s.store, "lim:fail:" + addr, cfg.EmailFailureGlobalLimit, cfg.EmailFailureWindow, "email_failures_global"},
	}
	if c.ClientID == "" && c.Requester != "" {
		ls = append(ls, limit{s.counters, "lim:rfail:" + c.Requester, cfg.RequesterFailureLimit, cfg.EmailFailureWindow, "requester_failures"})
	}
	return ls
}

func (s *Service) unconfirmedMailLimit(requester string) limit {
	return limit{s.counters, "lim:rmail:" + requester, s.cfg.RequesterMailLimit, s.cfg.RequesterMailWindow, "unconfirmed_mail"}
}
