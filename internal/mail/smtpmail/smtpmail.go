// Package smtpmail delivers mail over SMTP with go-mail: smtp:// with
// STARTTLS, smtps:// with implicit TLS, AUTH PLAIN or LOGIN, and a small
// pool of connections kept open for the next message.
package smtpmail

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/latch-auth/latch/internal/mail"
)

var _ mail.Transport = (*Transport)(nil)

// Defaults of Options.
const (
	DefaultTimeout     = 15 * time.Second
	DefaultMaxIdle     = 2
	DefaultIdleTimeout = 30 * time.Second
)

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("smtpmail: transport closed")

// Options configure a Transport. Zero values take the defaults.
type Options struct {
	// URL is SMTP_URL:
	//   smtp://[user:pass@]host[:port]   port 587; STARTTLS (see RequireTLS)
	//   smtps://[user:pass@]host[:port]  port 465; TLS from the first byte
	// Query parameters:
	//   starttls=opportunistic|required|none  (smtp:// only; the default is
	//                                         required with RequireTLS, else
	//                                         opportunistic)
	//   auth=auto|plain|login                 (with a user; auto picks the strongest
	//                                         mechanism the server offers, and sends
	//                                         PLAIN or LOGIN only over TLS)
	// The user and password are percent-decoded.
	URL string
	// RequireTLS makes STARTTLS required on smtp:// unless the URL opts out
	// explicitly (starttls=opportunistic or starttls=none): production
	// mail carries sign-in codes, which must not cross the network in
	// clear because a relay, or someone in the middle, left STARTTLS out.
	// A relay without STARTTLS then fails each delivery (a temporary
	// error, so the queue retries) saying why.
	RequireTLS bool
	// Timeout bounds connecting and each message's whole exchange (15s).
	Timeout time.Duration
	// TLSConfig replaces the default TLS settings (system roots, TLS 1.2 or
	// later). Its ServerName defaults to the URL's host. Tests use it to
	// trust their own certificate.
	TLSConfig *tls.Config
	// HELO is the name given in EHLO (the machine's hostname).
	HELO string
	// MaxIdle is how many open connections are kept for the next
	// messages (2); IdleTimeout closes those unused this long (30s).
	MaxIdle     int
	IdleTimeout time.Duration
	// NoReuse opens a new connection for every message and closes it after.
	NoReuse bool
}

// Transport sends messages over SMTP. It is safe for concurrent use:
// each Send takes an open connection from its pool, or dials a new one,
// and returns it after a successful exchange.
//
// Failures are classified for the queue: a 5xx reply to MAIL, RCPT or
// DATA, or an address the message cannot carry, is permanent
// (mail.Permanent reports true); everything else (a 4xx reply, a network
// failure, a failure to connect, start TLS or authenticate, which is about
// the server or the settings rather than the message) is temporary.
type Transport struct {
	client  *gomail.Client // holds the settings; connections come from it
	tlsNote string         // said of every failure to connect when STARTTLS is required
	timeout time.Duration
	maxIdle int
	idleFor time.Duration
	noReuse bool

	mu     sync.Mutex
	idle   []idleConn // most recently used last
	timer  *time.Timer
	closed bool
}

type idleConn struct {
	c     *gosmtp.Client
	since time.Time
}

