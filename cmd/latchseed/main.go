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
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/redisstore"
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
	sessions := make([]*auth.Session, *n)
	now := time.Now()
	for i := range sessions {
		sessions[i] = &auth.Session{
			ID:          token(),
			UserID:      fmt.Sprintf("usr_seed%07d", i),
			Email:       fmt.Sprintf("seed%07d@example.com", i),
			CreatedAt:   now,
			LastSeenAt:  now,
			ExpiresAt:   now.Add(7 * 24 * time.Hour),
			IdleTimeout: 4 * time.Hour,
		}
	}
	var err error
	if *dataDir != "" {
		err = seedBolt(*dataDir, sessions)
	} else {
		err = seedRedis(*redisURL, *prefix, sessions)
	}
	if err != nil {
		return err
	}
	fmt.Printf("latchseed: %d sessions in %s\n", *n, time.Since(start).Round(time.Millisecond))
	return nil
}

func token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func seedBolt(dir string, sessions []*auth.Session) error {
	s, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	return s.ImportSessions(sessions)
}

func seedRedis(url, prefix string, sessions []*auth.Session) error {
	s, err := redisstore.New(redisstore.Options{URL: url, KeyPrefix: prefix, PoolSize: 64})
	if err != nil {
		return err
	}
	defer s.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(sessions)) {
					return
				}
				if err := s.CreateSession(context.Background(), sessions[i]); err != nil {
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
