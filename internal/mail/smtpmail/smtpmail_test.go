package smtpmail_test

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	latchmail "github.com/latch-auth/latch/internal/mail"
	"github.com/latch-auth/latch/internal/mail/smtpmail"
	"github.com/latch-auth/latch/internal/mail/smtpmail/smtptest"
)

const waitFor = 10 * time.Second

func mustTransport(t *testing.T, srv *smtptest.Server, query string, mod ...func(*smtpmail.Options)) *smtpmail.Transport {
	t.Helper()
	opts := smtpmail.Options{URL: srv.URL(query), TLSConfig: srv.ClientTLS(), Timeout: 5 * time.Second, HELO: "latch.test"}
	for _, f := range mod {
		f(&opts)
	}
	tr, err := smtpmail.New(opts)
	if err != nil {
		t.Fatalf("smtpmail.New: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func testMessage(id string) *latchmail.Message {
	return &latchmail.Message{
		ID:      id + "@latch.example",
		From:    `"Latch Login" <no-reply@latch.example>`,
		To:      "ada@example.com",
		Subject: "042917 is your Latch sign-in code",
		Text:    "Your code: 042917\n\nhttps://login.example.com/verify?link_token=abc&auth_request_id=def\n",
		HTML:    `<p>Your code: <b>042917</b></p><a href="https://login.example.com/verify?link_token=abc&amp;auth_request_id=def">Sign in</a>` + strings.Repeat("<!-- long line to force soft breaks -->", 5),
		Date:    time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		Code:    "042917",
	}
}

func TestSendOnTheWire(t *testing.T) {
	for _, c := range []struct {
		name     string
		opts     smtptest.Options
		query    string
		wantTLS  bool
		wantAuth bool
	}{
		{"plain", smtptest.Options{}, "", false, false},
		{"plain with auth plain", smtptest.Options{Username: "u", Password: "p w%d"}, "auth=plain", false, true},
		{"plain, starttls not offered", smtptest.Options{}, "starttls=opportunistic", false, false},
		{"starttls opportunistic", smtptest.Options{Security: smtptest.StartTLS}, "", true, false},
		{"starttls required, auth auto", smtptest.Options{Security: smtptest.StartTLS, Username: "user@x", Password: "s3cret:/@"}, "starttls=required", true, true},
		{"starttls required, auth login", smtptest.Options{Security: smtptest.StartTLS, Username: "u", Password: "p"}, "starttls=required&auth=login", true, true},
		{"starttls none", smtptest.Options{Security: smtptest.StartTLS}, "starttls=none", false, false},
		{"implicit tls", smtptest.Options{Security: smtptest.ImplicitTLS}, "", true, false},
		{"implicit tls, auth plain", smtptest.Options{Security: smtptest.ImplicitTLS, Username: "u", Password: "p"}, "auth=plain", true, true},
		{"implicit tls, auth login", smtptest.Options{Security: smtptest.ImplicitTLS, Username: "u", Password: "p"}, "auth=login", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, c.opts)
			tr := mustTransport(t, srv, c.query)
			want := testMessage("wire")
			if err := tr.Send(context.Background(), want); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.WaitMessages(t, 1, waitFor)[0]
			if got.TLS != c.wantTLS || got.Authed != c.wantAuth {
				t.Errorf("session TLS=%v auth=%v, want TLS=%v auth=%v", got.TLS, got.Authed, c.wantTLS, c.wantAuth)
			}
			checkWireMessage(t, got, want)
		})
	}
}

