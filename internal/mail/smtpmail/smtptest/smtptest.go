// Package smtptest runs a real SMTP server in the test process, on
// 127.0.0.1, for tests that must see mail on the wire: plain, STARTTLS or
// implicit TLS with a certificate made for the test, and AUTH PLAIN/LOGIN.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Security is how a client reaches the server.
type Security int

// The kinds of connection the server offers.
const (
	Plain       Security = iota // no TLS at all
	StartTLS                    // plain, upgraded with STARTTLS
	ImplicitTLS                 // TLS from the first byte (smtps)
)

// Options configure a Server.
type Options struct {
	Security Security
	// Username and Password, when set, make the server offer AUTH PLAIN
	// and LOGIN and refuse MAIL before a successful AUTH.
	Username, Password string
}

// Server is an SMTP server that keeps what it receives.
type Server struct {
	opts  Options
	cert  tls.Certificate
	roots *x509.CertPool
	addr  string

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	handler  func(*Message) error
	received []*Message
	attempts []*Message
	conns    int
	arrived  chan struct{} // closed and replaced on every received message
}

// Start starts a server on a free port of 127.0.0.1 and stops it when the
// test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, arrived: make(chan struct{})}
	if opts.Security != Plain {
		s.cert, s.roots = newCert(t)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port; it stays the same across Stop and Restart.
func (s *Server) Addr() string { return s.addr }

// URL is an SMTP_URL for this server: smtps:// for implicit TLS, else
// smtp://, with the credentials when set and query appended (for example
// "starttls=required&auth=plain").
func (s *Server) URL(query string) string {
	u := url.URL{Scheme: "smtp", Host: s.addr, RawQuery: query}
	if s.opts.Security == ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// ClientTLS returns a client configuration that trusts the server's
// certificate (nil for a Plain server).
func (s *Server) ClientTLS() *tls.Config {
	if s.roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// SetHandler sets the judge of each message that arrives: a non-nil error
// is the server's reply (use *smtp.SMTPError for a given code), nil
// accepts. Every message is recorded in Attempts either way.
func (s *Server) SetHandler(h func(*Message) error) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

// Stop closes the listener and every connection: the server is down.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		ln.Close() // Serve may not have registered it with srv yet
		srv.Close()
	}
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port may linger briefly after Stop
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("smtptest: listen again on %s: %v", s.addr, err)
	}
	s.serve(l)
}

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "smtptest.local"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = s.opts.Security == Plain
	if s.opts.Security != Plain {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	}
	l = countingListener{l, s}
	if s.opts.Security == ImplicitTLS {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.mu.Lock()
	s.srv, s.ln = srv, l
	s.mu.Unlock()
	go srv.Serve(l) // returns when Stop closes the listener
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.received...)
}

// Attempts returns every message that reached the end of DATA, accepted
// or not, oldest first.
func (s *Server) Attempts() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.attempts...)
}

// Conns reports how many connections the server has accepted.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// WaitMessages waits until n messages have been accepted and returns them.
func (s *Server) WaitMessages(t testing.TB, n int, timeout time.Duration) []*Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got, arrived := len(s.received), s.arrived
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-arrived:
		case <-deadline:
			t.Fatalf("smtptest: %d messages accepted after %v, want %d", got, timeout, n)
		}
	}
}

// Message is one message as the server received it, parsed.
type Message struct {
	From   string   // envelope sender
	To     []string // envelope recipients
	TLS    bool     // the session was encrypted (STARTTLS or implicit TLS)
	Authed bool     // the client authenticated
	Raw    []byte
	Header netmail.Header
	// ContentType is the top-level media type, "multipart/alternative".
	ContentType string
	// Parts are the decoded leaf parts by media type ("text/plain", "text/html").
	Parts map[string]string
}

// Text is the decoded text/plain part.
func (m *Message) Text() string { return m.Parts["text/plain"] }

// HTML is the decoded text/html part.
func (m *Message) HTML() string { return m.Parts["text/html"] }

// Parse reads a message as net/mail and mime/multipart see it, decoding
// quoted-printable and base64 parts.
func Parse(raw []byte) (*Message, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("smtptest: parse message: %w", err)
	}
	m := &Message{Raw: raw, Header: msg.Header, Parts: map[string]string{}}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("smtptest: content type: %w", err)
	}
	m.ContentType = mt
	if err := readPart(m.Parts, mt, params, msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return nil, err
	}
	return m, nil
}

func readPart(parts map[string]string, mt string, params map[string]string, cte string, body io.Reader) error {
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("smtptest: multipart: %w", err)
			}
			pmt, pparams, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if err != nil {
				return fmt.Errorf("smtptest: part content type: %w", err)
			}
			if err := readPart(parts, pmt, pparams, p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64Reader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("smtptest: read %s part: %w", mt, err)
	}
	parts[mt] = string(b)
	return nil
}

// base64Reader decodes a base64 body, ignoring its line breaks.
func base64Reader(r io.Reader) io.Reader {
	b, err := io.ReadAll(r)
	if err != nil {
		return errReader{err}
	}
	clean := strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' {
			return -1
		}
		return c
	}, string(b))
	return base64.NewDecoder(base64.StdEncoding, strings.NewReader(clean))
}

// errReader is a reader that fails with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	s *Server
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.conns++
		l.s.mu.Unlock()
	}
	return c, err
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != se.s.opts.Username || pass != se.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.Username != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := Parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	m.From, m.To = se.from, append([]string(nil), se.to...)
	_, m.TLS = se.conn.TLSConnectionState()
	m.Authed = se.authed
	s := se.s
	s.mu.Lock()
	s.attempts = append(s.attempts, m)
	h := s.handler
	s.mu.Unlock()
	if h != nil {
		if err := h(m); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.received = append(s.received, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil { // initial response carries the username
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.user, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// newCert makes a self-signed certificate for 127.0.0.1 and localhost.
func newCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtptest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("smtptest: parse certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots
}
