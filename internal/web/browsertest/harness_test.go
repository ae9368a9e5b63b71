package browsertest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/mail"
	"github.com/latch-auth/latch/internal/mail/outbox"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/metrics"
	"github.com/latch-auth/latch/internal/passkey"
	"github.com/latch-auth/latch/internal/web"
)

// testTimeout bounds one test, browser start included. The tests run under
// -race on small CI machines, so it is generous.
const testTimeout = 3 * time.Minute

// waitTimeout bounds one wait for something to appear on the page.
const waitTimeout = 20 * time.Second

// --- the server

// serverOptions change the server a test runs against.
type serverOptions struct {
	resendCooldown time.Duration // 30s
	sameBrowser    bool
	appName        string
	accent         string
	typ            auth.PasswordlessType // LINK_OTP
	// passkeys turns passkeys on; the server is then at http://localhost
	// (browsers take no IP address as a relying party ID).
	passkeys bool
	// store is where the server keeps its records (a fresh memstore);
	// two servers on one store are two replicas.
	store kv.Store
	// base, when set, is the server's public URL (a balancer in front of
	// replicas) in place of its own address.
	base string
}

// server is the real web layer, engine, memory store and dev outbox on a
// local port.
type server struct {
	URL     string
	clock   *shiftClock
	handler http.Handler // what a balancer in front of replicas forwards to
}

// shiftClock is the system clock, moved forward by Advance: sign-ins can
// expire without waiting, while countdowns still run in real time.
type shiftClock struct{ shift atomic.Int64 }

func (c *shiftClock) Now() time.Time          { return time.Now().Add(time.Duration(c.shift.Load())) }
func (c *shiftClock) Advance(d time.Duration) { c.shift.Add(int64(d)) }

// StartMinute moves the clock to one second into the next minute. The
// per-address send limit counts in fixed minute windows, so a test that
// sends several emails starts here to stay in one window.
func (c *shiftClock) StartMinute() {
	into := time.Duration(c.Now().UnixNano() % int64(time.Minute))
	c.Advance(time.Minute - into + time.Second)
}

func mustServer(t *testing.T, o serverOptions) *server {
	t.Helper()
	if o.resendCooldown == 0 {
		o.resendCooldown = 30 * time.Second
	}
	if o.appName == "" {
		o.appName = "Latch"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	if o.passkeys {
		base.Host = "localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	if o.base != "" {
		if base, err = url.Parse(o.base); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	clock := &shiftClock{}
	renderer, err := mail.NewRenderer(mail.Brand{AppName: o.appName, AccentColor: o.accent, From: o.appName + " <no-reply@example.test>"}, "")
	if err != nil {
		t.Fatal(err)
	}
	box := outbox.New(log, outbox.DefaultCapacity)
	store := o.store
	if store == nil {
		store = memstore.New()
	}
	m := metrics.New(metrics.Build{})
	cfg := authtest.Config(t, store, clock)
	cfg.Auditor = m
	if o.passkeys {
		cfg.OnUserDeleted = append(cfg.OnUserDeleted, passkey.ForgetUser(store, clock))
	}
	cfg.ResendCooldown, cfg.SameBrowser, cfg.Type = o.resendCooldown, o.sameBrowser, o.typ
	cfg.LinkURL = base.String() + "/api/auth/passwordless/verify"
	svc, err := auth.NewService(cfg, store, &mail.Direct{Renderer: renderer, Transport: box, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var passkeys web.Passkeys
	if o.passkeys {
		pk, err := passkey.New(passkey.Config{RPID: "localhost", RPName: o.appName, Origin: base.String(), Clock: clock, Auditor: m}, store, svc)
		if err != nil {
			t.Fatal(err)
		}
		passkeys = pk
	}
	srv, err := web.New(web.Config{
		BaseURL:          base,
		AppURL:           "/",
		RateLimitMax:     1000,
		RateLimitWindow:  time.Minute,
		AppName:          o.appName,
		AccentColor:      o.accent,
		ResendCooldown:   o.resendCooldown,
		CodeLength:       6,
		PasswordlessType: o.typ,
	}, web.Deps{Login: svc, Sessions: svc, Languages: svc, Watcher: svc, IPLimiter: memstore.New(), Clock: clock, Outbox: box, Logger: log, Passkeys: passkeys, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return &server{URL: base.String(), clock: clock, handler: srv}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// mail is one captured message, as /dev/outbox.json shows it.
type mailMessage struct {
	To   string `json:"to"`
	Code string `json:"code"`
	Link string `json:"link"`
}

// mustMail waits for the nth message (from 1) to email and returns it.
func (s *server) mustMail(t *testing.T, email string, n int) mailMessage {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		res, err := http.Get(s.URL + "/dev/outbox.json?to=" + url.QueryEscape(email))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Messages []mailMessage }
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(body.Messages) >= n {
			return body.Messages[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail %d to %s: only %d arrived", n, email, len(body.Messages))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --- the browser

// chromiumPath finds the browser, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LATCH_TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("LATCH_TEST_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("chromium not found; apt-get install -y chromium or set LATCH_TEST_CHROMIUM")
	return ""
}

// viewport is a screen size the tests use.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	desktop = viewport{"desktop", 1280, 800, false}
	phone   = viewport{"360", 360, 740, true}
)

// browser is one headless Chromium with a fresh profile. It records every
// console message, uncaught exception and browser log entry, and fails the
// test on any error among them (CSP violations are security errors), except
// the HTTP errors that the page expects and shows in words.
type browser struct {
	t      *testing.T
	ctx    context.Context
	server *server
	js     bool
	view   viewport
	out    string // screenshots of this test
	log    *eventLog
}

// browserOptions change how the browser starts.
type browserOptions struct {
	noJS bool
	view viewport // desktop
	// lang is the browser's language (--lang, Accept-Language): "de-DE".
	lang string
}

func mustBrowser(t *testing.T, s *server, o browserOptions) *browser {
	t.Helper()
	exe := chromiumPath(t)
	if o.view.name == "" {
		o.view = desktop
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	profile, err := os.MkdirTemp("", "latch-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(int(desktop.width), int(desktop.height)),
	)
	if o.lang != "" {
		opts = append(opts, chromedp.Flag("lang", o.lang), chromedp.Flag("accept-lang", o.lang))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	b := &browser{t: t, server: s, js: !o.noJS, out: outputDir(t), log: &eventLog{}}
	b.view = o.view
	b.ctx = b.newTab(allocCtx, "")
	// Closing the tab before the allocator lets Chromium exit cleanly.
	t.Cleanup(func() { chromedp.Cancel(b.ctx) })
	t.Cleanup(b.log.check(t))
	return b
}

// newTab opens a tab in parent (a new browser, or with
// chromedp.WithNewBrowserContext a second profile of the same browser)
// and prepares it: JavaScript as the browser says, light theme, and a
// listener for CSP violations.
func (b *browser) newTab(parent context.Context, label string, opts ...chromedp.ContextOption) context.Context {
	b.t.Helper()
	opts = append(opts, chromedp.WithListener(b.log.listener(label)))
	ctx, cancel := chromedp.NewContext(parent, opts...)
	b.t.Cleanup(cancel)
	steps := []chromedp.Action[chromedp.Void]{
		b.theme("light"),
		// Draw focus and selection as in a window that has the focus.
		call(emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}),
		// Report CSP violations the page itself sees, too.
		call(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `addEventListener("securitypolicyviolation", function (e) {
				console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI);
			});`,
		}),
	}
	steps = append(steps, b.setView(b.view))
	if !b.js {
		steps = append(steps, call(emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}))
	}
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("start browser: %v", err)
	}
	return ctx
}

// call runs one protocol command as an action.
func call[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cmd, params)
		return err
	})
}

// theme emulates prefers-color-scheme: "light" or "dark".
func (b *browser) theme(name string) chromedp.Action[chromedp.Void] {
	return call(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: name}},
	})
}

