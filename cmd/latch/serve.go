package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/admin"
	"github.com/latch-auth/latch/internal/audit"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/forwardauth"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/outbox"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/metrics"
	"github.com/latch-auth/latch/internal/passkey"
	"github.com/latch-auth/latch/internal/redisstore"
	"github.com/latch-auth/latch/internal/token"
	"github.com/latch-auth/latch/internal/vault"
	"github.com/latch-auth/latch/internal/web"
)

func goVersion() string { return runtime.Version() }

// serve loads the configuration, wires the parts and serves until ctx ends.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		// main prints this to stderr, one problem a line, or as one JSON
		// record when the log is JSON.
		return exitError{code: 2, err: configError(err), json: logFormat(cfg) == "json"}
	}
	logOut := newLogBuffer(stdout)
	defer logOut.Close()
	log := newLogger(cfg, logOut)
	warnUnknownSettings(log, environmentNames())
	if logFormat(cfg) == "json" {
		// main prints a failure as plain text; here it is one more record.
		defer func() {
			if err != nil {
				log.Error("latch: stopped", "err", err)
				err = exitError{code: 1, err: err, logged: true}
			}
		}()
	}
	if cfg.RedisURL != "" {
		// go-redis prints its own lines (dial failures during an outage);
		// they go through slog like every other line.
		redis.SetLogger(redisLogger{log: log})
	}
	if w := cfg.secretWarning(); w != "" {
		log.Warn("latch: " + w)
	}
	// say is for the lines a person at the terminal reads, whatever
	// LOG_LEVEL: plain text, or a record when the log is JSON, so that
	// every line stays JSON.
	say := func(text, msg string, args ...any) {
		if logFormat(cfg) == "json" {
			slog.New(slog.NewJSONHandler(logOut, nil)).Info(msg, args...)
			return
		}
		fmt.Fprintln(logOut, text)
	}

	lns, err := listen(cfg, log)
	if err != nil {
		return err
	}
	defer closeAll(lns)
	if cfg.baseURL == nil {
		cfg.baseURL = &url.URL{Scheme: "http", Host: publicHost(cfg, lns[0].Addr())}
	}

	app, err := build(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	defer app.close()

	srv := newServer(app.handler, app.h2c, slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	side, err := sideServers(cfg, app, srv.ErrorLog)
	if err != nil {
		return err
	}
	for _, ss := range side {
		say(fmt.Sprintf("latch: %s on http://%s%s", ss.name, ss.ln.Addr(), ss.path), "latch: "+ss.name+" listening", "url", "http://"+ss.ln.Addr().String()+ss.path)
	}
	log.Info("latch: listening", "addr", lns[0].Addr().String(), "baseUrl", cfg.baseURL.String(), "env", cfg.AppEnv, "store", app.storeName)
	for _, ln := range lns {
		say("latch: listening on http://"+ln.Addr().String(), "latch: listening on", "url", "http://"+ln.Addr().String())
	}
	if b := banner(cfg, app); b != "" {
		say("latch: "+b, "latch: "+b)
	}
	return serveUntil(ctx, log, cfg.ShutdownTimeout, srv, lns, side, app.reload)
}

// serveUntil serves srv on lns, and the side servers, until ctx ends (a
// graceful shutdown, bounded by timeout) or one of them fails. Either way
// every server is stopped and every listener closed when it returns.
// SIGHUP calls reload (re-reading the files that may change while Latch
// runs), when there is one.
func serveUntil(ctx context.Context, log *slog.Logger, timeout time.Duration, srv *http.Server, lns []net.Listener, side []sideServer, reload func()) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errc := make(chan error, len(lns)+len(side))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	for _, ss := range side {
		go func() { errc <- ss.srv.Serve(ss.ln) }()
	}
	for done := false; !done; {
		select {
		case err := <-errc:
			// A Serve that has not yet started would close its listener
			// only once it does: close them all here.
			srv.Close()
			closeAll(lns)
			for _, ss := range side {
				ss.srv.Close()
				ss.ln.Close()
			}
			return fmt.Errorf("serve: %w", err)
		case <-hup:
			if reload != nil {
				reload()
			}
		case <-ctx.Done():
			done = true
		}
	}
	log.Info("latch: shutting down", "timeout", timeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	// The side servers stop last, so scrapes see the drain.
	for _, ss := range side {
		ss.srv.Shutdown(shutdownCtx)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// configError lists the problems of a configuration, one a line.
func configError(err error) error {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, line := range strings.Split(err.Error(), "\n") {
		b.WriteString("\n  - " + line)
	}
	return errors.New(b.String())
}

// warnUnknownSettings logs each variable that looks like a setting of
// Latch's but is none (a typo goes unnoticed otherwise: the setting keeps
// its default).
func warnUnknownSettings(log *slog.Logger, names []string) {
	unknown := unknownSettings(names)
	for _, n := range slices.Sorted(maps.Keys(unknown)) {
		if near := unknown[n]; near != "" {
			log.Warn("latch: "+n+" is not a setting; did you mean "+near+"?", "variable", n, "closest", near)
			continue
		}
		log.Warn("latch: "+n+" is not a setting (latch config lists them); it is ignored", "variable", n)
	}
}

// banner is the line that tells a person where to sign in and where the
// mail goes, or "" when there is nothing to add to the log.
func banner(cfg *Config, app *app) string {
	switch {
	case app.outbox != nil:
		return fmt.Sprintf("development mode: sign in at %s/login; mail goes to %s/dev/outbox", cfg.baseURL, cfg.baseURL)
	case cfg.production():
		return ""
	case cfg.SMTPURL == "":
		return fmt.Sprintf("development mode: sign in at %s/login; the upstream provider sends the mail", cfg.baseURL)
	}
	return fmt.Sprintf("development mode: sign in at %s/login; mail goes out through SMTP_URL", cfg.baseURL)
}

// listen opens the main listeners: one per address of cfg.listenHosts.
// Every address after the first takes the first one's port (so PORT=0
// gives one port), and may be missing, as ::1 is on a host without IPv6.
func listen(cfg *Config, log *slog.Logger) ([]net.Listener, error) {
	hosts := cfg.listenHosts()
	first, err := net.Listen("tcp", net.JoinHostPort(hosts[0], strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	lns := []net.Listener{first}
	port := strconv.Itoa(first.Addr().(*net.TCPAddr).Port)
	for _, h := range hosts[1:] {
		ln, err := net.Listen("tcp", net.JoinHostPort(h, port))
		if errors.Is(err, syscall.EADDRINUSE) {
			// Browsers may try this address first for localhost.
			log.Warn("latch: another program listens on this address; localhost may reach it instead of Latch", "addr", net.JoinHostPort(h, port))
			continue
		}
		if err != nil {
			log.Debug("latch: not listening on an address (no IPv6?)", "host", h, "err", err)
			continue
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// idleTimeout is how long a connection may sit unused. h2cIdleTimeout
// replaces it when cleartext HTTP/2 is on: Go's HTTP/2 server counts
// idleness from the connection's first byte, where HTTP/1 gives a client
// only ReadHeaderTimeout to start a request, so an idle h2c connection
// would otherwise be held for the whole idleTimeout (and a second).
const (
	idleTimeout    = 120 * time.Second
	h2cIdleTimeout = 15 * time.Second
)

// newServer is the main http.Server. HTTP/2 without TLS (h2c) is on only
// when h2c is, that is when the provider API is mounted: its gRPC clients
// need it, nothing else does.
func newServer(h http.Handler, h2c bool, errorLog *stdlog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	if h2c {
		srv.Protocols.SetUnencryptedHTTP2(true)
		srv.IdleTimeout = h2cIdleTimeout
		// A peer that stops answering is dropped: a ping after 15 s of
		// silence, closed 5 s later without a reply.
		srv.HTTP2 = &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 5 * time.Second}
	}
	return srv
}

// sideServer is a listener beside the main one: metrics on METRICS_ADDR,
// profiling on PPROF_ADDR.
type sideServer struct {
	name, path string
	ln         net.Listener
	srv        *http.Server
}

func sideServers(cfg *Config, app *app, errorLog *stdlog.Logger) ([]sideServer, error) {
	var out []sideServer
	add := func(name, addr, path string, h http.Handler) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s: listen on %s: %w", name, addr, err)
		}
		out = append(out, sideServer{name: name, path: path, ln: ln, srv: &http.Server{
			Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: errorLog,
		}})
		return nil
	}
	fail := func(err error) ([]sideServer, error) {
		for _, ss := range out {
			ss.ln.Close()
		}
		return nil, err
	}
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", app.metrics.GuardedHandler(cfg.MetricsToken))
		if err := add("metrics", cfg.MetricsAddr, "/metrics", mux); err != nil {
			return fail(err)
		}
	}
	if cfg.PprofAddr != "" {
		// Profiles show code paths and timings, never request data, but
		// they cost CPU: loopback only (validated), and off by default.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		if err := add("pprof", cfg.PprofAddr, "/debug/pprof/", mux); err != nil {
			return fail(err)
		}
	}
	return out, nil
}

// publicHost turns the first listener's address into a host for
// BASE_URL: localhost when serving every interface or, by default, both
// loopback addresses; otherwise the address itself.
func publicHost(cfg *Config, a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP.IsUnspecified() || len(cfg.listenHosts()) > 1 {
		return net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	return tcp.String()
}

// logFormat is LOG_FORMAT, or its default: json in production, else text.
func logFormat(cfg *Config) string {
	switch {
	case cfg.LogFormat != "":
		return cfg.LogFormat
	case cfg.production():
		return "json"
	}
	return "text"
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if logFormat(cfg) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// app is the wired program.
type app struct {
	handler http.Handler
	// h2c: the provider API is mounted, so cleartext HTTP/2 is served.
	h2c       bool
	outbox    *outbox.Outbox
	metrics   *metrics.Metrics
	storeName string
	closers   []func() error
	reloaders []func()
}

// reload re-reads what SIGHUP asks for; each reloader logs its outcome and
// keeps what it had when the new version is broken.
func (a *app) reload() {
	for _, r := range a.reloaders {
		r()
	}
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// build wires the stores, mail, engine and web layer from cfg.
func build(ctx context.Context, cfg *Config, log *slog.Logger, stdout io.Writer) (*app, error) {
	a := &app{}
	fail := func(err error) (*app, error) {
		a.close()
		return nil, err
	}
	secret, err := sessionSecret(cfg)
	if err != nil {
		return fail(err)
	}
	keys, err := auth.NewKeys(secret, cfg.SessionSecretPrevious)
	if err != nil {
		return fail(err)
	}

	// The store keeps every record of the engine; the per-IP counters
	// and the requesters' budgets live beside it.
	var store, ipCounters kv.Store
	var legacy auth.LegacySource
	var queueStore, hookStore mailqueue.Store
	if cfg.RedisURL != "" {
		rs, err := redisstore.New(redisstore.Options{
			URL:          cfg.RedisURL,
			KeyPrefix:    cfg.RedisKeyPrefix,
			PoolSize:     cfg.RedisPoolSize,
			ReadTimeout:  cfg.RedisTimeout,
			WriteTimeout: cfg.RedisTimeout,
		})
		if err != nil {
			return fail(err)
		}
		a.closers = append(a.closers, rs.Close)
		// Every counter and queued mail is shared by all replicas.
		store, ipCounters, legacy = rs, rs, rs
		queueStore = redisstore.NewMailQueue(rs.Client(), rs.Prefix())
		hookStore = redisstore.NewQueue(rs.Client(), rs.Prefix(), webhookQueueName)
		a.storeName = "redis"
	} else {
		bolt, err := boltstore.Open(cfg.DataDir, boltstore.Options{Logger: log})
		if err != nil {
			return fail(err)
		}
		a.closers = append(a.closers, bolt.Close)
		// One process owns the file, so per-IP counts can live in memory
		// and cost no disk write per request; per-address counts stay in
		// bbolt and survive restarts.
		store, ipCounters, legacy = bolt, memstore.New(), bolt
		// The mail queue has a file of its own, so that its commits
		// never wait behind the sign-in store's.
		mq, err := boltstore.OpenMailQueue(cfg.DataDir, bolt.DB())
		if err != nil {
			return fail(err)
		}
		a.closers = append(a.closers, mq.Close)
		queueStore = mq
		if cfg.WebhookURL != "" {
			// Webhook events share the queue's file and its commits.
			if hookStore, err = mq.Namespace(webhookQueueName); err != nil {
				return fail(err)
			}
		}
		a.storeName = "bbolt"
	}
	vlt, err := vault.New(store, auth.SystemClock{}, secret, cfg.SessionSecretPrevious)
	if err != nil {
		return fail(err)
	}

	v, c := buildVersion()
	m := metrics.New(metrics.Build{Version: v, Commit: c})
	a.metrics = m
	auditOut, closeAudit, err := audit.Open(cfg.AuditLog, stdout)
	if err != nil {
		return fail(err)
	}
	a.closers = append(a.closers, closeAudit)
	auditor := audit.Tee{m, audit.New(auditOut, audit.Request{ID: web.RequestID, ClientIP: web.ClientIP, Actor: admin.Actor})}
	hooks, err := buildWebhooks(cfg, a, secret, hookStore, m, log)
	if err != nil {
		return fail(err)
	}
	if hooks != nil {
		// Last: an event is stored before the action answers.
		auditor = append(auditor, hooks)
	}

	mailer, checks, err := buildMail(cfg, a, secret, queueStore, m, log)
	if err != nil {
		return fail(err)
	}
	ready := append([]web.Check{{Name: "store", Fn: store.Ping}}, checks...)

	upstream, err := upstreamClient(cfg, log)
	if err != nil {
		return fail(err)
	}
	var up auth.Upstream
	if upstream != nil {
		up = upstream
		a.closers = append(a.closers, upstream.Close)
		ready = append(ready, web.Check{Name: "upstream", Fn: upstream.Ping})
	}
	// RATE_LIMIT_AUTH_IP_MAX=0 turns off every per-IP limit on the routes
	// that send mail or judge a secret, the engine's requester budgets too.
	mailBudget, failureBudget := cfg.RateLimitUnconfirmedMailMax, cfg.RateLimitWrongCodesIPMax
	if cfg.RateLimitAuthIPMax == 0 || mailBudget == 0 {
		mailBudget = -1
	}
	if cfg.RateLimitAuthIPMax == 0 || failureBudget == 0 {
		failureBudget = -1
	}
	forget := &userDeletedHooks{}
	svc, err := auth.NewService(auth.Config{
		Type:                  cfg.passwordless,
		Expiry:                cfg.PasswordlessExpiry,
		CodeLength:            cfg.CodeLength,
		MaxAttempts:           cfg.MaxAttempts,
		EmailFailureLimit:     cfg.MaxFailuresPerEmail,
		EmailSendLimit:        cfg.RateLimitAuthEmailMax,
		EmailSendWindow:       cfg.RateLimitWindow,
		RequesterMailLimit:    mailBudget,
		RequesterFailureLimit: failureBudget,
		ResendCooldown:        cfg.ResendCooldown,
		SameBrowser:           cfg.SameBrowser,
		Signup:                cfg.signup,
		AllowedDomains:        cfg.AllowedEmailDomains,
		LinkURL:               cfg.baseURL.String() + "/api/auth/passwordless/verify",
		SessionIdleTimeout:    cfg.SessionIdleTimeout,
		SessionLifetime:       cfg.SessionLifetime,
		Keys:                  keys,
		Vault:                 vlt,
		RequesterCounters:     ipCounters,
		Upstream:              up,
		Auditor:               auditor,
		OnUserDeleted:         []func(context.Context, string) error{passkey.ForgetUser(store, nil), forget.run},
	}, store, mailer)
	if err != nil {
		return fail(err)
	}
	upgrade(ctx, svc, legacy, log)

	issuer, err := newIssuer(cfg, store, vlt)
	if err != nil {
		return fail(err)
	}
	if err := issuer.Ensure(ctx); err != nil {
		// The store may come back; the first token request tries again.
		log.Warn("latch: signing keys not loaded yet", "err", err)
	}
	commands := adminCommands(issuer, svc, auditor, eventCommands(hooks))
	a.closers = append(a.closers, listenControl(cfg, commands, log))

	mountProvider, reloadClients, err := openIDProvider(cfg, secret, svc, vlt, issuer, store, commands, forget, log)
	if err != nil {
		return fail(err)
	}
	a.reloaders = append(a.reloaders, reloadClients)

	// A waiting login page learns of its sign-in from the engine; an
	// upstream provider's challenges are not Latch's to see.
	var watcher web.Watcher = svc
	if upstream != nil {
		watcher = nil
	}
	fa, err := forwardAuth(cfg, svc, issuer, a, log)
	if err != nil {
		return fail(err)
	}
	if err := cfg.checkPasskeys(); err != nil { // BASE_URL came from the listener
		return fail(fmt.Errorf("WEBAUTHN_RP_ID: %w", err))
	}
	pk, err := buildPasskeys(cfg, store, svc, auditor, log)
	if err != nil {
		return fail(err)
	}
	var passkeys web.Passkeys
	if pk != nil {
		passkeys = pk
	}
	a.h2c = len(cfg.APIClients) > 0 // gRPC of CLIENTS_FILE API clients needs API_CLIENTS set for now
	srv, err := web.New(web.Config{
		Production:        cfg.production(),
		BaseURL:           cfg.baseURL,
		AppURL:            cfg.AppURL,
		RedirectAllowlist: cfg.RedirectAllowlist,
		CORSOrigins:       cfg.CORSOrigins,
		TrustedProxies:    cfg.trustedProxies,
		RateLimitMax:      cfg.RateLimitMax,
		RateLimitWindow:   cfg.RateLimitWindow,
		AuthIPMax:         cfg.RateLimitAuthIPMax,
		CookieDomain:      cfg.CookieDomain,
		AppName:           cfg.AppName,
		AccentColor:       cfg.AppAccentColor,
		LogoURL:           cfg.AppLogoURL,
		LogoFile:          cfg.AppLogoFile,
		ResendCooldown:    cfg.ResendCooldown,
		CodeLength:        cfg.CodeLength,
		PasswordlessType:  cfg.passwordless,
		MetricsElsewhere:  cfg.MetricsAddr != "",
		MetricsToken:      cfg.MetricsToken,
	}, web.Deps{
		Login:     svc,
		Sessions:  svc,
		Languages: svc,
		Watcher:   watcher,
		IPLimiter: ipCounters,
		Outbox:    a.outbox,
		Metrics:   m,
		Auditor:   auditor,
		Logger:    log,
		Ready:     ready,
		Extra:     mountProvider,

		ForwardAuth: fa,
		Tokens:      issuer,
		Passkeys:    passkeys,
	})
	if err != nil {
		return fail(err)
	}
	a.handler = srv
	return a, nil
}

// sessionSecret returns SESSION_SECRET, or in development a secret kept
// in DATA_DIR (made on first start), so sessions survive restarts.
func sessionSecret(cfg *Config) (string, error) {
	if cfg.SessionSecret != "" {
		return cfg.SessionSecret, nil
	}
	path := filepath.Join(cfg.DataDir, "session.secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= auth.MinSecretLength {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("create DATA_DIR: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	secret := base64.RawURLEncoding.EncodeToString(b)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the generated secret: %w", err)
	}
	return secret, nil
}

// forwardAuth wires the reverse-proxy face to the engine, with the access
// rules of ACCESS_RULES_FILE, re-read on SIGHUP; it accepts Latch's access
// tokens in place of the cookie.
func forwardAuth(cfg *Config, svc *auth.Service, issuer *token.Issuer, a *app, log *slog.Logger) (*forwardauth.Handler, error) {
	rules, err := forwardauth.OpenRules(cfg.AccessRulesFile)
	if err != nil {
		return nil, err
	}
	if rules.Path() != "" {
		a.reloaders = append(a.reloaders, func() {
			if err := rules.Reload(); err != nil {
				log.Error("latch: access rules not reloaded; the previous rules stay in force", "err", err)
				return
			}
			log.Info("latch: access rules reloaded", "file", rules.Path(), "rules", rules.Rules().Len())
		})
	}
	return forwardauth.New(forwardauth.Config{BaseURL: cfg.baseURL, Proxies: cfg.trustedProxies},
		forwardauth.Deps{Rules: rules, Sessions: svc, Users: svc, Bearer: bearerTokens{issuer}, Logger: log})
}

// bearerTokens lets forward-auth check Latch's access tokens.
type bearerTokens struct{ issuer *token.Issuer }

func (b bearerTokens) VerifyAccess(ctx context.Context, raw string) (userID, sessionID string, err error) {
	a, err := b.issuer.VerifyAccess(ctx, raw)
	if err != nil {
		return "", "", err
	}
	return a.Subject, a.SessionID, nil
}
