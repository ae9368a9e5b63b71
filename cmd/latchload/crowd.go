package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// crowdReport is the JSON line of the crowd mode.
type crowdReport struct {
	Mode        string                      `json:"mode"`
	URLs        []string                    `json:"urls"`
	People      int                         `json:"people"`
	Concurrency int                         `json:"concurrency"`
	MailFrom    string                      `json:"mail_from"` // "outbox" or "smtp"
	Completed   int64                       `json:"completed"` // signed in and read /api/me
	Failed      int64                       `json:"failed"`
	Failures    map[string]int64            `json:"failures"` // "step status" → people stopped there
	WrongFirst  int64                       `json:"wrong_first"`
	IdleSends   int64                       `json:"idle_sends"`
	RateLimited int64                       `json:"rate_limited"` // 429 answers, every step
	DurationS   float64                     `json:"duration_s"`
	Requests    int64                       `json:"requests"`
	Errors      int64                       `json:"errors"`
	Latency     map[string]stepStats        `json:"latency"`
	Statuses    map[string]map[string]int64 `json:"statuses"`
	MailWait    *stepStats                  `json:"mail_wait,omitempty"`
	Interrupted bool                        `json:"interrupted,omitempty"`
	ServerCPUS  *float64                    `json:"server_cpu_s,omitempty"`
}

// crowdLoader prepares a loader for the crowd and burst modes: every
// response counts (there is no warm-up), and the whole run ends by the
// deadline.
func crowdLoader(ctx context.Context, o *options, conc int, stderr io.Writer) (*loader, context.CancelFunc) {
	oc := *o
	oc.conc = conc
	l := newLoader(&oc, o.base, o.mode, o.pids, "latch", stderr)
	ctx, cancel := context.WithTimeout(ctx, o.dur)
	l.stopCtx, l.reqCtx = ctx, ctx
	l.inWindow.Store(true)
	return l, cancel
}

// preflightAll checks that every server answers; with the outbox as the
// mail's source, that the outbox is there.
func preflightAll(ctx context.Context, o *options, outbox bool, stderr io.Writer) error {
	for _, b := range o.bases {
		mode := modeSend
		if outbox {
			mode = modeLogin
		}
		if err := newLoader(o, b, mode, nil, "latch", stderr).preflight(ctx); err != nil {
			return err
		}
	}
	return nil
}