func (b *browser) setView(v viewport) chromedp.Action[chromedp.Void] {
	b.view = v
	if v.mobile {
		return chromedp.EmulateViewport(v.width, v.height, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
	}
	return chromedp.EmulateViewport(v.width, v.height)
}

func (b *browser) mustDo(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.mustDoIn(b.ctx, steps...)
}

func (b *browser) mustDoIn(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%v (at %s)", err, b.location(ctx))
	}
}

func mustRun[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("%v (at %s)", err, b.location(b.ctx))
	}
	return v
}

// location is the page's URL, for failure messages.
func (b *browser) location(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown page"
	}
	return loc
}

// waitVisible waits, at most waitTimeout, for sel to show.
func waitVisible(sel string) chromedp.Action[chromedp.Void] {
	return bounded(chromedp.WaitVisible(chromedp.CSS(sel)))
}

// waitText waits until sel shows text containing want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return waitTrue(fmt.Sprintf("%q in %s", want, sel),
		fmt.Sprintf(`(function(){var e=document.querySelector(%q);return !!e && e.getClientRects().length>0 && e.textContent.indexOf(%q)>=0})()`, sel, want))
}

// waitURL waits until the page at path has loaded.
func waitURL(path string) chromedp.Action[chromedp.Void] {
	return waitTrue("page "+path, fmt.Sprintf(`location.pathname===%q && document.readyState==="complete"`, path))
}

