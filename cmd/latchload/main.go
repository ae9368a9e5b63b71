// Command latchload puts load on a Latch server on this machine and prints
// one JSON line of results: requests and login flows per second, latency
// percentiles per step, failures by kind, and the server's CPU time and
// memory when its process IDs are given.
//
// Load only ever goes to this machine. -url must name a loopback address
// (127.0.0.0/8, ::1 or localhost); anything else is refused with exit code
// 2 before a connection is made, and every connection the tool dials is
// checked against the loopback range once more.
//
// # Modes
//
//	me     each worker signs in once (send, code from the dev outbox,
//	       verify/code), then repeats GET /api/me with its session cookie
//	login  whole sign-ins by code, a fresh address each: send, outbox,
//	       verify/code, me, logout
//	link   the same, completed by the magic link: send, outbox,
//	       POST /api/auth/passwordless/verify (form), me, logout
//	send   only POST send, a fresh address each
//	crowd  -n people (500) behind this one address sign in once each,
//	       -c at a time: send, read the code (dev outbox, or the SMTP
//	       sink with -smtp-addr), verify/code — every 1/-wrong-th person
//	       (10%) after one wrong code — then GET /api/me; between them,
//	       -idle sends per person (0.2) to addresses that never sign in.
//	       -over spreads the arrivals evenly over a span (say 5m), as
//	       in a hall where people arrive over minutes.
//	       Nothing is retried: a refusal ends that person's try and is
//	       counted by step and status. Rate limits stay on if you like:
//	       the 429s are part of what it reports.
//	burst  -n sends (2000) at once, one connection each, then waits until
//	       the SMTP sink in this process (-smtp-addr, 127.0.0.1:2525) has
//	       the mail of every accepted send. -smtp-delay makes the sink
//	       wait before each 250, like a distant relay. Start the server
//	       with SMTP_URL=smtp://127.0.0.1:2525?starttls=none and the
//	       per-IP limits off.
//
// crowd and burst take a comma-separated -url of replicas and spread
// the people or sends over them; -d bounds the whole run (1m), and -n is
// at most 20,000.
//
// # Starting the server for it
//
// me, login and link read codes and links from /dev/outbox.json, so the
// server must run with APP_ENV=development and without SMTP_URL. Its
// per-IP limits would turn the load into 429s within a second, so turn
// them off: RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_IP_MAX=0. The per-address
// send limit (RATE_LIMIT_AUTH_EMAIL_MAX) does not matter: every sign-in
// uses a fresh address, load-<run>-<worker>-<n>@example.com.
//
//	go build -o /tmp/latch ./cmd/latch
//	APP_ENV=development DATA_DIR=$(mktemp -d) RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_IP_MAX=0 \
//	    LOG_LEVEL=warn AUDIT_LOG=/dev/null /tmp/latch &
//	go run ./cmd/latchload -url http://127.0.0.1:3000 -mode login -c 32 -d 20s -warmup 3s \
//	    -pids $(pgrep -n -x latch) -baseline
//
// With `go run ./cmd/latch` the server is a child of the go command; pass
// the child's PID (pgrep -n -x latch finds it), not that of go run.
//
// # Measuring
//
// Workers run for -warmup and then for -d; only responses that arrive in
// the second span count, and rates divide by its length. In-flight
// requests get a short grace period after it, then the run ends: it never
// outlasts warm-up + duration + min(-timeout, 5s), and -d is at most 10m.
//
// With -pids, the servers' CPU time (utime+stime from /proc/PID/stat) is
// taken at the start and the end of the measured span, and their resident
// memory (VmRSS from /proc/PID/status, summed over the PIDs) is sampled
// every 100ms during it; peak_rss_mb is the largest sample, vm_hwm_mb the
// kernel's high-water mark since each process started.
//
// With -baseline, the tool then starts a bare net/http server (this
// binary re-executed as a child process: one handler that encodes a JSON
// body shaped like /api/me's; no middleware, no store), runs the same
// GET loop against it with the same concurrency, warm-up and duration,
// measures its PID the same way, and adds baseline and ratio_to_baseline
// (Latch's requests_per_s over the baseline's) to the report.
//
// # Output
//
// One JSON line on stdout; progress goes to stderr.
//
//	mode, url, concurrency, duration_s (the measured span), warmup_s
//	requests          responses of any status to every step, outbox polls included
//	requests_per_s
//	flows             completed sign-ins (login, link), accepted sends (send); 0 for me
//	flows_per_s, flow_errors
//	latency           per step (send, outbox, verify, link, me, logout):
//	                  count, p50_ms, p90_ms, p99_ms, max_ms of successful responses
//	mail_wait         login and link: the same figures for the time from
//	                  send's answer to the outbox poll that found the mail
//	errors            transport failures and timeouts
//	non_2xx           unsuccessful responses by status ("429": n); the link
//	                  form post succeeds with 303
//	client_cpu_s      this tool's CPU time over the span (on a small machine
//	                  the tool and the server share the cores)
//
// crowd prints people, completed, failed, failures ("send 429": n),
// wrong_first, idle_sends, rate_limited (429s of every step), latency
// per step (send, outbox or mail, wrong_code, verify, me, idle_send),
// statuses per step and mail_wait. burst prints sends, accepted, non_2xx,
// the send latency, sends_done_s, mails, duplicates, missing,
// last_mail_s (burst start to the last mail), mails_per_s (mails over
// last_mail_s) and time_to_inbox (each send's start to its mail at the
// sink); with -pids, server_cpu_s.
//
// With -pids: pids, server_cpu_s, cpu_us_per_request, cpu_us_per_flow,
// peak_rss_mb, vm_hwm_mb. With -baseline: baseline {requests,
// requests_per_s, cpu_us_per_request, peak_rss_mb, errors, latency},
// ratio_to_baseline (Latch's requests_per_s over the baseline's) and,
// with -pids too, cpu_ratio_to_baseline (Latch's cpu_us_per_request over
// the baseline's).
//
// In login and link, requests include the outbox polls (1ms apart at
// first, backing off to 50ms), so cpu_us_per_flow is the figure to
// compare between runs of those modes; cpu_us_per_request is the one for
// me and send.
//
// The example above quiets the server's logs (LOG_LEVEL=warn,
// AUDIT_LOG=/dev/null) to leave log writes out of the measure; leave
// them at their defaults to measure them too.
//
// Exit codes: 0 done, 1 the run failed (server unreachable, sign-in
// failed, no successful response), 2 bad flags or a non-loopback URL.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "latchload:", err)
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(ex.code)
		}
		os.Exit(1)
	}
}