// runCrowd signs in o.n people, o.conc at a time, all from this one
// address: each sends, reads its code, verifies (a share after one wrong
// code) and reads /api/me, arriving over o.over. Between them go sends
// to addresses that never sign in. Nothing is retried: a refusal ends that person's attempt and
// is counted.
func runCrowd(ctx context.Context, o *options, stderr io.Writer) (*crowdReport, error) {
	var sk *sink
	if o.smtpAddr != "" {
		var err error
		if sk, err = startSink(o.smtpAddr, o.smtpDelay); err != nil {
			return nil, exitError{2, err}
		}
		defer sk.close()
		fmt.Fprintf(stderr, "latchload: SMTP sink at %s (the server's SMTP_URL must point here)\n", sk.url())
	}
	if err := preflightAll(ctx, o, sk == nil, stderr); err != nil {
		return nil, err
	}
	conc := min(o.conc, o.n)
	l, cancel := crowdLoader(ctx, o, conc, stderr)
	defer cancel()
	fmt.Fprintf(stderr, "latchload: crowd of %d people, %d at a time, against %v\n", o.n, conc, o.bases)

	people := make(chan int)
	start := time.Now()
	go func() {
		defer close(people)
		for i := range o.n {
			if o.over > 0 { // person i arrives at i/n of the span
				select {
				case <-time.After(time.Until(start.Add(o.over * time.Duration(i) / time.Duration(o.n)))):
				case <-l.stopCtx.Done():
					return
				}
			}
			select {
			case people <- i:
			case <-l.stopCtx.Done():
				return
			}
		}
	}()
	var completed, failed, wrongFirst, idle atomic.Int64
	var mu sync.Mutex
	failures := map[string]int64{}
	workers := make([]*worker, conc)
	cpu0 := sumCPUTicks(o.pids)
	t0 := time.Now()
	var wg sync.WaitGroup
	for k := range workers {
		w := &worker{l: l, id: k}
		workers[k] = w
		wg.Go(func() {
			for i := range people {
				w.base = o.bases[i%len(o.bases)]
				// Idle sends: person i brings floor((i+1)·idle) − floor(i·idle).
				for range int(math.Floor(float64(i+1)*o.idle)) - int(math.Floor(float64(i)*o.idle)) {
					if _, err := w.sendAs(stepIdleSend, w.nextAddress()); err == nil {
						idle.Add(1)
					}
				}
				wrong := math.Floor(float64(i+1)*o.wrong) > math.Floor(float64(i)*o.wrong)
				err := w.person(sk, wrong)
				switch {
				case err == nil:
					completed.Add(1)
					if wrong {
						wrongFirst.Add(1)
					}
				case errors.Is(err, errStopped) || l.stopCtx.Err() != nil:
				default:
					failed.Add(1)
					mu.Lock()
					failures[failureKey(err)]++
					mu.Unlock()
					l.logFailure(w, err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	var rec recorder
	for _, w := range workers {
		rec.merge(&w.rec)
	}
	rep := &crowdReport{
		Mode: modeCrowd, URLs: o.bases, People: o.n, Concurrency: conc, MailFrom: "outbox",
		Completed: completed.Load(), Failed: failed.Load(), Failures: failures,
		WrongFirst: wrongFirst.Load(), IdleSends: idle.Load(),
		DurationS: round(elapsed.Seconds(), 3), Requests: rec.requests, Errors: rec.errors,
		Latency: rec.latencies(), Statuses: stepStatuses(&rec), Interrupted: ctx.Err() != nil,
	}
	if sk != nil {
		rep.MailFrom = "smtp"
	}
	for _, byCode := range rep.Statuses {
		rep.RateLimited += byCode["429"]
	}
	if len(rec.mailWait) > 0 {
		mw := summarize(rec.mailWait)
		rep.MailWait = &mw
	}
	if len(o.pids) > 0 {
		rep.ServerCPUS = ptr(round(float64(cpuSince(cpu0, o.pids))/float64(clockTicks()), 3))
	}
	if l.stopCtx.Err() != nil && ctx.Err() == nil && rep.Completed+rep.Failed < int64(o.n) {
		fmt.Fprintf(stderr, "latchload: the crowd did not finish within -d %s\n", o.dur)
	}
	return rep, nil
}

// person is one sign-in of the crowd with a fresh address.
func (w *worker) person(sk *sink, wrongFirst bool) error {
	w.jar.reset()
	addr := w.nextAddress()
	sentAt := time.Now()
	id, err := w.send(addr)
	if err != nil {
		return err
	}
	code, err := w.code(sk, addr, sentAt)
	if err != nil {
		return err
	}
	if wrongFirst {
		bad := []byte(code)
		bad[len(bad)-1] = '0' + (bad[len(bad)-1]-'0'+1)%10
		if err := w.verifyCodeAs(stepWrongCode, string(bad), id); err != nil {
			return err
		}
	}
	if err := w.verifyCode(code, id); err != nil {
		return err
	}
	return w.call(stepMe, http.MethodGet, w.baseURL()+"/api/me", "", nil)
}

// code reads the code of the newest mail to addr: from the SMTP sink when
// there is one, else from the development outbox.
func (w *worker) code(sk *sink, addr string, sentAt time.Time) (string, error) {
	if sk == nil {
		msg, err := w.mail(addr)
		if err != nil {
			return "", err
		}
		if msg.Code == "" {
			return "", errors.New("outbox: the mail has no code (is PASSWORDLESS_TYPE LINK?)")
		}
		return msg.Code, nil
	}
	m, ok := sk.waitFor(w.l.stopCtx, addr, sentAt, mailWait)
	if w.l.stopCtx.Err() != nil {
		return "", errStopped
	}
	if !ok {
		return "", &statusError{step: stepMail, status: 0, body: fmt.Sprintf("no mail to %s at the SMTP sink within %s", addr, mailWait)}
	}
	w.rec.lat[stepMail] = append(w.rec.lat[stepMail], micros(m.at.Sub(sentAt)))
	w.rec.mailWait = append(w.rec.mailWait, micros(m.at.Sub(sentAt)))
	if m.code == "" {
		return "", errors.New("smtp sink: the mail has no code in its subject (is PASSWORDLESS_TYPE LINK?)")
	}
	return m.code, nil
}

// failureKey names where a person's sign-in stopped: "send 429",
// "verify 400", "mail timeout", "me transport".
func failureKey(err error) string {
	if se, ok := errors.AsType[*statusError](err); ok {
		if se.status == 0 {
			return se.step.String() + " timeout"
		}
		return se.step.String() + " " + strconv.Itoa(se.status)
	}
	if te, ok := errors.AsType[*transportError](err); ok {
		return te.step.String() + " transport"
	}
	return "other"
}

// stepStatuses turns the per-step status counts into the report's shape.
func stepStatuses(r *recorder) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for s := range numSteps {
		if len(r.byStep[s]) > 0 {
			out[s.String()] = statusCounts(r.byStep[s])
		}
	}
	return out
}
