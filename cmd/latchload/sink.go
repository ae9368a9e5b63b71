package main

import (
	"context"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server in this process, on a loopback address, that
// accepts every message after an optional delay (a relay's latency) and
// keeps, per recipient, when each arrived and the code in its subject. It
// keeps no bodies: a burst of thousands of mails costs little memory.
type sink struct {
	delay time.Duration
	srv   *smtp.Server
	ln    net.Listener

	mu      sync.Mutex
	mails   map[string][]sunkMail // by recipient, lower-cased
	total   int
	last    time.Time
	arrived chan struct{} // closed and replaced on every arrival
}

// sunkMail is what the sink keeps of one message.
type sunkMail struct {
	at   time.Time
	code string
}

// codeInSubject finds the code at the start of a login mail's subject
// ("123456 is your Latch sign-in code").
var codeInSubject = regexp.MustCompile(`^\s*([0-9]{4,12})\b`)

// startSink listens on addr, which must be a loopback host:port.
func startSink(addr string, delay time.Duration) (*sink, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !loopbackHost(host) {
		return nil, fmt.Errorf("-smtp-addr %q: want a loopback host:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtp sink: %w", err)
	}
	s := &sink{delay: delay, ln: ln, mails: map[string][]sunkMail{}, arrived: make(chan struct{})}
	srv := smtp.NewServer(sinkBackend{s})
	srv.Domain = "latchload.localhost"
	srv.AllowInsecureAuth = true
	srv.MaxRecipients = 10
	srv.MaxMessageBytes = 1 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	s.srv = srv
	go srv.Serve(ln)
	return s, nil
}

// url is the SMTP_URL that points a Latch at the sink.
func (s *sink) url() string { return "smtp://" + s.ln.Addr().String() + "?starttls=none" }

func (s *sink) close() { s.srv.Close() }

func (s *sink) add(to []string, code string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range to {
		r = strings.ToLower(r)
		s.mails[r] = append(s.mails[r], sunkMail{at: now, code: code})
		s.total++
	}
	s.last = now
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// count returns how many messages arrived and when the last did.
func (s *sink) count() (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.last
}

// waitCount waits until n messages have arrived or ctx ends.
func (s *sink) waitCount(ctx context.Context, n int) bool {
	for {
		s.mu.Lock()
		total, ch := s.total, s.arrived
		s.mu.Unlock()
		if total >= n {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// waitFor waits for the newest mail to addr that arrived after since,
// for up to d.
func (s *sink) waitFor(ctx context.Context, addr string, since time.Time, d time.Duration) (sunkMail, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	addr = strings.ToLower(addr)
	for {
		s.mu.Lock()
		ms, ch := s.mails[addr], s.arrived
		s.mu.Unlock()
		if n := len(ms); n > 0 && !ms[n-1].at.Before(since) {
			return ms[n-1], true
		}
		select {
		case <-ch:
		case <-timer.C:
			return sunkMail{}, false
		case <-ctx.Done():
			return sunkMail{}, false
		}
	}
}

// received returns the mails to addr.
func (s *sink) received(addr string) []sunkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mails[strings.ToLower(addr)]
}

type sinkBackend struct{ s *sink }

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &sinkSession{s: b.s}, nil
}

type sinkSession struct {
	s  *sink
	to []string
}

func (se *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }

func (se *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *sinkSession) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unreadable message"}
	}
	if _, err := io.Copy(io.Discard, msg.Body); err != nil {
		return err
	}
	var code string
	if m := codeInSubject.FindStringSubmatch(msg.Header.Get("Subject")); m != nil {
		code = m[1]
	}
	if se.s.delay > 0 {
		time.Sleep(se.s.delay) // a relay's latency, before its 250
	}
	se.s.add(se.to, code)
	return nil
}

func (se *sinkSession) Reset() { se.to = nil }

func (se *sinkSession) Logout() error { return nil }