// New checks opts and returns a Transport. It does not connect; Probe does.
func New(opts Options) (*Transport, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = DefaultMaxIdle
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.NoReuse {
		opts.MaxIdle = 0
	}
	cfg, err := parseURL(opts.URL, opts.RequireTLS)
	if err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.TLSConfig != nil {
		tlsConfig = opts.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = cfg.host
	}
	host := cfg.host
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	gopts := []gomail.Option{
		gomail.WithPort(cfg.port),
		gomail.WithTimeout(opts.Timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithSMTPAuth(cfg.auth),
		// No NOOP before and after every message (two round trips of
		// seven): a pooled connection that died while idle shows at
		// MAIL FROM instead, before any of the message is sent (stale).
		gomail.WithoutNoop(),
	}
	if cfg.implicitTLS {
		gopts = append(gopts, gomail.WithSSL())
	} else {
		gopts = append(gopts, gomail.WithTLSPolicy(cfg.starttls))
	}
	if cfg.user != "" {
		gopts = append(gopts, gomail.WithUsername(cfg.user), gomail.WithPassword(cfg.password))
	}
	if opts.HELO != "" {
		gopts = append(gopts, gomail.WithHELO(opts.HELO))
	}
	client, err := gomail.NewClient(host, gopts...)
	if err != nil {
		return nil, fmt.Errorf("smtpmail: client: %w", err)
	}
	var tlsNote string
	if cfg.tlsRequired {
		tlsNote = " (STARTTLS required; SMTP_URL ?starttls=opportunistic allows a relay without it)"
	}
	return &Transport{client: client, tlsNote: tlsNote, timeout: opts.Timeout, maxIdle: opts.MaxIdle, idleFor: opts.IdleTimeout, noReuse: opts.NoReuse}, nil
}

type config struct {
	host, user, password string
	port                 int
	implicitTLS          bool
	starttls             gomail.TLSPolicy
	// tlsRequired: STARTTLS is mandatory (required in the URL, or by
	// default under RequireTLS).
	tlsRequired bool
	auth        gomail.SMTPAuthType
}

// parseURL reads SMTP_URL. Its errors never repeat the URL, which may
// hold a password.
func parseURL(raw string, requireTLS bool) (config, error) {
	var cfg config
	if raw == "" {
		return cfg, errors.New("smtpmail: SMTP_URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return cfg, fmt.Errorf("smtpmail: SMTP_URL is not a URL: %w", err)
	}
	var problems []string
	switch u.Scheme {
	case "smtp":
		cfg.port = 587
	case "smtps":
		cfg.port, cfg.implicitTLS = 465, true
	default:
		problems = append(problems, fmt.Sprintf("scheme %q is not smtp or smtps", u.Scheme))
	}
	cfg.host = u.Hostname()
	if cfg.host == "" {
		problems = append(problems, "no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			problems = append(problems, fmt.Sprintf("port %q is not a port number", p))
		}
		cfg.port = n
	}
	if u.User != nil {
		cfg.user = u.User.Username()
		cfg.password, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" {
		problems = append(problems, "a path is not allowed")
	}
	q := u.Query()
	cfg.starttls = gomail.TLSOpportunistic
	if requireTLS && !cfg.implicitTLS {
		cfg.starttls = gomail.TLSMandatory
	}
	switch v := q.Get("starttls"); {
	case !q.Has("starttls"):
	case cfg.implicitTLS:
		problems = append(problems, "starttls applies to smtp:// only (smtps:// is TLS from the start)")
	case v == "opportunistic":
		cfg.starttls = gomail.TLSOpportunistic
	case v == "required":
		cfg.starttls = gomail.TLSMandatory
	case v == "none":
		cfg.starttls = gomail.NoTLS
	default:
		problems = append(problems, fmt.Sprintf("starttls=%q is not opportunistic, required or none", v))
	}
	cfg.auth = gomail.SMTPAuthNoAuth
	if cfg.user != "" {
		cfg.auth = gomail.SMTPAuthAutoDiscover
	}
	switch v := q.Get("auth"); {
	case !q.Has("auth"):
	case cfg.user == "":
		problems = append(problems, "auth needs a user in the URL")
	case v == "auto":
	case v == "plain":
		cfg.auth = gomail.SMTPAuthPlain
	case v == "login":
		cfg.auth = gomail.SMTPAuthLogin
	default:
		problems = append(problems, fmt.Sprintf("auth=%q is not auto, plain or login", v))
	}
	for k := range q {
		if k != "starttls" && k != "auth" {
			problems = append(problems, fmt.Sprintf("unknown parameter %q", k))
		}
	}
	if len(problems) > 0 {
		return cfg, fmt.Errorf("smtpmail: SMTP_URL: %s", strings.Join(problems, "; "))
	}
	cfg.tlsRequired = cfg.starttls == gomail.TLSMandatory
	return cfg, nil
}

// Send delivers m. The message is the same bytes on every call for the
// same m (its boundary derives from m.ID), so a retry never makes a second,
// different mail. ctx bounds connecting; the exchange itself is bounded
// by Options.Timeout.
func (t *Transport) Send(ctx context.Context, m *mail.Message) error {
	msg, err := build(m)
	if err != nil {
		return mail.MarkPermanent(fmt.Errorf("smtpmail: %w", err))
	}
	for try := 0; ; try++ {
		c, reused, err := t.conn(ctx)
		if err != nil {
			return fmt.Errorf("smtpmail: connect%s: %w", t.tlsNote, err)
		}
		err = t.client.SendWithSMTPClient(c, msg)
		if err == nil {
			t.release(c)
			return nil
		}
		t.discard(c)
		if msg.IsDelivered() { // accepted; only the RSET after it failed
			return nil
		}
		if reused && try == 0 && stale(err) {
			// The pooled connection died while idle (the server timed it
			// out or restarted); the others likely did too.
			t.drain()
			continue
		}
		if permanent(err) {
			return mail.MarkPermanent(fmt.Errorf("smtpmail: send: %w", err))
		}
		return fmt.Errorf("smtpmail: send: %w", err)
	}
}

// Probe connects, says EHLO (with STARTTLS and AUTH as configured) and
// quits, to tell whether mail can be sent now. Callers should cache the
// answer: each call is a new connection.
func (t *Transport) Probe(ctx context.Context) error {
	c, err := t.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("smtpmail: probe%s: %w", t.tlsNote, err)
	}
	t.quit(c)
	return nil
}

// SetPoolSize makes the pool keep up to n open connections (at least
// one), closing idle ones past it, so that the pool follows the number of
// sends in flight (mailqueue.WorkerOptions.ConcurrencyChanged). With NoReuse it does
// nothing.
func (t *Transport) SetPoolSize(n int) {
	t.mu.Lock()
	if t.noReuse || t.closed {
		t.mu.Unlock()
		return
	}
	t.maxIdle = max(1, n)
	var extra []idleConn
	if over := len(t.idle) - t.maxIdle; over > 0 {
		extra = append(extra, t.idle[:over]...) // the least recently used
		t.idle = append(t.idle[:0], t.idle[over:]...)
	}
	t.mu.Unlock()
	for _, ic := range extra {
		t.quit(ic.c)
	}
}

// Close closes the pooled connections. Sends after Close fail.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	idle := t.idle
	t.idle = nil
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
	for _, ic := range idle {
		t.quit(ic.c)
	}
	return nil
}