// waitTrue evaluates expr until it is true, at most waitTimeout. Unlike
// chromedp.Poll it carries on across page loads, which the form posts
// and sign-in redirects cause at any moment.
func waitTrue(what, expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		deadline := time.Now().Add(waitTimeout)
		var last error
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
			if err == nil && ok {
				return nil
			}
			if err != nil {
				last = err
			}
			if ctx.Err() != nil || time.Now().After(deadline) {
				if last != nil {
					return fmt.Errorf("wait for %s: %w", what, last)
				}
				return fmt.Errorf("wait for %s: timed out after %s", what, waitTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func bounded(a chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		ctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		return a(ctx, t)
	}
}

// --- what the browser reports

// eventLog keeps what the page and the browser wrote to the console.
type eventLog struct {
	mu       sync.Mutex
	problems []string
	notes    []string
}

// expectedHTTPError matches the browser's log line for an HTTP error the
// page expects and shows in words: the JSON API's and the forms' 4xx
// answers (wrong code, expired, locked, rate limited, other browser; a
// passkey that signs nobody in).
var expectedHTTPError = regexp.MustCompile(`status of (400|403|410|429) `)
var expectedPasskeyError = regexp.MustCompile(`status of (400|401|410) `)

func isExpectedHTTPError(e *cdplog.Entry) bool {
	u, err := url.Parse(e.URL)
	if err != nil {
		return false
	}
	if strings.HasPrefix(u.Path, "/api/auth/passkey/") {
		return expectedPasskeyError.MatchString(e.Text)
	}
	if !expectedHTTPError.MatchString(e.Text) {
		return false
	}
	switch {
	case strings.HasPrefix(u.Path, "/api/auth/passwordless/"),
		u.Path == "/login", u.Path == "/login/code", u.Path == "/login/resend":
		return true
	}
	return false
}

func (l *eventLog) listener(label string) func(ev any) {
	if label != "" {
		label += ": "
	}
	return func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			line := fmt.Sprintf("%sconsole.%s: %s", label, ev.Type, strings.Join(args, " "))
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				l.problems = append(l.problems, line)
			} else {
				l.notes = append(l.notes, line)
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			l.problems = append(l.problems, fmt.Sprintf("%suncaught exception at %s:%d: %s", label, d.URL, d.LineNumber+1, text))
		case *cdplog.EventEntryAdded:
			e := ev.Entry
			line := fmt.Sprintf("%s%s %s: %s (%s)", label, e.Source, e.Level, e.Text, e.URL)
			switch {
			case e.Level == cdplog.EntryLevelError && e.Source == cdplog.EntrySourceNetwork && isExpectedHTTPError(e):
				l.notes = append(l.notes, line)
			case e.Level == cdplog.EntryLevelError, e.Source == cdplog.EntrySourceSecurity:
				l.problems = append(l.problems, line)
			default:
				l.notes = append(l.notes, line)
			}
		}
	}
}

// check returns the cleanup that fails the test on any problem.
func (l *eventLog) check(t *testing.T) func() {
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, n := range l.notes {
			t.Log("browser:", n)
		}
		for _, p := range l.problems {
			t.Error("browser console error or CSP violation:", p)
		}
	}
}

// --- screenshots

// outputDir is testout/browser/<test> at the module root (gitignored).
func outputDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "testout", "browser", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// shot saves a screenshot of the viewport as <name>-<viewport>.png in the
// test's output folder.
func (b *browser) shot(name string) {
	b.t.Helper()
	b.shotIn(b.ctx, name)
}

func (b *browser) shotIn(ctx context.Context, name string) []byte {
	b.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(b.out, name+"-"+b.view.name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return png
}

// docShots takes the screenshot name on a desktop and on a 360 px phone,
// in the test's output folder and, with LATCH_UPDATE_SCREENSHOTS=1, in
// docs/screenshots for the README.
func (b *browser) docShots(name string) {
	b.t.Helper()
	was := b.view
	for _, v := range []viewport{desktop, phone} {
		b.mustDo(b.setView(v), chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.scrollIntoView && window.scrollTo(0,0)`))
		b.saveDocShot(name+"-"+v.name, b.shotIn(b.ctx, name))
	}
	b.mustDo(b.setView(was))
}

// saveDocShot writes docs/screenshots/<name>.png when
// LATCH_UPDATE_SCREENSHOTS=1.
func (b *browser) saveDocShot(name string, png []byte) {
	b.t.Helper()
	if os.Getenv("LATCH_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	dir := filepath.Join(moduleRoot(b.t), "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	small, err := shrinkPNG(png)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), small, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// shrinkPNG keeps a committed screenshot small: it maps the image onto its
// 256 most frequent colors. A page is flat colors and text, so the few
// colors dropped are shades of anti-aliasing and the result looks the same
// at about 40% of the size.
func shrinkPNG(b []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	r := img.Bounds()
	counts := map[color.RGBA]int{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	byUse := make([]color.RGBA, 0, len(counts))
	for c := range counts {
		byUse = append(byUse, c)
	}
	slices.SortFunc(byUse, func(a, b color.RGBA) int {
		if n := counts[b] - counts[a]; n != 0 {
			return n
		}
		return int(binary.BigEndian.Uint32([]byte{a.R, a.G, a.B, a.A})) - int(binary.BigEndian.Uint32([]byte{b.R, b.G, b.B, b.A}))
	})
	palette := make(color.Palette, 0, 256)
	for _, c := range byUse[:min(256, len(byUse))] {
		palette = append(palette, c)
	}
	out := image.NewPaletted(r, palette)
	index := map[color.RGBA]uint8{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			i, ok := index[c]
			if !ok {
				i = uint8(palette.Index(c))
				index[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
