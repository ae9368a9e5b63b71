package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// mailWait is how long a flow polls the outbox for its mail, which
	// may be queued and delivered asynchronously.
	mailWait = 5 * time.Second
	// maxGrace bounds the wait for in-flight requests after the span.
	maxGrace = 5 * time.Second
	// failureLines is how many failures are printed to stderr per run.
	failureLines = 5
)

// loader runs one load against one server.
type loader struct {
	base    string
	mode    string
	conc    int
	warmup  time.Duration
	dur     time.Duration
	timeout time.Duration
	pids    []int
	label   string // in progress lines: "latch" or "baseline"
	signIn  bool   // me mode: sign each worker in first (not against the baseline)
	runID   string
	client  *http.Client
	stderr  io.Writer

	// Set before the workers' loops start; read-only after.
	warmEnd, end time.Time
	stopCtx      context.Context // done: start no more requests
	reqCtx       context.Context // done: abandon requests in flight

	// inWindow is true exactly between the two CPU samples: what
	// finishes then counts, so counts, rates and CPU share one span.
	inWindow atomic.Bool

	sent    atomic.Int64 // requests finished, any phase (progress)
	failed  atomic.Int64 // failures, any phase (progress)
	printed atomic.Int64
}

func newLoader(o *options, base, mode string, pids []int, label string, stderr io.Writer) *loader {
	dialer := &net.Dialer{Timeout: o.timeout, KeepAlive: 30 * time.Second, Control: dialLoopbackOnly}
	transport := &http.Transport{
		Proxy:                 nil, // never: load goes straight to this machine
		DialContext:           dialer.DialContext,
		MaxIdleConns:          o.conc,
		MaxIdleConnsPerHost:   o.conc,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.timeout,
		ResponseHeaderTimeout: o.timeout,
		// Ask for plain bodies: the dev outbox's JSON is large, and gzipping
		// it would bill the server for a development hook, not for logins.
		DisableCompression: true,
	}
	b := make([]byte, 4)
	rand.Read(b)
	return &loader{
		base: base, mode: mode, conc: o.conc, warmup: o.warmup, dur: o.dur, timeout: o.timeout,
		pids: pids, label: label, signIn: true, runID: hex.EncodeToString(b), stderr: stderr,
		client: &http.Client{
			Transport:     transport,
			Timeout:       o.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// preflight checks that the server answers and, for the modes that read
// mail, that it has the development outbox; it sends no load.
func (l *loader) preflight(ctx context.Context) error {
	get := func(path string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+path, nil)
		if err != nil {
			return 0, err
		}
		resp, err := l.client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	status, err := get("/api/health")
	if err != nil {
		return fmt.Errorf("cannot reach the server at %s: %w", l.base, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s/api/health answered %d; is this a Latch server?", l.base, status)
	}
	if l.mode == modeSend {
		return nil
	}
	status, err = get("/dev/outbox.json?to=" + url.QueryEscape("latchload-preflight@example.com"))
	if err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s/dev/outbox.json answered %d: mode %s reads codes from the development outbox; start the server with APP_ENV=development and without SMTP_URL", l.base, status, l.mode)
	}
	return nil
}

// result is the outcome of one run.
type result struct {
	mode        string
	rec         recorder
	successes   int64
	window      time.Duration // the measured span as it happened
	cpuTicks    uint64        // servers' CPU over the span
	clientTicks uint64        // this process's CPU over the span
	ticksPerSec uint64
	peakRSSKB   uint64
	hwmKB       uint64
	pids        []int
	interrupted bool
}

// run signs the workers in if the mode needs it, then loads the server
// for warm-up plus duration, and measures the span after the warm-up.
func (l *loader) run(ctx context.Context) (*result, error) {
	stopCtx, stop := context.WithCancel(ctx)
	defer stop()
	reqCtx, abandon := context.WithCancel(ctx)
	defer abandon()
	l.stopCtx, l.reqCtx = stopCtx, reqCtx

	workers := make([]*worker, l.conc)
	for i := range workers {
		workers[i] = &worker{l: l, id: i}
	}
	if l.mode == modeMe {
		if err := l.prepare(workers); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	l.warmEnd = start.Add(l.warmup)
	l.end = l.warmEnd.Add(l.dur)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(w.loop)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	progressDone := l.startProgress(start, done)

	res := &result{mode: l.mode, pids: l.pids, ticksPerSec: clockTicks()}
	sleepUntil(ctx, l.warmEnd)
	if ctx.Err() != nil {
		stop()
		<-done
		<-progressDone
		return nil, errors.New("interrupted during warm-up")
	}
	cpu0, self0, t0 := sumCPUTicks(l.pids), sumCPUTicks([]int{os.Getpid()}), time.Now()
	l.inWindow.Store(true)
	rss := startRSSSampler(l.pids)
	sleepUntil(ctx, l.end)
	l.inWindow.Store(false)
	cpu1, self1, t1 := sumCPUTicks(l.pids), sumCPUTicks([]int{os.Getpid()}), time.Now()
	res.peakRSSKB = rss.finish()
	res.hwmKB = sumKB(l.pids, "VmHWM")
	res.interrupted = ctx.Err() != nil
	stop()

	// In-flight requests may finish (they no longer count); then go.
	select {
	case <-done:
	case <-time.After(min(l.timeout, maxGrace)):
		abandon()
		<-done
	}
	<-progressDone

	res.window = t1.Sub(t0)
	res.cpuTicks = cpu1 - min(cpu0, cpu1)
	res.clientTicks = self1 - min(self0, self1)
	for _, w := range workers {
		res.rec.merge(&w.rec)
	}
	res.successes = res.rec.successes
	return res, nil
}

// prepare signs every worker in, all at once; any failure ends the run.
func (l *loader) prepare(workers []*worker) error {
	if !l.signIn {
		for _, w := range workers {
			// The baseline reads no cookie, but requests should weigh
			// what Latch's do.
			w.jar.set("latch_session", "baseline-session-token-0123456789abcdefghijklmn")
		}
		return nil
	}
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() { errs[i] = w.signInOnce() })
	}
	wg.Wait()
	for _, err := range errs {
		if se, ok := errors.AsType[*statusError](err); ok && se.status == http.StatusTooManyRequests {
			return fmt.Errorf("signing the workers in: %w (start the server with RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_IP_MAX=0)", err)
		}
		if err != nil {
			return fmt.Errorf("signing the workers in: %w", err)
		}
	}
	return nil
}

// startProgress prints a line to stderr every second until done closes.
func (l *loader) startProgress(start time.Time, done <-chan struct{}) <-chan struct{} {
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := l.sent.Load()
				phase := "measuring"
				if now.Before(l.warmEnd) {
					phase = "warm-up"
				} else if !now.Before(l.end) {
					phase = "draining"
				}
				fmt.Fprintf(l.stderr, "latchload: %-8s %4.0fs %-9s %7d req/s  %d failures\n",
					l.label, now.Sub(start).Seconds(), phase, n-last, l.failed.Load())
				last = n
			}
		}
	}()
	return finished
}

