package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The modes; see the package documentation.
const (
	modeMe    = "me"
	modeLogin = "login"
	modeLink  = "link"
	modeSend  = "send"
)

// Bounds that keep a run short and the machine usable.
const (
	maxDuration    = 10 * time.Minute
	maxWarmup      = time.Minute
	maxTimeout     = time.Minute
	maxConcurrency = 4096
)

// options are the validated flags.
type options struct {
	base     string // the -url, validated as loopback, without a trailing slash
	mode     string
	conc     int
	dur      time.Duration
	warmup   time.Duration
	timeout  time.Duration
	pids     []int
	baseline bool
}

const usageHead = `usage: latchload [flags]

Puts load on a Latch server on this machine (loopback only) and prints one
JSON line of results on stdout; progress goes to stderr.

Modes: me (sign in once per worker, then GET /api/me), login (send, outbox,
verify/code, me, logout with a fresh address each), link (the same by magic
link), send (only send, fresh addresses).

Start the server in development mode (the tool reads codes from
/dev/outbox.json) with its per-IP rate limits off, else the load turns into
429s:

  APP_ENV=development DATA_DIR=$(mktemp -d) RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_IP_MAX=0 \
      LOG_LEVEL=warn AUDIT_LOG=/dev/null /tmp/latch &
  latchload -url http://127.0.0.1:3000 -mode login -c 32 -d 20s -warmup 3s \
      -pids $(pgrep -n -x latch) -baseline

Flags:
`

// parseFlags reads and checks the command line, reporting every problem
// at once. -h returns flag.ErrHelp after printing the usage.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("latchload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	var (
		o    options
		raw  string
		pids string
	)
	fs.StringVar(&raw, "url", "http://127.0.0.1:3000", "base `URL` of the server; must be loopback (127.0.0.0/8, ::1, localhost)")
	fs.StringVar(&o.mode, "mode", modeMe, "what each worker repeats: me, login, link or send")
	fs.IntVar(&o.conc, "c", 16, "concurrent workers (each one connection)")
	fs.DurationVar(&o.dur, "d", 10*time.Second, "length of the measured span (at most 10m)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the measured span, not counted (at most 1m)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of one request (at most 1m)")
	fs.StringVar(&pids, "pids", "", "comma-separated `PIDs` of the server processes whose CPU time and memory to measure (Linux /proc)")
	fs.BoolVar(&o.baseline, "baseline", false, "also measure a bare net/http JSON handler in a child process under the same load, and report the ratio")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}

	var problems []error
	bad := func(format string, a ...any) { problems = append(problems, fmt.Errorf(format, a...)) }
	if fs.NArg() > 0 {
		bad("unexpected arguments: %q", fs.Args())
	}
	u, err := loopbackURL(raw)
	if err != nil {
		problems = append(problems, err)
	} else {
		o.base = u
	}
	switch o.mode {
	case modeMe, modeLogin, modeLink, modeSend:
	default:
		bad("-mode %q: want me, login, link or send", o.mode)
	}
	if o.conc < 1 || o.conc > maxConcurrency {
		bad("-c %d: want 1 to %d", o.conc, maxConcurrency)
	}
	if o.dur <= 0 || o.dur > maxDuration {
		bad("-d %s: want more than 0 and at most %s", o.dur, maxDuration)
	}
	if o.warmup < 0 || o.warmup > maxWarmup {
		bad("-warmup %s: want 0 to %s", o.warmup, maxWarmup)
	}
	if o.timeout <= 0 || o.timeout > maxTimeout {
		bad("-timeout %s: want more than 0 and at most %s", o.timeout, maxTimeout)
	}
	if o.pids, err = parsePIDs(pids); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return &o, nil
}

// parsePIDs reads a comma-separated list of process IDs.
func parsePIDs(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var pids []int
	for f := range strings.SplitSeq(s, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pids %q: %q is not a process ID", s, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// loopbackURL checks that raw is an http(s) URL whose host is a loopback
// IP literal or localhost, and returns it without a trailing slash. It
// parses only: nothing is resolved or sent. Other names are refused even
// if they would resolve to a loopback address, so that what is checked is
// what is dialed.
func loopbackURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("-url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("-url %q: want an http:// or https:// URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("-url %q: want a base URL without user, query or fragment", raw)
	}
	if !loopbackHost(u.Hostname()) {
		return "", fmt.Errorf("-url %q: %q is not a loopback address; latchload only sends load to this machine (127.0.0.0/8, ::1 or localhost)", raw, u.Hostname())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// loopbackHost reports whether host is localhost or a loopback IP literal.
func loopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dialLoopbackOnly is a net.Dialer Control function: it refuses, before
// connecting, any address that is not a loopback IP, so no name
// resolution or redirect can take load off this machine.
func dialLoopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
	}
	return nil
}
