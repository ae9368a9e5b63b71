package auth

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/latch-auth/latch/internal/kv"
)

// UpgradeReport says what Upgrade moved.
type UpgradeReport struct {
	Users      int // accounts kept
	Merged     int // accounts folded into a twin that differs only in case
	Sessions   int
	Challenges int
}

// Upgrade moves what a store of the release before holds into this
// release's records, once, and then has the store drop the old layout. It
// is idempotent: a run cut short (a crash, a lost connection) is finished
// by the next one, and replicas that race do the same writes.
//
// The release before told Ada@example.org and ada@example.org apart, so
// one mailbox could have two accounts. Upgrade merges such twins: the
// account created first keeps its id (and is the one the email index
// names from now on), the sessions of the others move to it, and the
// others' ids are retired.
func (s *Service) Upgrade(ctx context.Context, src LegacySource) (UpgradeReport, error) {
	var r UpgradeReport
	data, err := src.Legacy(ctx)
	if err != nil || data == nil {
		return r, err
	}
	now := s.clock.Now()
	moved := map[string]string{} // old user id → the id it lives on as
	byIdentity := map[string][]User{}
	for _, u := range data.Users {
		byIdentity[identity(u.Email)] = append(byIdentity[identity(u.Email)], u)
	}
	for _, twins := range byIdentity {
		slices.SortFunc(twins, func(a, b User) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
		keep := twins[0]
		uid, err := s.indexEmail(ctx, keep.Email, keep.ID, now)
		if err != nil {
			return r, err
		}
		err = s.store.Update(ctx, userKey(uid), now, func(cur []byte) (kv.Change, error) {
			if cur != nil {
				return kv.Change{Op: kv.Keep}, nil
			}
			u := &User{ID: uid, Email: keep.Email, CreatedAt: keep.CreatedAt}
			return kv.Change{Op: kv.Write, Value: encodeUser(u)}, nil
		})
		if err != nil {
			return r, storeError("upgrade user", err)
		}
		for _, t := range twins {
			moved[t.ID] = uid
		}
		r.Users++
		r.Merged += len(twins) - 1
	}
	for _, sess := range data.Sessions {
		if !sess.Live(now) {
			continue
		}
		if uid, ok := moved[sess.UserID]; ok {
			sess.UserID = uid
		}
		if err := s.putSession(ctx, sess, now); err != nil {
			return r, err
		}
		r.Sessions++
	}
	for _, c := range data.Challenges {
		if !c.Live(now) {
			continue
		}
		if err := s.putChallenge(ctx, c, c.TokenHash, now); err != nil {
			return r, err
		}
		r.Challenges++
	}
	if err := src.DropLegacy(ctx); err != nil {
		return r, fmt.Errorf("auth: upgrade: %w", err)
	}
	return r, nil
}