// logFailure prints the first few failures of a run.
func (l *loader) logFailure(w *worker, err error) {
	l.failed.Add(1)
	if l.printed.Add(1) > failureLines {
		return
	}
	fmt.Fprintf(l.stderr, "latchload: %s worker %d: %v\n", l.label, w.id, err)
}

// sleepUntil waits for t or for ctx to end.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// worker is one sequential client with its own cookies and tallies.
type worker struct {
	l    *loader
	id   int
	base string // the server this worker loads; "" means the loader's
	n    int    // addresses used
	jar  jar
	rec  recorder
	buf  bytes.Buffer // the last response body
	rd   bytes.Reader
}

var errStopped = errors.New("stopped")

func (w *worker) baseURL() string {
	if w.base != "" {
		return w.base
	}
	return w.l.base
}

// statusError is an unexpected response status.
type statusError struct {
	step   step
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.step, e.status, e.body)
}

// transportError is a request that got no response.
type transportError struct {
	step step
	err  error
}

func (e *transportError) Error() string { return fmt.Sprintf("%s: %v", e.step, e.err) }
func (e *transportError) Unwrap() error { return e.err }

func (w *worker) loop() {
	for w.l.stopCtx.Err() == nil {
		var err error
		switch w.l.mode {
		case modeMe:
			err = w.call(stepMe, http.MethodGet, w.baseURL()+"/api/me", "", nil)
		case modeLogin:
			err = w.flow(false)
		case modeLink:
			err = w.flow(true)
		case modeSend:
			_, err = w.send(w.nextAddress())
			if err == nil {
				w.flowDone()
			}
		}
		if err == nil || errors.Is(err, errStopped) || w.l.stopCtx.Err() != nil {
			continue
		}
		if w.l.mode != modeMe && w.l.inWindow.Load() {
			w.rec.flowErrors++
		}
		w.l.logFailure(w, err)
		if _, ok := errors.AsType[*transportError](err); ok {
			// A server that is down refuses at once; do not spin.
			sleepUntil(w.l.stopCtx, time.Now().Add(10*time.Millisecond))
		}
	}
}

