package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// upgrade moves what the release before left in the store into this
// release's records (auth.Upgrade). It tries once at start; if the store
// cannot be reached (Redis still starting), it goes on trying in the
// background, so the server still starts and recovers by itself.
func upgrade(ctx context.Context, svc *auth.Service, src auth.LegacySource, log *slog.Logger) {
	try := func() bool {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r, err := svc.Upgrade(tctx, src)
		switch {
		case err == nil:
			if r != (auth.UpgradeReport{}) {
				log.Info("latch: upgraded the store from the previous release",
					"users", r.Users, "mergedTwins", r.Merged, "sessions", r.Sessions, "challenges", r.Challenges)
			}
			return true
		case errors.Is(err, kv.ErrUnavailable):
			log.Warn("latch: the store is unavailable; upgrading it from the previous release later", "err", err)
			return false
		default:
			log.Error("latch: upgrading the store from the previous release failed", "err", err)
			return true
		}
	}
	if try() {
		return
	}
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if try() {
					return
				}
			}
		}
	}()
}
