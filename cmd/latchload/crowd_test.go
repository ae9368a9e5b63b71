package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// mustRunOnce runs the crowd or burst mode and decodes its JSON line
// into rep, refusing unknown fields.
func mustRunOnce(t *testing.T, rep any, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("latchload %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(rep); err != nil {
		t.Fatalf("decode %s: %v", stdout.String(), err)
	}
	t.Logf("%s", stdout.String())
}

// freeAddr returns a loopback address nothing listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func checkCrowd(t *testing.T, rep *crowdReport, people, wrong, idle int64, mailFrom string) {
	t.Helper()
	if rep.Mode != modeCrowd || rep.People != int(people) || rep.Completed != people || rep.Failed != 0 || len(rep.Failures) != 0 {
		t.Errorf("completed %d, failed %d (%v) of %d people", rep.Completed, rep.Failed, rep.Failures, rep.People)
	}
	if rep.WrongFirst != wrong || rep.IdleSends != idle || rep.MailFrom != mailFrom {
		t.Errorf("wrong_first %d, idle_sends %d, mail_from %s; want %d, %d, %s", rep.WrongFirst, rep.IdleSends, rep.MailFrom, wrong, idle, mailFrom)
	}
	if got := rep.Statuses["wrong_code"]["400"]; got != wrong {
		t.Errorf("wrong_code answered 400 %d times, want %d", got, wrong)
	}
	if got := rep.Statuses["send"]["200"]; got != people {
		t.Errorf("send answered 200 %d times, want %d", got, people)
	}
	if got := rep.Statuses["idle_send"]["200"]; got != idle {
		t.Errorf("idle_send answered 200 %d times, want %d", got, idle)
	}
	for _, s := range []string{"send", "verify", "me", "wrong_code", "idle_send"} {
		st := rep.Latency[s]
		if st.Count == 0 || st.P50 > st.P99 || st.P99 > st.Max {
			t.Errorf("step %s: latency %+v", s, st)
		}
	}
	if rep.RateLimited != 0 || rep.Errors != 0 || rep.MailWait == nil {
		t.Errorf("rate_limited %d, errors %d, mail_wait %v", rep.RateLimited, rep.Errors, rep.MailWait)
	}
}

func TestCrowdAgainstFake(t *testing.T) {
	t.Run("outbox", func(t *testing.T) {
		srv := newFakeLatch(t, false)
		var rep crowdReport
		mustRunOnce(t, &rep, "-url", srv.URL, "-mode", "crowd", "-n", "40", "-c", "8", "-wrong", "0.25", "-idle", "0.5")
		checkCrowd(t, &rep, 40, 10, 20, "outbox")
	})
	t.Run("arrivals spread out", func(t *testing.T) {
		srv := newFakeLatch(t, false)
		var rep crowdReport
		mustRunOnce(t, &rep, "-url", srv.URL, "-mode", "crowd", "-n", "10", "-c", "8", "-over", "500ms", "-d", "20s")
		checkCrowd(t, &rep, 10, 1, 2, "outbox")
		// The tenth person arrives at 9/10 of the span, not at once.
		if rep.DurationS < 0.45 {
			t.Errorf("10 people over 500ms took %.3fs", rep.DurationS)
		}
	})
	t.Run("smtp", func(t *testing.T) {
		addr := freeAddr(t)
		srv := newFakeLatchSMTP(t, false, addr)
		var rep crowdReport
		mustRunOnce(t, &rep, "-url", srv.URL, "-mode", "crowd", "-n", "20", "-c", "5", "-smtp-addr", addr)
		checkCrowd(t, &rep, 20, 2, 4, "smtp")
		if rep.Latency["mail"].Count != 20 {
			t.Errorf("mail step latency %+v, want 20 samples", rep.Latency["mail"])
		}
	})
}