// conn takes a pooled connection or dials a new one.
func (t *Transport) conn(ctx context.Context) (c *gosmtp.Client, reused bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, false, ErrClosed
	}
	if n := len(t.idle); n > 0 {
		c = t.idle[n-1].c
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		// The deadline set when it was last used has passed while it idled.
		if err := c.UpdateDeadline(t.timeout); err == nil {
			return c, true, nil
		}
		c.Close()
	} else {
		t.mu.Unlock()
	}
	c, err = t.client.DialToSMTPClientWithContext(ctx)
	return c, false, err
}

// release returns c to the pool, or closes it when the pool is full.
func (t *Transport) release(c *gosmtp.Client) {
	t.mu.Lock()
	if t.closed || len(t.idle) >= t.maxIdle {
		t.mu.Unlock()
		t.quit(c)
		return
	}
	t.idle = append(t.idle, idleConn{c: c, since: time.Now()})
	if t.timer == nil {
		t.timer = time.AfterFunc(t.idleFor, t.reap)
	} else if len(t.idle) == 1 {
		t.timer.Reset(t.idleFor)
	}
	t.mu.Unlock()
}

// reap closes the connections idle for IdleTimeout and schedules itself
// for the rest.
func (t *Transport) reap() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	now := time.Now()
	var old []idleConn
	keep := t.idle[:0]
	for _, ic := range t.idle {
		if now.Sub(ic.since) >= t.idleFor {
			old = append(old, ic)
		} else {
			keep = append(keep, ic)
		}
	}
	t.idle = keep
	if len(keep) > 0 {
		t.timer.Reset(t.idleFor - now.Sub(keep[0].since))
	}
	t.mu.Unlock()
	for _, ic := range old {
		t.quit(ic.c)
	}
}

// drain closes every pooled connection.
func (t *Transport) drain() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, ic := range idle {
		ic.c.Close()
	}
}

func (t *Transport) discard(c *gosmtp.Client) { c.Close() }

// quit says QUIT, briefly, and closes the connection.
func (t *Transport) quit(c *gosmtp.Client) {
	if err := c.UpdateDeadline(min(t.timeout, 2*time.Second)); err == nil {
		if c.Quit() == nil {
			return
		}
	}
	c.Close()
}

// stale reports whether err says the connection was unusable before any
// part of the message was sent, so that sending again is safe: the
// connection check failed, or MAIL FROM found the connection gone, as
// opposed to a reply refusing the sender.
func stale(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrConnCheck:
		return true
	case gomail.ErrSMTPMailFrom:
		// No reply (the connection was closed or reset), or 421: the
		// server is closing the connection (it timed out while idle).
		code := se.ErrorCode()
		return code == 0 || code == 421
	}
	return false
}

// permanent reports whether err is a refusal that a retry cannot change.
func permanent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		return true
	case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		code := se.ErrorCode()
		return code >= 500 && code < 600
	}
	return false
}

// build makes the wire message: multipart/alternative with a text and an
// HTML part, and headers that mark it as automatic.
func build(m *mail.Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent(), gomail.WithBoundary(boundary(m.ID)))
	from, err := netmail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	msg.FromMailAddress(from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("to address: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.ID)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date)
	// RFC 3834: no vacation or out-of-office replies to a machine's mail.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// boundary derives the MIME boundary from the Message-ID, so a message is
// the same bytes on every try.
func boundary(id string) string {
	sum := sha256.Sum256([]byte("latch mime boundary\x00" + id))
	return "latch-" + hex.EncodeToString(sum[:16])
}