func (w *worker) flowDone() {
	if w.l.inWindow.Load() {
		w.rec.flows++
	}
}

func (w *worker) nextAddress() string {
	w.n++
	return "load-" + w.l.runID + "-" + strconv.Itoa(w.id) + "-" + strconv.Itoa(w.n) + "@example.com"
}

// signInOnce gives a worker of the me mode its session.
func (w *worker) signInOnce() error { return w.signIn(false) }

// signIn signs in with a fresh address: send, read the mail, then verify
// by code or by link.
func (w *worker) signIn(byLink bool) error {
	addr := w.nextAddress()
	id, err := w.send(addr)
	if err != nil {
		return err
	}
	msg, err := w.mail(addr)
	if err != nil {
		return err
	}
	if byLink {
		return w.verifyLink(msg.Link, id)
	}
	return w.verifyCode(msg.Code, id)
}

// flow is one whole sign-in with a fresh address, by code or by link,
// followed by /api/me and a sign-out.
func (w *worker) flow(byLink bool) error {
	w.jar.reset()
	if err := w.signIn(byLink); err != nil {
		return err
	}
	if err := w.call(stepMe, http.MethodGet, w.baseURL()+"/api/me", "", nil); err != nil {
		return err
	}
	if err := w.call(stepLogout, http.MethodPost, w.baseURL()+"/api/auth/logout", "", nil); err != nil {
		return err
	}
	w.flowDone()
	return nil
}

// send asks for a sign-in email and returns the authRequestId.
func (w *worker) send(addr string) (string, error) { return w.sendAs(stepSend, addr) }

// sendAs is send, recorded as step s.
func (w *worker) sendAs(s step, addr string) (string, error) {
	body := append(append([]byte(`{"email":"`), addr...), `"}`...) // addr needs no escaping
	if err := w.call(s, http.MethodPost, w.baseURL()+"/api/auth/passwordless/email/send", "application/json", body); err != nil {
		return "", err
	}
	var sent struct {
		AuthRequestID string `json:"authRequestId"`
	}
	if err := json.Unmarshal(w.buf.Bytes(), &sent); err != nil || sent.AuthRequestID == "" {
		return "", fmt.Errorf("send: no authRequestId in %.200q", w.buf.Bytes())
	}
	return sent.AuthRequestID, nil
}

type outboxMessage struct {
	Code string `json:"code"`
	Link string `json:"link"`
}

// mail polls the development outbox for the newest mail to addr.
func (w *worker) mail(addr string) (outboxMessage, error) {
	u := w.l.base + "/dev/outbox.json?to=" + url.QueryEscape(addr)
	start := time.Now()
	deadline := start.Add(mailWait)
	// Mail lands a few milliseconds after send (it goes through the
	// durable queue); polling much sooner only adds requests to the bill.
	delay := 5 * time.Millisecond
	for {
		if err := w.call(stepOutbox, http.MethodGet, u, "", nil); err != nil {
			return outboxMessage{}, err
		}
		var box struct {
			Messages []outboxMessage `json:"messages"`
		}
		if err := json.Unmarshal(w.buf.Bytes(), &box); err != nil {
			return outboxMessage{}, fmt.Errorf("outbox: %w", err)
		}
		if n := len(box.Messages); n > 0 {
			if w.l.inWindow.Load() {
				w.rec.mailWait = append(w.rec.mailWait, micros(time.Since(start)))
			}
			return box.Messages[n-1], nil
		}
		if time.Now().After(deadline) {
			return outboxMessage{}, fmt.Errorf("outbox: no mail to %s within %s", addr, mailWait)
		}
		sleepUntil(w.l.stopCtx, time.Now().Add(delay))
		delay = min(2*delay, 50*time.Millisecond)
	}
}

func (w *worker) verifyCode(code, authRequestID string) error {
	return w.verifyCodeAs(stepVerify, code, authRequestID)
}

