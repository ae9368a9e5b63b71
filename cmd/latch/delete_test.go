package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/oauth2"
)

// TestDeleteUserLeavesNothing deletes, through the admin API, a person
// who is signed in, gave an OpenID client consent and holds its refresh
// token, and has a sign-in pending; then looks everywhere: the session,
// the pending code and the refresh token stop working, and once the
// server stops, no record in its files holds their id or address.
func TestDeleteUserLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := testEnv(data, "CLIENTS_FILE", writeTestClients(t, dir), "RATE_LIMIT_AUTH_EMAIL_MAX", "100")
	m := regexp.MustCompile(`shown once, only its hash is kept\): (\S+)`).FindStringSubmatch(mustCLI(t, env, "clients", "add", "ops", "--admin"))
	if m == nil {
		t.Fatal("clients add --admin printed no secret")
	}
	l := startLatch(t, env)
	b := newBrowser(t, l.base)
	id := mustSignIn(t, b, "ada@example.com")

	// Consent to a client that asks, and a refresh token from it.
	asks := newRP(t, l, "asks", rpSecret)
	status, _, page := b.get(asks.conf.AuthCodeURL("st-1"))
	req := regexp.MustCompile(`name="request" value="([^"]+)"`).FindSubmatch(page)
	if status != 200 || req == nil {
		t.Fatalf("consent page: %d\n%s", status, page)
	}
	_, h, _ := b.do(http.MethodPost, "/oauth/authorize/consent", "application/x-www-form-urlencoded", url.Values{"request": {string(req[1])}, "decision": {"allow"}}.Encode())
	back, _ := url.Parse(h.Get("Location"))
	tok, _ := asks.exchange(back.Query().Get("code"))
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	// A sign-in left pending.
	_, sent := b.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	code, _ := b.lastMail("ada@example.com")

	a := mustAdmin(t, l.base, m[1])
	a.want(200, "DELETE", "/api/admin/users/"+id, nil, nil)

	if status, _ := b.getJSON("/api/me"); status != 401 {
		t.Errorf("/api/me of a deleted user: %d, want 401", status)
	}
	if status, v := b.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code}); status != 410 {
		t.Errorf("the pending code of a deleted user: %d %v, want 410", status, v)
	}
	_, err := asks.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	mustOAuthError(t, err, "invalid_grant")
	l.stop()

	mustHoldNothingOf(t, filepath.Join(data, "latch.db"), id, "ada@example.com")
	mustHoldNothingOf(t, filepath.Join(data, "mailqueue.db"), id, "ada@example.com")
}

// TestDeleteUserWithdrawsQueuedMail: mail to a person that is still in
// the queue (the relay is down) goes when they are deleted.
func TestDeleteUserWithdrawsQueuedMail(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	relay := "smtp://" + ln.Addr().String()
	ln.Close() // nothing answers there: mail stays queued
	data := t.TempDir()
	env := testEnv(data, "SMTP_URL", relay, "MAIL_FROM", "latch@example.com")
	l := startLatch(t, env)
	mustCLI(t, env, "users", "add", "bob@example.com")
	c := newBrowser(t, l.base)
	if status, v := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "bob@example.com"}); status != 200 {
		t.Fatalf("send: %d %v", status, v)
	}
	queued := func() float64 {
		return metricSum(t, scrape(t, c), "latch_mail_queue_length", nil)
	}
	waitFor(t, "the mail to be queued", 5*time.Second, func() bool { return queued() == 1 })
	mustCLI(t, env, "users", "delete", "bob@example.com")
	waitFor(t, "the queued mail to go", 10*time.Second, func() bool { return queued() == 0 })
	l.stop()
	mustHoldNothingOf(t, filepath.Join(data, "mailqueue.db"), "", "bob@example.com")
	mustHoldNothingOf(t, filepath.Join(data, "latch.db"), "", "bob@example.com")
}

// mustHoldNothingOf reads every key and value of every bucket of a bbolt
// file and fails on one that holds id or email.
func mustHoldNothingOf(t *testing.T, path, id, email string) {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s does not exist", path)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var needles [][]byte
	for _, n := range []string{id, email, strings.ToUpper(email[:1]) + email[1:]} {
		if n != "" {
			needles = append(needles, []byte(n))
		}
	}
	records := 0
	var walk func(name string, bk *bolt.Bucket) error
	walk = func(name string, bk *bolt.Bucket) error {
		return bk.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(name+"/"+string(k), bk.Bucket(k))
			}
			records++
			for _, n := range needles {
				if bytes.Contains(k, n) || bytes.Contains(v, n) {
					t.Errorf("%s: bucket %s key %q still holds %q", filepath.Base(path), name, k, n)
				}
			}
			return nil
		})
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error { return walk(string(name), bk) })
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d records, none of %s", filepath.Base(path), records, email)
}
