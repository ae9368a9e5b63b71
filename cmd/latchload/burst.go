package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// burstReport is the JSON line of the burst mode.
type burstReport struct {
	Mode        string               `json:"mode"`
	URLs        []string             `json:"urls"`
	Sends       int                  `json:"sends"`
	Accepted    int64                `json:"accepted"` // sends answered 200
	Non2xx      map[string]int64     `json:"non_2xx"`
	Errors      int64                `json:"errors"`
	SMTPDelayMS float64              `json:"smtp_delay_ms"`
	SendsDoneS  float64              `json:"sends_done_s"` // until the last send's answer
	Latency     map[string]stepStats `json:"latency"`      // send
	Mails       int                  `json:"mails"`        // accepted sends whose mail arrived
	Duplicates  int                  `json:"duplicates"`   // extra copies (delivery is at least once)
	Missing     int                  `json:"missing"`      // accepted sends whose mail never came
	LastMailS   float64              `json:"last_mail_s"`  // from the burst's start to the last mail
	MailsPerS   float64              `json:"mails_per_s"`  // mails / last_mail_s
	TimeToInbox *stepStats           `json:"time_to_inbox,omitempty"`
	TimedOut    bool                 `json:"timed_out,omitempty"` // -d passed before every mail came
	ServerCPUS  *float64             `json:"server_cpu_s,omitempty"`
}

// runBurst starts the SMTP sink, sends o.n sign-in requests at once (one
// goroutine and connection each, spread over the servers), and waits
// until the sink has the mail of every accepted send or -d passes.
func runBurst(ctx context.Context, o *options, stderr io.Writer) (*burstReport, error) {
	sk, err := startSink(o.smtpAddr, o.smtpDelay)
	if err != nil {
		return nil, exitError{2, err}
	}
	defer sk.close()
	fmt.Fprintf(stderr, "latchload: SMTP sink at %s, %s per message (the server's SMTP_URL must point here)\n", sk.url(), o.smtpDelay)
	if err := preflightAll(ctx, o, false, stderr); err != nil {
		return nil, err
	}
	l, cancel := crowdLoader(ctx, o, o.n, stderr)
	defer cancel()
	before, _ := sk.count()
	fmt.Fprintf(stderr, "latchload: burst of %d sends against %v\n", o.n, o.bases)

	workers := make([]*worker, o.n)
	starts := make([]time.Time, o.n)
	addrs := make([]string, o.n)
	ok := make([]bool, o.n)
	cpu0 := sumCPUTicks(o.pids)
	t0 := time.Now()
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range workers {
		w := &worker{l: l, id: i, base: o.bases[i%len(o.bases)]}
		workers[i] = w
		addrs[i] = "burst-" + l.runID + "-" + strconv.Itoa(i) + "@example.com"
		wg.Go(func() {
			<-gate
			starts[i] = time.Now()
			_, err := w.send(addrs[i])
			ok[i] = err == nil
			if err != nil && l.stopCtx.Err() == nil {
				l.logFailure(w, err)
			}
		})
	}
	close(gate)
	wg.Wait()
	sendsDone := time.Since(t0)
	var rec recorder
	var accepted int64
	for i, w := range workers {
		rec.merge(&w.rec)
		if ok[i] {
			accepted++
		}
	}
	fmt.Fprintf(stderr, "latchload: %d of %d sends accepted in %s; waiting for their mail\n", accepted, o.n, sendsDone.Round(time.Millisecond))
	done := sk.waitCount(l.stopCtx, before+int(accepted))
	cpu1 := sumCPUTicks(o.pids)

	rep := &burstReport{
		Mode: modeBurst, URLs: o.bases, Sends: o.n, Accepted: accepted, Non2xx: statusCounts(rec.status),
		Errors: rec.errors, SMTPDelayMS: float64(o.smtpDelay.Microseconds()) / 1000,
		SendsDoneS: round(sendsDone.Seconds(), 3), Latency: rec.latencies(), TimedOut: !done,
	}
	var inbox []uint32
	var last time.Time
	for i, a := range addrs {
		got := sk.received(a)
		if len(got) == 0 {
			if ok[i] {
				rep.Missing++
			}
			continue
		}
		rep.Mails++
		rep.Duplicates += len(got) - 1
		inbox = append(inbox, micros(got[0].at.Sub(starts[i])))
		if got[0].at.After(last) {
			last = got[0].at
		}
	}
	if !last.IsZero() {
		rep.LastMailS = round(last.Sub(t0).Seconds(), 3)
		rep.MailsPerS = round(float64(rep.Mails)/last.Sub(t0).Seconds(), 1)
	}
	if len(inbox) > 0 {
		st := summarize(inbox)
		rep.TimeToInbox = &st
	}
	if len(o.pids) > 0 {
		rep.ServerCPUS = ptr(round(float64(cpu1-min(cpu0, cpu1))/float64(clockTicks()), 3))
	}
	return rep, nil
}