// checkWireMessage asserts the headers and MIME structure of a received message.
func checkWireMessage(t *testing.T, got *smtptest.Message, want *latchmail.Message) {
	t.Helper()
	h := got.Header
	if h.Get("Message-Id") != "<"+want.ID+">" {
		t.Errorf("Message-ID %q, want <%s>", h.Get("Message-Id"), want.ID)
	}
	if d, err := h.Date(); err != nil || !d.Equal(want.Date) {
		t.Errorf("Date %q (%v), want %v", h.Get("Date"), err, want.Date)
	}
	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Name != "Latch Login" || from.Address != "no-reply@latch.example" {
		t.Errorf("From %q (%v), want the display name and address", h.Get("From"), err)
	}
	if to, err := mail.ParseAddress(h.Get("To")); err != nil || to.Address != want.To {
		t.Errorf("To %q (%v), want %s", h.Get("To"), err, want.To)
	}
	if h.Get("Subject") != want.Subject {
		t.Errorf("Subject %q, want %q", h.Get("Subject"), want.Subject)
	}
	if h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted %q, want auto-generated", h.Get("Auto-Submitted"))
	}
	if h.Get("Mime-Version") != "1.0" {
		t.Errorf("MIME-Version %q", h.Get("Mime-Version"))
	}
	if got.ContentType != "multipart/alternative" {
		t.Errorf("Content-Type %q, want multipart/alternative", got.ContentType)
	}
	if got.Text() != strings.ReplaceAll(want.Text, "\n", "\r\n") {
		t.Errorf("text part %q, want %q", got.Text(), want.Text)
	}
	if got.HTML() != want.HTML {
		t.Errorf("html part %q, want %q", got.HTML(), want.HTML)
	}
	if got.From != "no-reply@latch.example" || len(got.To) != 1 || got.To[0] != want.To {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	if strings.Contains(string(got.Raw), "User-Agent") || strings.Contains(string(got.Raw), "X-Mailer") {
		t.Error("message advertises its mailer")
	}
}

func TestSendFailures(t *testing.T) {
	for _, c := range []struct {
		name          string
		opts          smtptest.Options
		query         string
		noTrust       bool
		userPass      string // replaces the URL's credentials
		reply         error
		wantPermanent bool
	}{
		{"starttls required but not offered", smtptest.Options{}, "starttls=required", false, "", nil, false},
		{"untrusted certificate", smtptest.Options{Security: smtptest.StartTLS}, "", true, "", nil, false},
		{"untrusted certificate, implicit", smtptest.Options{Security: smtptest.ImplicitTLS}, "", true, "", nil, false},
		{"wrong password", smtptest.Options{Security: smtptest.StartTLS, Username: "u", Password: "p"}, "", false, "u:wrong", nil, false},
		{"auth required, none given", smtptest.Options{Username: "u", Password: "p"}, "", false, "-", nil, true},
		{"4xx reply is temporary", smtptest.Options{}, "", false, "", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, false},
		{"5xx reply is permanent", smtptest.Options{}, "", false, "", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, true},
		{"552 after data is permanent", smtptest.Options{}, "", false, "", &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "too big"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, c.opts)
			if c.reply != nil {
				srv.SetHandler(func(*smtptest.Message) error { return c.reply })
			}
			url := srv.URL(c.query)
			switch {
			case c.userPass == "-":
				url = strings.Replace(url, "u:p@", "", 1)
			case c.userPass != "":
				url = strings.Replace(url, "u:p@", c.userPass+"@", 1)
			}
			opts := smtpmail.Options{URL: url, TLSConfig: srv.ClientTLS(), Timeout: 5 * time.Second}
			if c.noTrust {
				opts.TLSConfig = nil
			}
			tr, err := smtpmail.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			err = tr.Send(context.Background(), testMessage("fail"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := latchmail.Permanent(err); got != c.wantPermanent {
				t.Fatalf("Permanent(%v) = %v, want %v", err, got, c.wantPermanent)
			}
			if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), ":p@") {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}

func TestBadAddressIsPermanent(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	tr := mustTransport(t, srv, "")
	m := testMessage("bad")
	m.To = "not an address"
	if err := tr.Send(context.Background(), m); !latchmail.Permanent(err) {
		t.Fatalf("Send to a malformed address: %v, want a permanent error", err)
	}
}

func TestServerDownIsTemporary(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.Stop()
	tr := mustTransport(t, srv, "")
	err := tr.Send(context.Background(), testMessage("down"))
	if err == nil || latchmail.Permanent(err) {
		t.Fatalf("Send to a stopped server: %v, want a temporary error", err)
	}
	if err := tr.Probe(context.Background()); err == nil {
		t.Fatal("Probe of a stopped server succeeded")
	}
	srv.Restart(t)
	if err := tr.Probe(context.Background()); err != nil {
		t.Fatalf("Probe after restart: %v", err)
	}
	if err := tr.Send(context.Background(), testMessage("up")); err != nil {
		t.Fatalf("Send after restart: %v", err)
	}
}

func TestReusesConnections(t *testing.T) {
	for _, c := range []struct {
		name      string
		noReuse   bool
		wantConns int
	}{
		{"reuse", false, 1},
		{"no reuse", true, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Security: smtptest.StartTLS})
			tr := mustTransport(t, srv, "", func(o *smtpmail.Options) { o.NoReuse = c.noReuse })
			for i := range 5 {
				if err := tr.Send(context.Background(), testMessage(string(rune('a'+i)))); err != nil {
					t.Fatal(err)
				}
			}
			srv.WaitMessages(t, 5, waitFor)
			if got := srv.Conns(); got != c.wantConns {
				t.Fatalf("%d connections for 5 messages, want %d", got, c.wantConns)
			}
		})
	}
}