// A crowd refused at once (default per-IP limits) is reported, not hidden.
func TestCrowdRateLimited(t *testing.T) {
	srv := newFakeLatch(t, true)
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL, "-mode", "crowd", "-n", "10", "-c", "2", "-idle", "0"}, nil, &stdout, &bytes.Buffer{})
	if err == nil {
		t.Error("a crowd in which nobody signed in should fail")
	}
	var rep crowdReport
	if json.Unmarshal(stdout.Bytes(), &rep) != nil || rep.Failures["send 429"] != 10 || rep.RateLimited != 10 || rep.Completed != 0 {
		t.Errorf("report = %s, want 10 people stopped at send 429", stdout.String())
	}
}

func TestBurstAgainstFake(t *testing.T) {
	addr := freeAddr(t)
	a, b := newFakeLatchSMTP(t, false, addr), newFakeLatchSMTP(t, false, addr)
	var rep burstReport
	mustRunOnce(t, &rep, "-url", a.URL+","+b.URL, "-mode", "burst", "-n", "60", "-smtp-addr", addr, "-smtp-delay", "20ms")
	if rep.Sends != 60 || rep.Accepted != 60 || rep.Mails != 60 || rep.Missing != 0 || rep.Duplicates != 0 || rep.TimedOut {
		t.Errorf("sends %d, accepted %d, mails %d, missing %d, duplicates %d, timed out %v", rep.Sends, rep.Accepted, rep.Mails, rep.Missing, rep.Duplicates, rep.TimedOut)
	}
	if len(rep.URLs) != 2 || rep.SMTPDelayMS != 20 {
		t.Errorf("urls %v, smtp_delay_ms %v", rep.URLs, rep.SMTPDelayMS)
	}
	if rep.TimeToInbox == nil || rep.TimeToInbox.P50 < 20 || rep.LastMailS <= 0 || rep.MailsPerS <= 0 {
		t.Errorf("time_to_inbox %+v (want ≥ the sink's 20 ms), last_mail_s %v, mails_per_s %v", rep.TimeToInbox, rep.LastMailS, rep.MailsPerS)
	}
	if want := round(float64(rep.Mails)/rep.LastMailS, 1); rep.MailsPerS < want*0.99 || rep.MailsPerS > want*1.01 {
		t.Errorf("mails_per_s %v, want mails / last_mail_s ≈ %v", rep.MailsPerS, want)
	}
	if st := rep.Latency["send"]; st.Count != 60 {
		t.Errorf("send latency %+v", st)
	}
}

// The sink refuses an address off this machine.
func TestSinkIsLoopbackOnly(t *testing.T) {
	if _, err := startSink("0.0.0.0:0", 0); err == nil {
		t.Fatal("a sink on every interface started")
	}
	s, err := startSink("127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.close()
}

// The crowd and the burst against the real server: the crowd reads its
// codes from the dev outbox, the burst's mail goes through the durable
// queue and SMTP to the sink, with the per-IP limits off.
func TestCrowdAndBurstAgainstLatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server (cmd/latch); skipped with -short")
	}
	t.Run("crowd", func(t *testing.T) {
		base, pid := startLatch(t)
		var rep crowdReport
		mustRunOnce(t, &rep, "-url", base, "-mode", "crowd", "-n", "30", "-c", "6", "-pids", pid)
		checkCrowd(t, &rep, 30, 3, 6, "outbox")
	})
	t.Run("burst", func(t *testing.T) {
		addr := freeAddr(t)
		base, pid := startLatch(t, "SMTP_URL=smtp://"+addr+"?starttls=none")
		var rep burstReport
		mustRunOnce(t, &rep, "-url", base, "-mode", "burst", "-n", "200", "-smtp-addr", addr, "-smtp-delay", "10ms", "-pids", pid)
		if rep.Accepted != 200 || rep.Mails != 200 || rep.Missing != 0 || rep.TimedOut || rep.ServerCPUS == nil {
			t.Errorf("accepted %d, mails %d, missing %d, timed out %v", rep.Accepted, rep.Mails, rep.Missing, rep.TimedOut)
		}
	})
}
