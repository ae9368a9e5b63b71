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
	modeCrowd = "crowd"
	modeBurst = "burst"
)

// Bounds that keep a run short and the machine usable.
const (
	maxDuration    = 10 * time.Minute
	maxWarmup      = time.Minute
	maxTimeout     = time.Minute
	maxConcurrency = 4096
	maxPeople      = 20000 // -n
	maxSMTPDelay   = 10 * time.Second
)

// options are the validated flags.
type options struct {
	base     string   // the -url, validated as loopback, without a trailing slash
	bases    []string // crowd and burst: every -url, requests spread over them
	mode     string
	conc     int
	dur      time.Duration
	warmup   time.Duration
	timeout  time.Duration
	pids     []int
	baseline bool

	// crowd and burst
	n         int           // people (crowd) or sends (burst)
	wrong     float64       // crowd: share of people who first type a wrong code
	idle      float64       // crowd: sends to addresses that never sign in, per person
	over      time.Duration // crowd: the span the people's arrivals are spread over (0: at once)
	smtpAddr  string        // the in-process SMTP sink's address; "" reads the dev outbox (crowd)
	smtpDelay time.Duration // the sink's wait before it accepts each message
}

const usageHead = `usage: latchload [flags]

Puts load on a Latch server on this machine (loopback only) and prints one
JSON line of results on stdout; progress goes to stderr.

Modes: me (sign in once per worker, then GET /api/me), login (send, outbox,
verify/code, me, logout with a fresh address each), link (the same by magic
link), send (only send, fresh addresses), crowd (-n people behind one
address sign in once each, -c at a time, some after a wrong code, plus
sends to addresses that never sign in), burst (-n sends at once, then the
time until an SMTP sink in this process has every mail; point the server's
SMTP_URL at -smtp-addr).

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
	fs.StringVar(&raw, "url", "http://127.0.0.1:3000", "base `URL` of the server; must be loopback (127.0.0.0/8, ::1, localhost); crowd and burst take a comma-separated list of replicas and spread requests over them")
	fs.StringVar(&o.mode, "mode", modeMe, "what each worker repeats: me, login, link or send; or crowd, burst")
	fs.IntVar(&o.conc, "c", 16, "concurrent workers (each one connection)")
	fs.DurationVar(&o.dur, "d", 10*time.Second, "length of the measured span (at most 10m); crowd and burst: the bound on the whole run (default 1m)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the measured span, not counted (at most 1m)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of one request (at most 1m)")
	fs.StringVar(&pids, "pids", "", "comma-separated `PIDs` of the server processes whose CPU time and memory to measure (Linux /proc)")
	fs.BoolVar(&o.baseline, "baseline", false, "also measure a bare net/http JSON handler in a child process under the same load, and report the ratio")
	fs.IntVar(&o.n, "n", 0, "crowd: people (default 500); burst: sends at once (default 2000); at most 20000")
	fs.Float64Var(&o.wrong, "wrong", 0.1, "crowd: share of people who type a wrong code before the right one")
	fs.Float64Var(&o.idle, "idle", 0.2, "crowd: sends to addresses that never sign in, per person")
	fs.DurationVar(&o.over, "over", 0, "crowd: spread the people's arrivals evenly over this span, as in a room where people arrive over minutes (0: each worker takes the next person at once)")
	fs.StringVar(&o.smtpAddr, "smtp-addr", "", "run an SMTP sink on this loopback `host:port` (burst: default 127.0.0.1:2525); crowd reads codes from it instead of the dev outbox")
	fs.DurationVar(&o.smtpDelay, "smtp-delay", 0, "the sink's wait before it accepts each message, like a distant relay (at most 10s)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}

	var problems []error
	bad := func(format string, a ...any) { problems = append(problems, fmt.Errorf(format, a...)) }
	if fs.NArg() > 0 {
		bad("unexpected arguments: %q", fs.Args())
	}
	for _, r := range strings.Split(raw, ",") {
		u, err := loopbackURL(strings.TrimSpace(r))
		if err != nil {
			problems = append(problems, err)
			continue
		}
		o.bases = append(o.bases, u)
	}
	if len(o.bases) > 0 {
		o.base = o.bases[0]
	}
	switch o.mode {
	case modeMe, modeLogin, modeLink, modeSend:
		if len(o.bases) > 1 {
			bad("-url: mode %s loads one server; only crowd and burst take several", o.mode)
		}
		if o.n != 0 || o.smtpAddr != "" || o.smtpDelay != 0 {
			bad("-n, -smtp-addr and -smtp-delay apply to the crowd and burst modes")
		}
	case modeCrowd, modeBurst:
		durSet := false
		fs.Visit(func(f *flag.Flag) { durSet = durSet || f.Name == "d" })
		if !durSet {
			o.dur = time.Minute // the bound on the whole run
		}
		if o.n == 0 {
			o.n = map[string]int{modeCrowd: 500, modeBurst: 2000}[o.mode]
		}
		if o.n < 1 || o.n > maxPeople {
			bad("-n %d: want 1 to %d", o.n, maxPeople)
		}
		if o.mode == modeBurst && o.smtpAddr == "" {
			o.smtpAddr = "127.0.0.1:2525"
		}
		if o.smtpAddr != "" {
			if host, _, err := net.SplitHostPort(o.smtpAddr); err != nil || !loopbackHost(host) {
				bad("-smtp-addr %q: want a loopback host:port", o.smtpAddr)
			}
		}
		if o.smtpDelay < 0 || o.smtpDelay > maxSMTPDelay {
			bad("-smtp-delay %s: want 0 to %s", o.smtpDelay, maxSMTPDelay)
		}
		if o.wrong < 0 || o.wrong > 1 {
			bad("-wrong %v: want 0 to 1", o.wrong)
		}
		if o.idle < 0 || o.idle > 10 {
			bad("-idle %v: want 0 to 10", o.idle)
		}
		if o.over < 0 || o.over >= o.dur {
			bad("-over %s: want 0 or more, and less than -d %s (the bound on the whole run)", o.over, o.dur)
		}
		if o.baseline {
			bad("-baseline applies to the me, login, link and send modes")
		}
	default:
		bad("-mode %q: want me, login, link, send, crowd or burst", o.mode)
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
	var err error
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