// The pool keeps as many connections as SetPoolSize says, so that
// concurrent sends reuse them instead of dialing anew.
func TestPoolSizeFollowsTheSendsInFlight(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.SetHandler(func(*smtptest.Message) error { time.Sleep(100 * time.Millisecond); return nil })
	tr := mustTransport(t, srv, "")
	round := func(name string) {
		t.Helper()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if err := tr.Send(context.Background(), testMessage(fmt.Sprintf("%s-%d", name, i))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	for _, c := range []struct {
		pool      int // 0: the default of 2
		wantConns int // after the round, in all
	}{
		{0, 8},      // 8 dialed, 2 kept
		{0, 8 + 6},  // 2 reused, 6 dialed; 2 kept
		{8, 14 + 6}, // 2 reused, 6 dialed; all 8 kept
		{8, 20},     // all reused
		{3, 20 + 5}, // 3 kept of the 8, so 5 dialed
	} {
		if c.pool > 0 {
			tr.SetPoolSize(c.pool)
		}
		round(fmt.Sprintf("pool%d", c.pool))
		if got := srv.Conns(); got != c.wantConns {
			t.Fatalf("pool %d: %d connections in all, want %d", c.pool, got, c.wantConns)
		}
	}
}

func TestReconnectsWhenPooledConnectionDied(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	tr := mustTransport(t, srv, "")
	if err := tr.Send(context.Background(), testMessage("one")); err != nil {
		t.Fatal(err)
	}
	srv.Stop() // closes the pooled connection's socket
	srv.Restart(t)
	if err := tr.Send(context.Background(), testMessage("two")); err != nil {
		t.Fatalf("Send after the server dropped the pooled connection: %v", err)
	}
	srv.WaitMessages(t, 2, waitFor)
}

func TestIdleConnectionsClose(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	tr := mustTransport(t, srv, "", func(o *smtpmail.Options) { o.IdleTimeout = 50 * time.Millisecond })
	if err := tr.Send(context.Background(), testMessage("one")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := tr.Send(context.Background(), testMessage("two")); err != nil {
		t.Fatal(err)
	}
	if got := srv.Conns(); got != 2 {
		t.Fatalf("%d connections, want 2 (the idle one closed)", got)
	}
}

func TestRetrySendsTheSameBytes(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	tries := 0
	srv.SetHandler(func(*smtptest.Message) error {
		tries++
		if tries == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
		}
		return nil
	})
	tr := mustTransport(t, srv, "")
	m := testMessage("same")
	if err := tr.Send(context.Background(), m); err == nil {
		t.Fatal("first try succeeded")
	}
	if err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	a := srv.Attempts()
	if len(a) != 2 || string(a[0].Raw) != string(a[1].Raw) {
		t.Fatalf("the retry sent different bytes:\n%s\n---\n%s", a[0].Raw, a[1].Raw)
	}
}

func TestSendAfterClose(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	tr := mustTransport(t, srv, "")
	tr.Close()
	if err := tr.Send(context.Background(), testMessage("closed")); !errors.Is(err, smtpmail.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, c := range []struct {
		url  string
		want string // in the error
	}{
		{"", "empty"},
		{"http://host", "scheme"},
		{"smtp://", "no host"},
		{"smtp://host:99999", "port"},
		{"smtp://host:25/path", "path"},
		{"smtp://host?starttls=maybe", "starttls"},
		{"smtps://host?starttls=required", "smtp:// only"},
		{"smtp://host?auth=plain", "needs a user"},
		{"smtp://u:p@host?auth=cram", "auth"},
		{"smtp://u:p@host?tls=1", "unknown parameter"},
		{"smtp://u:hunter2@host\x7f", "not a URL"},
	} {
		t.Run(c.url, func(t *testing.T) {
			_, err := smtpmail.New(smtpmail.Options{URL: c.url})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New(%q) = %v, want an error about %q", c.url, err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
	for _, ok := range []string{
		"smtp://host", "smtp://user:pass@host:587?starttls=required&auth=login", "smtps://host:465",
		"smtp://[::1]:2525?starttls=none", "smtps://u%40x:p%2Fw@mail.example.com?auth=plain",
	} {
		if _, err := smtpmail.New(smtpmail.Options{URL: ok}); err != nil {
			t.Errorf("New(%q): %v", ok, err)
		}
	}
}

// TestRequireTLS: with RequireTLS (production), smtp:// must upgrade with
// STARTTLS unless the URL opts out; a relay without STARTTLS gets nothing
// (not even the envelope), and the failure is temporary, so the queue
// retries, and says why.
func TestRequireTLS(t *testing.T) {
	require := func(o *smtpmail.Options) { o.RequireTLS = true }
	plain := smtptest.Start(t, smtptest.Options{})
	err := mustTransport(t, plain, "", require).Send(context.Background(), testMessage("no-starttls"))
	if err == nil || latchmail.Permanent(err) || !strings.Contains(err.Error(), "STARTTLS required") || !strings.Contains(err.Error(), "starttls=opportunistic") {
		t.Fatalf("Send to a relay without STARTTLS under RequireTLS: %v; want a temporary error naming STARTTLS and the opt-out", err)
	}
	if n := len(plain.Messages()); n != 0 {
		t.Fatalf("the relay without STARTTLS received %d messages", n)
	}
	// Opting out in the URL is explicit and works.
	for _, q := range []string{"starttls=opportunistic", "starttls=none"} {
		if err := mustTransport(t, plain, q, require).Send(context.Background(), testMessage("opt-out-"+q[9:])); err != nil {
			t.Fatalf("%s under RequireTLS: %v", q, err)
		}
	}
	// A relay with STARTTLS is used over TLS; implicit TLS is unaffected.
	for _, sec := range []smtptest.Security{smtptest.StartTLS, smtptest.ImplicitTLS} {
		srv := smtptest.Start(t, smtptest.Options{Security: sec})
		if err := mustTransport(t, srv, "", require).Send(context.Background(), testMessage("tls")); err != nil {
			t.Fatalf("security %d under RequireTLS: %v", sec, err)
		}
		if got := srv.WaitMessages(t, 1, waitFor)[0]; !got.TLS {
			t.Fatalf("security %d: delivered without TLS", sec)
		}
	}
}