// exitError carries a process exit code (2 for bad flags or a refused URL).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// run is the whole program. stdin matters only to the baseline child,
// which stops when its parent closes it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == serveBaselineArg {
		if len(args) != 2 {
			return exitError{2, fmt.Errorf("usage: %s ADDR", serveBaselineArg)}
		}
		return serveBaseline(ctx, args[1], stdin, stdout)
	}

	// Workers, progress and the baseline child all write to stderr.
	stderr = &lockedWriter{w: stderr}
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return exitError{2, err}
	}
	for _, pid := range opts.pids {
		if _, err := cpuTicks(pid); err != nil {
			return exitError{2, fmt.Errorf("-pids: %w", err)}
		}
	}

	switch opts.mode {
	case modeCrowd, modeBurst:
		return runOnce(ctx, opts, stdout, stderr)
	}

	target := newLoader(opts, opts.base, opts.mode, opts.pids, "latch", stderr)
	if err := target.preflight(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "latchload: %s mode against %s, %d workers, %s warm-up then %s\n",
		opts.mode, opts.base, opts.conc, opts.warmup, opts.dur)
	res, err := target.run(ctx)
	if err != nil {
		return err
	}
	rep := res.report(opts)

	if opts.baseline && ctx.Err() == nil {
		base, err := startBaseline(ctx, stderr)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		fmt.Fprintf(stderr, "latchload: baseline (bare net/http, pid %d) at %s, same load\n", base.pid, base.url)
		bl := newLoader(opts, base.url, modeMe, []int{base.pid}, "baseline", stderr)
		bl.signIn = false
		bres, err := bl.run(ctx)
		base.stop()
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		rep.addBaseline(bres)
	}

	line, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	if rep.Non2xx["429"] > 0 {
		fmt.Fprintln(stderr, "latchload: the server rate-limited the load (429); start it with RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_IP_MAX=0")
	}
	if res.successes == 0 {
		return errors.New("no successful response in the measured span")
	}
	return nil
}

// runOnce runs the crowd or the burst and prints its JSON line.
func runOnce(ctx context.Context, opts *options, stdout, stderr io.Writer) error {
	var rep any
	var succeeded bool
	if opts.mode == modeCrowd {
		r, err := runCrowd(ctx, opts, stderr)
		if err != nil {
			return err
		}
		rep, succeeded = r, r.Completed > 0
		if r.RateLimited > 0 {
			fmt.Fprintf(stderr, "latchload: the server answered 429 %d times (see statuses)\n", r.RateLimited)
		}
	} else {
		r, err := runBurst(ctx, opts, stderr)
		if err != nil {
			return err
		}
		rep, succeeded = r, r.Mails > 0
		if r.Non2xx["429"] > 0 {
			fmt.Fprintln(stderr, "latchload: the server rate-limited the burst (429); start it with RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_IP_MAX=0")
		}
	}
	line, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	if !succeeded {
		return errors.New("nobody signed in, or no mail arrived")
	}
	return nil
}

// lockedWriter serializes writes from many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
