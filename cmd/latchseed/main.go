// Command latchseed fills a store with sessions, so that the load tool
// can measure GET /api/me with a million sessions stored as easily as
// with a thousand. It writes straight to the store, with the server
// stopped (bbolt) or running (Redis).
//
//	go run ./cmd/latchseed -n 1000000 -data-dir /tmp/latch-data
//	go run ./cmd/latchseed -n 1000000 -redis redis://127.0.0.1:6379/0 -prefix latch:
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/redisstore"
	"github.com/latch-auth/latch/internal/vault"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "latchseed:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("latchseed", flag.ContinueOnError)
	n := fs.Int("n", 1_000_000, "sessions to create")
	dataDir := fs.String("data-dir", "", "bbolt data directory (the server must be stopped)")
	redisURL := fs.String("redis", "", "Redis URL (instead of -data-dir)")
	prefix := fs.String("prefix", "latch:", "Redis key prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*dataDir == "") == (*redisURL == "") {
		return errors.New("give exactly one of -data-dir and -redis")
	}
	start := time.Now()
	var store kv.Store
	if *dataDir != "" {
		b, err := boltstore.Open(*dataDir, boltstore.Options{})
		if err != nil {
			return err
		}
		defer b.Close()
		store = b
	} else {
		r, err := redisstore.New(redisstore.Options{URL: *redisURL, KeyPrefix: *prefix, PoolSize: 64})
		if err != nil {
			return err
		}
		defer r.Close()
		store = r
	}
	if err := seed(store, *n); err != nil {
		return err
	}
	fmt.Printf("latchseed: %d sessions in %s\n", *n, time.Since(start).Round(time.Millisecond))
	return nil
}

// seed opens n sessions through the engine, 64 at a time (bbolt groups
// their commits), one user each.
func seed(store kv.Store, n int) error {
	secret := make([]byte, 32)
	rand.Read(secret)
	keys, err := auth.NewKeys(string(secret))
	if err != nil {
		return err
	}
	v, err := vault.New(store, auth.SystemClock{}, string(secret))
	if err != nil {
		return err
	}
	svc, err := auth.NewService(auth.Config{Keys: keys, Vault: v, LinkURL: "http://localhost/verify"}, store, nil)
	if err != nil {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				u := auth.User{ID: fmt.Sprintf("usr_seed%07d", i), Email: fmt.Sprintf("seed%07d@example.com", i)}
				if _, _, err := svc.StartSession(context.Background(), u); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