func (w *worker) verifyCodeAs(s step, code, authRequestID string) error {
	if code == "" {
		return errors.New("outbox: the mail has no code (is PASSWORDLESS_TYPE LINK?)")
	}
	body, _ := json.Marshal(struct {
		Code          string `json:"code"`
		AuthRequestID string `json:"authRequestId"`
	}{code, authRequestID})
	return w.call(s, http.MethodPost, w.baseURL()+"/api/auth/passwordless/email/verify/code", "application/json", body)
}

// verifyLink completes a sign-in as the link page's form does. It posts
// to -url, whatever host the link names.
func (w *worker) verifyLink(link, authRequestID string) error {
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("link_token") == "" {
		return fmt.Errorf("outbox: the mail has no magic link (is PASSWORDLESS_TYPE OTP?): %q", link)
	}
	q := u.Query()
	form := url.Values{"link_token": {q.Get("link_token")}, "auth_request_id": {authRequestID}}
	if id := q.Get("auth_request_id"); id != "" {
		form.Set("auth_request_id", id)
	}
	return w.call(stepLink, http.MethodPost, w.baseURL()+"/api/auth/passwordless/verify", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// call makes one request with the worker's cookies, reads the whole
// response into w.buf, keeps the cookies it sets and records the outcome.
// An unsuccessful status is an error.
func (w *worker) call(s step, method, target, contentType string, body []byte) error {
	if w.l.stopCtx.Err() != nil {
		return errStopped
	}
	var rd io.Reader
	if body != nil {
		w.rd.Reset(body)
		rd = &w.rd
	}
	req, err := http.NewRequestWithContext(w.l.reqCtx, method, target, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header["Content-Type"] = []string{contentType}
	}
	if c := w.jar.header(); c != "" {
		req.Header["Cookie"] = []string{c}
	}
	t0 := time.Now()
	resp, err := w.l.client.Do(req)
	if err == nil {
		w.buf.Reset()
		_, err = w.buf.ReadFrom(resp.Body)
		resp.Body.Close()
	}
	t1 := time.Now()
	w.l.sent.Add(1)
	if err != nil {
		if w.l.inWindow.Load() {
			w.rec.errors++
		}
		return &transportError{step: s, err: err}
	}
	w.jar.update(resp.Header["Set-Cookie"])
	ok := resp.StatusCode/100 == 2 || (s == stepLink && resp.StatusCode == http.StatusSeeOther) ||
		(s == stepWrongCode && resp.StatusCode == http.StatusBadRequest)
	if w.l.inWindow.Load() {
		w.rec.response(s, t1.Sub(t0), resp.StatusCode, ok)
	}
	if !ok {
		return &statusError{step: s, status: resp.StatusCode, body: string(bytes.TrimSpace(w.buf.Bytes()[:min(w.buf.Len(), 200)]))}
	}
	return nil
}

// jar is a worker's cookies, kept as the Cookie header it sends; a
// handful of cookies at most, so a slice beats a map.
type jar struct {
	names, values []string
	hdr           string
	dirty         bool
}

func (j *jar) reset() {
	j.names, j.values, j.hdr, j.dirty = j.names[:0], j.values[:0], "", false
}

func (j *jar) set(name, value string) {
	j.dirty = true
	for i, n := range j.names {
		if n == name {
			j.values[i] = value
			return
		}
	}
	j.names = append(j.names, name)
	j.values = append(j.values, value)
}

func (j *jar) remove(name string) {
	for i, n := range j.names {
		if n == name {
			j.names = append(j.names[:i], j.names[i+1:]...)
			j.values = append(j.values[:i], j.values[i+1:]...)
			j.dirty = true
			return
		}
	}
}

// update applies Set-Cookie header lines: set, replace or clear.
func (j *jar) update(lines []string) {
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		if c.MaxAge < 0 || c.Value == "" || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			j.remove(c.Name)
		} else {
			j.set(c.Name, c.Value)
		}
	}
}

func (j *jar) header() string {
	if j.dirty {
		var b []byte
		for i := range j.names {
			if i > 0 {
				b = append(b, "; "...)
			}
			b = append(b, j.names[i]...)
			b = append(b, '=')
			b = append(b, j.values[i]...)
		}
		j.hdr, j.dirty = string(b), false
	}
	return j.hdr
}
