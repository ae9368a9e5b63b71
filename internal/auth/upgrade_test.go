package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/redisstore"
	"github.com/latch-auth/latch/internal/redistest"
	"github.com/latch-auth/latch/internal/vault"
)

// The stores under testdata/upgrade were written by the release before
// this one (commit 68c6189) with a fixed clock and secret: three users, two
// of them the same mailbox typed in two cases (Ada@Example.org and
// ada@example.org), four sessions, and Carol's pending sign-in with one
// wrong code counted. fixture.json holds what that release handed out.
type fixture struct {
	Time     time.Time         `json:"time"`
	Secret   string            `json:"secret"`
	Sessions map[string]string `json:"sessions"`
	Users    map[string]string `json:"users"`
	Pending  struct {
		Email, ID, Code, Link string
	} `json:"pending"`
}

func readFixture(t *testing.T, dir string) fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "upgrade", dir, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

type legacyStore interface {
	kv.Store
	auth.LegacySource
}

// upgradeAndSignIn upgrades s and signs in with what the old release left.
func upgradeAndSignIn(t *testing.T, s legacyStore, f fixture) {
	ctx := context.Background()
	clock := authtest.NewClock(f.Time.Add(time.Minute))
	cfg := authtest.Config(t, s, clock)
	keys, err := auth.NewKeys(f.Secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(s, clock, f.Secret)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys, cfg.Vault = keys, v
	svc, err := auth.NewService(cfg, s, &authtest.Mailbox{})
	if err != nil {
		t.Fatal(err)
	}
	report, err := svc.Upgrade(ctx, s)
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	if report != (auth.UpgradeReport{Users: 2, Merged: 1, Sessions: 4, Challenges: 1}) {
		t.Fatalf("Upgrade moved %+v", report)
	}
	if data, err := s.Legacy(ctx); err != nil || data != nil {
		t.Fatalf("after the upgrade the old layout still holds %+v, %v", data, err)
	}
	// A second run (another replica, a restart) finds nothing to do.
	if again, err := svc.Upgrade(ctx, s); err != nil || again != (auth.UpgradeReport{}) {
		t.Fatalf("second Upgrade: %+v, %v", again, err)
	}

	ada := f.Users["Ada@Example.org"] // created first: the twin that stays
	for name, token := range f.Sessions {
		sess, err := svc.Authenticate(ctx, token)
		if err != nil {
			t.Fatalf("the session of %s from the old release: %v", name, err)
		}
		want := f.Users[strings.TrimSuffix(name, "#2")]
		if strings.EqualFold(name[:3], "ada") {
			want = ada
		}
		if sess.UserID != want {
			t.Errorf("the session of %s belongs to %s, want %s", name, sess.UserID, want)
		}
	}
	web := authtest.Web("198.51.100.0/24")
	login, err := svc.VerifyCode(ctx, f.Pending.ID, f.Pending.Code, web)
	if err != nil {
		t.Fatalf("Carol's pending code from the old release: %v", err)
	}
	if login.User.Email != f.Pending.Email || login.State != "carol-state" || login.RedirectTo != "/after" {
		t.Fatalf("Carol's login = %+v", login)
	}
	// One mailbox, one account: signing out everywhere ends the twin's session too.
	if err := svc.Logout(ctx, f.Sessions["Ada@Example.org"], true); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Ada@Example.org#2", "ada@example.org"} {
		if _, err := svc.Authenticate(ctx, f.Sessions[name]); auth.ErrorCode(err) != auth.CodeUnauthorized {
			t.Errorf("after signing out everywhere, the session of %s: %v", name, err)
		}
	}
	if _, err := svc.Authenticate(ctx, f.Sessions["bob@example.org"]); err != nil {
		t.Errorf("Bob's session ended with Ada's: %v", err)
	}
	u, err := svc.UserByEmail(ctx, "ADA@EXAMPLE.ORG")
	if err != nil || u.ID != ada {
		t.Fatalf("the user of ADA@EXAMPLE.ORG = %+v, %v; want %s", u, err, ada)
	}
}

func TestUpgradeFromTheBoltFileOfThePreviousRelease(t *testing.T) {
	dir := t.TempDir()
	src, err := os.Open(filepath.Join("testdata", "upgrade", "bolt", "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, boltstore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	s, err := boltstore.Open(dir, boltstore.Options{SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	upgradeAndSignIn(t, s, readFixture(t, "bolt"))
}

func TestUpgradeFromTheRedisKeysOfThePreviousRelease(t *testing.T) {
	url := redistest.URL(t)
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "upgradetest" + hex.EncodeToString(b) + ":"
	s, err := redisstore.New(redisstore.Options{URL: url, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := os.ReadFile(filepath.Join("testdata", "upgrade", "redis", "dump.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dumped []struct {
		Key    string `json:"key"`
		PTTLms int64  `json:"pttlMs"`
		Dump   string `json:"dump"`
	}
	if err := json.Unmarshal(raw, &dumped); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range dumped {
		payload, err := base64.StdEncoding.DecodeString(d.Dump)
		if err != nil {
			t.Fatal(err)
		}
		key := prefix + strings.TrimPrefix(d.Key, "latch:")
		ttl := time.Duration(max(d.PTTLms, 0)) * time.Millisecond
		if err := s.Client().Restore(ctx, key, ttl, string(payload)).Err(); err != nil {
			t.Fatalf("RESTORE %s: %v", key, err)
		}
	}
	t.Cleanup(func() {
		var all []string
		iter := s.Client().Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			all = append(all, iter.Val())
		}
		for _, k := range all {
			s.Client().Del(ctx, k)
		}
	})
	upgradeAndSignIn(t, s, readFixture(t, "redis"))
}

func TestMain(m *testing.M) { os.Exit(redistest.Run(m)) }
