package main

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/events"
	"github.com/latch-auth/latch/internal/forwardauth"
	"github.com/latch-auth/latch/internal/i18n"
	latchmail "github.com/latch-auth/latch/internal/mail"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/smtpmail"
	"github.com/latch-auth/latch/internal/redisstore"
	"github.com/latch-auth/latch/internal/token"
	"github.com/latch-auth/latch/internal/web"
)

// Config is every setting Latch reads, from the environment or a .env
// file in the working directory. Each field's tags name its variable, its
// default and its meaning; docs/configuration.md is generated from them
// (go test ./cmd/latch -run TestConfigReference -update).
type Config struct {
	AppEnv  string `env:"APP_ENV" default:"development" help:"development, production or test. Production refuses unsafe settings."`
	Host    string `env:"HOST" default:"" help:"Address to listen on. Empty: loopback only (127.0.0.1 and ::1) outside production, every interface in production. localhost means both loopback addresses; 0.0.0.0 or :: every interface."`
	Port    int    `env:"PORT" default:"3000" help:"TCP port to listen on (0 picks a free one)."`
	BaseURL string `env:"BASE_URL" default:"http://localhost:PORT" help:"Public URL of this server; magic links point here. Required in production, where it must be https unless localhost."`
	AppURL  string `env:"APP_URL" default:"/" help:"Where people land after signing in: a path here or a URL on REDIRECT_ALLOWLIST."`

	RedirectAllowlist []string `env:"REDIRECT_ALLOWLIST" help:"Comma-separated origins (scheme://host[:port]) that redirects may go to."`
	CORSOrigins       []string `env:"CORS_ALLOWED_ORIGINS" help:"Comma-separated origins (scheme://host[:port]) of your apps: they may call the API from a browser with credentials, and their forms may post here (sign-out); every other site's POST is refused as cross-site request forgery. * is refused."`
	TrustedProxies    []string `env:"TRUSTED_PROXIES" help:"Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed."`
	CookieDomain      string   `env:"COOKIE_DOMAIN" default:"" help:"Domain attribute of the cookies; empty keeps them to this host."`
	AccessRulesFile   string   `env:"ACCESS_RULES_FILE" default:"" help:"JSON or YAML file of forward-auth access rules (docs/forward-auth.md): which hosts behind nginx, Traefik or Caddy let whom through; re-read on SIGHUP. Without it every host is denied."`

	SessionSecret         string        `env:"SESSION_SECRET" secret:"true" help:"Key material for hashes of codes, links and bindings; at least 32 characters. Required in production; generated and kept in DATA_DIR in development."`
	SessionSecretPrevious string        `env:"SESSION_SECRET_PREVIOUS" secret:"true" help:"The secret before the last rotation, so codes and links already sent still work."`
	DataDir               string        `env:"DATA_DIR" default:"./data" help:"Directory of the embedded store (bbolt) and the generated development secret."`
	RedisURL              string        `env:"REDIS_URL" secret:"true" help:"Use Redis for all shared state: redis://, rediss://, redis-sentinel://, redis-cluster:// (see docs/redis.md)."`
	RedisKeyPrefix        string        `env:"REDIS_KEY_PREFIX" default:"latch:" help:"Prefix of every Redis key."`
	RedisPoolSize         int           `env:"REDIS_POOL_SIZE" default:"0" help:"Connections per Redis node; 0 means 10 per CPU, at least 64."`
	RedisTimeout          time.Duration `env:"REDIS_TIMEOUT" default:"1s" help:"Read and write timeout of one Redis command."`

	SMTPURL          string `env:"SMTP_URL" secret:"true" help:"SMTP server: smtp://user:pass@host:587 (upgraded with STARTTLS) or smtps://host:465 (TLS from the start). In production STARTTLS is required unless the URL says ?starttls=opportunistic (TLS when offered) or ?starttls=none; elsewhere it is opportunistic unless ?starttls=required. Empty: mail goes to the dev outbox, which exists only outside production with a loopback BASE_URL."`
	MailFrom         string `env:"MAIL_FROM" default:"Latch <no-reply@localhost>" help:"From address of login emails, with an optional display name."`
	LocalesDir       string `env:"LOCALES_DIR" default:"" help:"Directory of message catalogues beside the embedded ones (en, de, fr, es, ar): a language is added by dropping its file here (it.json, the shape of internal/i18n/locales/en.json), and a file of a shipped language replaces it; every file is checked at start; see docs/languages.md."`
	MailTemplatesDir string `env:"MAIL_TEMPLATES_DIR" default:"" help:"Directory of email templates that replace the embedded ones: its files for every language, a subdirectory named for a language (de/, ar/) with all three files for that one; see docs/mail-templates.md."`

	SMTPTimeout          time.Duration `env:"SMTP_TIMEOUT" default:"15s" help:"Bound on one SMTP conversation (connect, TLS, auth, send)."`
	MailWorkers          int           `env:"MAIL_WORKERS" default:"4" help:"Mails delivered at once by this replica to begin with, and the fewest it ever allows."`
	MailConcurrencyMax   int           `env:"MAIL_CONCURRENCY_MAX" default:"100" help:"Most mails delivered at once by this replica (100: 1,000 mails a second through a relay that takes 100 ms a message); between MAIL_WORKERS and this the number adapts to the relay's latency, backing off when it slows or refuses for now (equal to MAIL_WORKERS: fixed). SMTP connections kept open follow it."`
	MailRetryMaxAttempts int           `env:"MAIL_RETRY_MAX_ATTEMPTS" default:"8" help:"Tries before a mail is dead-lettered."`
	MailRetryBaseDelay   time.Duration `env:"MAIL_RETRY_BASE_DELAY" default:"2s" help:"Wait before the first retry; doubles each time, with jitter."`
	MailRetryMaxDelay    time.Duration `env:"MAIL_RETRY_MAX_DELAY" default:"5m" help:"Longest wait between retries."`

	WebhookURL              string        `env:"WEBHOOK_URL" secret:"true" help:"Where webhook events are posted (Standard Webhooks; docs/webhooks.md): an http(s) URL, https in production unless on loopback. Empty: no webhooks. Needs WEBHOOK_SECRET."`
	WebhookSecret           string        `env:"WEBHOOK_SECRET" secret:"true" help:"Key that signs webhooks: whsec_ followed by the base64 of 24–64 random bytes (echo whsec_$(openssl rand -base64 32)). Never generated: Latch refuses to start with a malformed one."`
	WebhookTimeout          time.Duration `env:"WEBHOOK_TIMEOUT" default:"10s" help:"Bound on one webhook POST, answer included; a timeout is retried."`
	WebhookWorkers          int           `env:"WEBHOOK_WORKERS" default:"4" help:"Webhook POSTs in flight at once on this replica."`
	WebhookRetryMaxAttempts int           `env:"WEBHOOK_RETRY_MAX_ATTEMPTS" default:"12" help:"Tries before a webhook event is dead-lettered (latch events failed lists it; latch events replay ID sends it again)."`
	WebhookRetryBaseDelay   time.Duration `env:"WEBHOOK_RETRY_BASE_DELAY" default:"5s" help:"Wait before the first webhook retry; doubles each time, with jitter."`
	WebhookRetryMaxDelay    time.Duration `env:"WEBHOOK_RETRY_MAX_DELAY" default:"1h" help:"Longest wait between webhook retries."`

	LogFormat string `env:"LOG_FORMAT" default:"" help:"text or json; default text in development, json in production."`
	LogLevel  string `env:"LOG_LEVEL" default:"info" help:"debug, info, warn or error."`
	AuditLog  string `env:"AUDIT_LOG" default:"stdout" help:"Where audit events go: stdout, stderr or a file path."`

	PasswordlessType            string        `env:"PASSWORDLESS_TYPE" default:"LINK_OTP" help:"LINK_OTP (code and link), OTP or LINK."`
	PasswordlessExpiry          time.Duration `env:"PASSWORDLESS_EXPIRY" default:"5m" help:"How long a code and link stay valid."`
	CodeLength                  int           `env:"PASSWORDLESS_CODE_LENGTH" default:"6" help:"Digits in a code (4–10)."`
	MaxAttempts                 int           `env:"PASSWORDLESS_MAX_ATTEMPTS" default:"5" help:"Wrong codes that lock a challenge."`
	MaxFailuresPerEmail         int           `env:"PASSWORDLESS_MAX_FAILURES_PER_EMAIL" default:"15" help:"Wrong codes per address across all its challenges per 15 minutes."`
	ResendCooldown              time.Duration `env:"PASSWORDLESS_RESEND_COOLDOWN" default:"30s" help:"Shortest time between two emails of one sign-in."`
	SameBrowser                 bool          `env:"PASSWORDLESS_SAME_BROWSER" default:"false" help:"Magic links work only in the browser that asked for them."`
	Signup                      string        `env:"SIGNUP" default:"open" help:"Who may become a user: open (anyone), invite (people an operator invited or added) or closed (nobody new). Others get the same answer and no mail."`
	AllowedEmailDomains         []string      `env:"ALLOWED_EMAIL_DOMAINS" help:"Comma-separated domains that may sign in; others get the same answer and no email."`
	SessionIdleTimeout          time.Duration `env:"SESSION_IDLE_TIMEOUT" default:"4h" help:"A session unused this long ends."`
	SessionLifetime             time.Duration `env:"SESSION_LIFETIME" default:"7d" help:"A session ends this long after sign-in, used or not."`
	RateLimitWindow             time.Duration `env:"RATE_LIMIT_WINDOW" default:"1m" help:"Window of the rate limits."`
	RateLimitMax                int           `env:"RATE_LIMIT_MAX" default:"60" help:"Failed requests per client IP per window on /api (no valid session, malformed); a request that succeeds gives its unit back, so signed-in use is never limited per IP. Health probes, status polls and forward-auth are not counted. 0 turns it off."`
	RateLimitAuthIPMax          int           `env:"RATE_LIMIT_AUTH_IP_MAX" default:"100" help:"Failed code and link checks (and admin token requests) per client IP per window; 0 turns off this and every other per-IP limit on the routes that send mail or judge a secret (the unconfirmed-mail and wrong-code budgets too)."`
	RateLimitUnconfirmedMailMax int           `env:"RATE_LIMIT_UNCONFIRMED_MAIL_MAX" default:"150" help:"Sign-in mails per client network per 15 minutes that have not (yet) led to a sign-in; each sign-in gives its mail back, so a crowd behind one address is never refused while mail to addresses that never sign in is capped."`
	RateLimitWrongCodesIPMax    int           `env:"RATE_LIMIT_WRONG_CODES_IP_MAX" default:"200" help:"Wrong codes per client network per 15 minutes, across every address (each address also has its own cap)."`
	RateLimitAuthEmailMax       int           `env:"RATE_LIMIT_AUTH_EMAIL_MAX" default:"2" help:"Sign-in emails (sends and resends) per address per window."`
	RateLimitAPIClientMax       int           `env:"RATE_LIMIT_API_CLIENT_MAX" default:"1000" help:"Provider API calls (REST, gRPC, Connect) per API client per window, and admin API calls per admin client; 0 turns it off."`
	RateLimitAPIIPMax           int           `env:"RATE_LIMIT_API_IP_MAX" default:"2000" help:"Provider API calls, token requests included, per client IP per window; 0 (or RATE_LIMIT_AUTH_IP_MAX=0) turns it off."`

	AppName        string `env:"APP_NAME" default:"Latch" help:"Name shown on the login page and in emails."`
	AppAccentColor string `env:"APP_ACCENT_COLOR" default:"#4f46e5" help:"Accent color (#rgb or #rrggbb) of the page and emails."`
	AppLogoURL     string `env:"APP_LOGO_URL" default:"" help:"Logo shown on the login page."`
	AppLogoFile    string `env:"APP_LOGO_FILE" default:"" help:"A local image (PNG, JPEG, GIF, WebP or SVG, at most 512 KiB) shown as the logo instead of APP_LOGO_URL."`

	WebAuthnRPID   string `env:"WEBAUTHN_RP_ID" default:"" help:"Passkeys' relying party ID: BASE_URL's host (the default) or a domain it ends in (example.com for login.example.com), never an IP address. Passkeys belong to it: changing it (or the domain) orphans every passkey, and people sign in by email again (docs/passkeys.md). Empty with an IP address in BASE_URL: passkeys are off."`
	WebAuthnRPName string `env:"WEBAUTHN_RP_NAME" default:"" help:"Name that authenticators show beside a passkey; empty means APP_NAME."`

	ScalekitEnvironmentURL string   `env:"SCALEKIT_ENVIRONMENT_URL" help:"Upstream Scalekit-compatible provider; with the client id and secret, the app routes use it instead of the built-in engine."`
	ScalekitClientID       string   `env:"SCALEKIT_CLIENT_ID" help:"Client id at the upstream provider."`
	ScalekitClientSecret   string   `env:"SCALEKIT_CLIENT_SECRET" secret:"true" help:"Client secret at the upstream provider."`
	ClientsFile            string   `env:"CLIENTS_FILE" help:"The OpenID Connect client registry (JSON or YAML, re-read on SIGHUP); latch clients add|list|remove edits it."`
	APIClients             []string `env:"API_CLIENTS" secret:"true" help:"Comma-separated id:secret pairs allowed to use the provider API (/oauth/token, /api/v1/passwordless)."`

	SigningKeyAlg      string        `env:"SIGNING_KEY_ALG" default:"RS256" help:"Algorithm of new JWT signing keys: RS256 (RSA 2048) or ES256 (P-256)."`
	SigningKeyRotation time.Duration `env:"SIGNING_KEY_ROTATION" default:"30d" help:"How long a signing key signs before the next one takes over (at least 1h); a retired key stays published until its tokens have expired. latch keys rotate rotates at once."`
	JWTTTL             time.Duration `env:"JWT_TTL" default:"10m" help:"Lifetime of the access tokens of POST /api/auth/token (1m–24h)."`
	JWTAudience        string        `env:"JWT_AUDIENCE" default:"" help:"aud of access tokens, which APIs check; empty means BASE_URL."`

	MetricsAddr     string        `env:"METRICS_ADDR" default:"" help:"Serve /metrics on this separate address instead of the main port. Empty: the main port in development; 127.0.0.1:9090 in production unless METRICS_TOKEN is set."`
	MetricsToken    string        `env:"METRICS_TOKEN" secret:"true" help:"Bearer token that /metrics requires (Authorization: Bearer …), on the main port or METRICS_ADDR; at least 16 characters. In production it keeps /metrics on the main port."`
	PprofAddr       string        `env:"PPROF_ADDR" default:"" help:"Serve net/http/pprof on this address (loopback only); empty turns it off."`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" default:"15s" help:"How long SIGTERM waits for requests in flight."`

	// Derived by validate.
	baseURL        *url.URL
	trustedProxies []netip.Prefix
	passwordless   auth.PasswordlessType
	signup         auth.SignupMode
	webhookSecret  events.Secret
	// devOutbox: mail is captured by the dev outbox and served at
	// /dev/outbox (no SMTP_URL, not production, a loopback BASE_URL).
	devOutbox bool
}

func (c *Config) production() bool { return c.AppEnv == "production" }

// loadConfig fills a Config from getenv, applying defaults, and reports
// every problem at once, each setting once: a value that does not parse is
// not judged again by validate.
func loadConfig(getenv func(string) string) (*Config, error) {
	c := &Config{}
	var errs []error
	unparsed := map[string]bool{}
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		raw := strings.TrimSpace(getenv(name))
		if raw == "" {
			raw = f.Tag.Get("default")
		}
		if err := setField(v.Field(i), raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			unparsed[name] = true
		}
	}
	for _, err := range c.validate() {
		name, _, _ := strings.Cut(err.Error(), ":")
		if !unparsed[name] {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

func setField(f reflect.Value, raw string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(raw)
	case int:
		if raw == "" {
			return nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		f.SetInt(int64(n))
	case bool:
		if raw == "" {
			return nil
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		f.SetBool(b)
	case time.Duration:
		if raw == "" {
			return nil
		}
		d, err := parseDuration(raw)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case []string:
		var list []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		f.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}

// parseDuration accepts Go durations plus a "d" suffix for days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days >= 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 30s, 5m, 4h or 7d", s)
	}
	return d, nil
}

// validate checks the settings together and derives what the rest of the
// program uses. It returns every problem it finds.
func (c *Config) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.AppEnv {
	case "development", "production", "test":
	default:
		bad("APP_ENV: %q is not development, production or test", c.AppEnv)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("PORT: %d is not a TCP port", c.Port)
	}
	if c.BaseURL == "http://localhost:PORT" {
		c.BaseURL = "" // derived from the listener once it is bound
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("BASE_URL: %q is not an http(s) URL", c.BaseURL)
	} else {
		c.baseURL = u
		if c.production() && u.Scheme != "https" && !isLocalhost(u.Hostname()) {
			bad("BASE_URL: production needs https (http is allowed only for localhost)")
		}
	}
	if c.production() {
		if c.SessionSecret == "" {
			bad("SESSION_SECRET: required in production; %s", secretAdvice)
		} else if why := weakSecret(c.SessionSecret); why != "" && len(c.SessionSecret) >= auth.MinSecretLength {
			bad("SESSION_SECRET: refused in production because %s; %s", why, secretAdvice)
		}
		if c.BaseURL == "" {
			bad("BASE_URL: required in production (magic links would point at this machine's address); set it to the public https URL")
		}
	}
	c.validateMailSink(bad)
	if c.production() {
		c.validateHTTPS(bad)
	}
	for i, o := range c.CORSOrigins {
		if o == "*" {
			bad("CORS_ALLOWED_ORIGINS: * is refused (with credentials it would hand sessions to any site); list the origins")
			continue
		}
		c.CORSOrigins[i] = strings.TrimSuffix(o, "/")
	}
	if c.ScalekitEnvironmentURL != "" && len(c.AllowedEmailDomains) > 0 {
		bad("ALLOWED_EMAIL_DOMAINS: not applied in upstream mode (SCALEKIT_*); the upstream provider decides who may sign in")
	}
	if c.SessionSecret != "" && len(c.SessionSecret) < auth.MinSecretLength {
		bad("SESSION_SECRET: must be at least %d characters; %s", auth.MinSecretLength, secretAdvice)
	}
	if c.SessionSecretPrevious != "" && len(c.SessionSecretPrevious) < auth.MinSecretLength {
		bad("SESSION_SECRET_PREVIOUS: must be at least %d characters", auth.MinSecretLength)
	}
	for _, o := range c.CORSOrigins {
		if o != "*" && !validOrigin(o) {
			bad("CORS_ALLOWED_ORIGINS: %q is not an origin like https://app.example.com", o)
		}
	}
	for i, o := range c.RedirectAllowlist {
		c.RedirectAllowlist[i] = strings.TrimSuffix(o, "/")
		if !validOrigin(o) {
			bad("REDIRECT_ALLOWLIST: %q is not an origin like https://app.example.com", o)
		}
	}
	for _, p := range c.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				bad("TRUSTED_PROXIES: %q is not a CIDR or an IP address", p)
				continue
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.trustedProxies = append(c.trustedProxies, prefix.Masked())
	}
	if c.AccessRulesFile != "" {
		if _, err := forwardauth.LoadRules(c.AccessRulesFile); err != nil {
			bad("ACCESS_RULES_FILE: %s", strings.ReplaceAll(strings.TrimPrefix(err.Error(), "forwardauth: "), "\n", "; "))
		}
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		bad("LOG_FORMAT: %q is not text or json", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	}
	t, err := auth.ParsePasswordlessType(c.PasswordlessType)
	if err != nil {
		bad("PASSWORDLESS_TYPE: %q is not LINK_OTP, OTP or LINK", c.PasswordlessType)
	}
	c.passwordless = t
	if c.signup, err = auth.ParseSignupMode(c.Signup); err != nil {
		bad("SIGNUP: %q is not open, invite or closed", c.Signup)
	}
	if c.PasswordlessExpiry < 30*time.Second || c.PasswordlessExpiry > 24*time.Hour {
		bad("PASSWORDLESS_EXPIRY: %s is outside 30s–24h", c.PasswordlessExpiry)
	}
	if c.CodeLength < 4 || c.CodeLength > 10 {
		bad("PASSWORDLESS_CODE_LENGTH: %d is outside 4–10", c.CodeLength)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		bad("PASSWORDLESS_MAX_ATTEMPTS: %d is outside 1–100", c.MaxAttempts)
	}
	if c.MaxFailuresPerEmail < c.MaxAttempts {
		bad("PASSWORDLESS_MAX_FAILURES_PER_EMAIL: %d is less than PASSWORDLESS_MAX_ATTEMPTS", c.MaxFailuresPerEmail)
	}
	if c.SessionLifetime < time.Minute {
		bad("SESSION_LIFETIME: %s is shorter than 1m", c.SessionLifetime)
	}
	if c.SessionIdleTimeout < time.Minute {
		bad("SESSION_IDLE_TIMEOUT: %s is shorter than 1m", c.SessionIdleTimeout)
	}
	if c.RateLimitWindow < time.Second {
		bad("RATE_LIMIT_WINDOW: %s is shorter than 1s", c.RateLimitWindow)
	}
	if c.RateLimitMax < 0 {
		bad("RATE_LIMIT_MAX: must not be negative")
	}
	if c.RateLimitAuthIPMax < 0 {
		bad("RATE_LIMIT_AUTH_IP_MAX: must not be negative")
	}
	if c.RateLimitAuthEmailMax < 1 {
		bad("RATE_LIMIT_AUTH_EMAIL_MAX: must be at least 1")
	}
	if !validColor(c.AppAccentColor) {
		bad("APP_ACCENT_COLOR: %q is not a color like #4f46e5", c.AppAccentColor)
	}
	if c.AppLogoURL != "" && !strings.HasPrefix(c.AppLogoURL, "/") && !validOrigin(originOf(c.AppLogoURL)) {
		bad("APP_LOGO_URL: %q is not a path or an http(s) URL", c.AppLogoURL)
	}
	if c.RedisURL != "" {
		if _, err := redisstore.ParseURL(c.RedisURL); err != nil {
			// ParseURL's error already names REDIS_URL after its package.
			bad("%v", strings.TrimPrefix(err.Error(), "redisstore: "))
		}
	}
	if c.RedisTimeout <= 0 || c.RedisPoolSize < 0 {
		bad("REDIS_TIMEOUT and REDIS_POOL_SIZE: must be positive (pool size 0 means the default)")
	}
	if c.SMTPURL != "" {
		if _, err := smtpmail.New(smtpmail.Options{URL: c.SMTPURL, RequireTLS: c.production()}); err != nil {
			bad("SMTP_URL: %v", err)
		}
	}
	// Before anything loads the catalogues (the template check below).
	if c.LocalesDir != "" {
		if err := i18n.CheckDirectory(c.LocalesDir); err != nil {
			bad("LOCALES_DIR: %s", strings.ReplaceAll(err.Error(), "i18n: ", ""))
		}
	}
	i18n.UseDirectory(c.LocalesDir)
	if c.MailTemplatesDir != "" {
		// The renderer parses and tries every template: a missing
		// directory or a broken template is a configuration problem.
		if _, err := latchmail.NewRenderer(latchmail.Brand{From: "check@example.com"}, c.MailTemplatesDir); err != nil {
			bad("MAIL_TEMPLATES_DIR: %s", strings.TrimPrefix(err.Error(), "mail: "))
		}
	}
	if c.AppLogoFile != "" {
		if err := web.CheckLogoFile(c.AppLogoFile); err != nil {
			bad("APP_LOGO_FILE: %s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "web: "), "logo file: "))
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		bad("MAIL_FROM: %q is not an address like \"Latch <no-reply@example.com>\"", c.MailFrom)
	}
	if err := (mailqueue.WorkerOptions{Concurrency: c.MailWorkers, MaxAttempts: c.MailRetryMaxAttempts, BaseDelay: c.MailRetryBaseDelay, MaxDelay: c.MailRetryMaxDelay}).Validate(); err != nil || c.MailWorkers < 1 || c.MailRetryMaxAttempts < 1 {
		bad("MAIL_WORKERS, MAIL_RETRY_*: need at least one worker and one attempt, and non-negative delays")
	}
	if c.MailConcurrencyMax < c.MailWorkers {
		bad("MAIL_CONCURRENCY_MAX: %d is less than MAIL_WORKERS (%d)", c.MailConcurrencyMax, c.MailWorkers)
	}
	if c.SMTPTimeout <= 0 {
		bad("SMTP_TIMEOUT: must be positive")
	}
	c.validateWebhooks(bad)
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		bad("METRICS_TOKEN: must be at least 16 characters")
	}
	if c.MetricsAddr == "" && c.production() && c.MetricsToken == "" {
		// Metrics tell who signs in how often and what fails: not for the
		// public port of a production server unless a token guards them.
		c.MetricsAddr = "127.0.0.1:9090"
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("METRICS_ADDR: %q is not host:port such as 127.0.0.1:9090", c.MetricsAddr)
		}
	}
	if c.PprofAddr != "" && !loopbackAddr(c.PprofAddr) {
		bad("PPROF_ADDR: %q must be a loopback address such as 127.0.0.1:6060", c.PprofAddr)
	}
	if c.SigningKeyAlg != token.RS256 && c.SigningKeyAlg != token.ES256 {
		bad("SIGNING_KEY_ALG: %q is not RS256 or ES256", c.SigningKeyAlg)
	}
	if c.SigningKeyRotation < time.Hour {
		bad("SIGNING_KEY_ROTATION: %s is shorter than 1h", c.SigningKeyRotation)
	}
	if c.JWTTTL < time.Minute || c.JWTTTL > 24*time.Hour {
		bad("JWT_TTL: %s is outside 1m–24h", c.JWTTTL)
	}
	if c.baseURL != nil {
		if err := c.checkPasskeys(); err != nil {
			bad("WEBAUTHN_RP_ID: %v", err)
		}
	}
	upstream := []string{c.ScalekitEnvironmentURL, c.ScalekitClientID, c.ScalekitClientSecret}
	if set := countSet(upstream); set != 0 && set != 3 {
		bad("SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET: set all three or none")
	}
	for _, pair := range c.APIClients {
		id, secret, ok := strings.Cut(pair, ":")
		if !ok || id == "" || len(secret) < 16 {
			bad("API_CLIENTS: each entry must be id:secret with a secret of at least 16 characters")
			break
		}
	}
	return errs
}

// validateMailSink decides where mail goes without SMTP_URL. The dev
// outbox shows every code and link to whoever opens it, so it exists only
// outside production and only when BASE_URL is a loopback address (then
// it also answers loopback peers only); APP_ENV=test is no way around
// that. A server others can reach needs SMTP_URL, except a pure upstream
// deployment, where the upstream provider sends the mail.
func (c *Config) validateMailSink(bad func(string, ...any)) {
	if c.SMTPURL != "" || (c.ScalekitEnvironmentURL != "" && len(c.APIClients) == 0) {
		return
	}
	host := "localhost" // BASE_URL derived from the listener
	if c.baseURL != nil {
		host = c.baseURL.Hostname()
	} else if c.Host != "" && c.Host != "localhost" && !unspecified(c.Host) {
		host = c.Host
	}
	switch {
	case c.production():
		bad("SMTP_URL: required in production (the dev outbox never runs there)")
	case !isLocalhost(host):
		bad("SMTP_URL: required because BASE_URL's host %q is not a loopback address: the dev outbox would show sign-in codes to anyone who can reach this server. Set SMTP_URL, or keep BASE_URL on localhost for development", host)
	default:
		c.devOutbox = true
	}
}

// validateHTTPS refuses, in production, the plain-http URLs that would
// let a network attacker read or change what crosses them: CORS origins,
// redirect targets and the upstream provider. Loopback hosts are allowed,
// as for BASE_URL.
func (c *Config) validateHTTPS(bad func(string, ...any)) {
	plain := func(raw string) bool {
		u, err := url.Parse(raw)
		return err == nil && u.Scheme == "http" && !isLocalhost(u.Hostname())
	}
	for _, o := range c.CORSOrigins {
		if plain(o) {
			bad("CORS_ALLOWED_ORIGINS: %q: production needs https origins (http is allowed only for localhost)", o)
		}
	}
	for _, o := range c.RedirectAllowlist {
		if plain(o) {
			bad("REDIRECT_ALLOWLIST: %q: production needs https origins (http is allowed only for localhost)", o)
		}
	}
	if plain(c.AppURL) {
		bad("APP_URL: %q: production needs a path or an https URL", c.AppURL)
	}
	if c.ScalekitEnvironmentURL != "" {
		if u, err := url.Parse(c.ScalekitEnvironmentURL); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLocalhost(u.Hostname()))) {
			bad("SCALEKIT_ENVIRONMENT_URL: production needs an https URL (http is allowed only for localhost)")
		}
	}
}

// listenHosts are the addresses serve listens on: HOST, or by default
// loopback only outside production (both 127.0.0.1 and ::1, since
// browsers try either for localhost) and every interface in production.
func (c *Config) listenHosts() []string {
	switch {
	case c.Host == "" && c.production():
		return []string{""}
	case c.Host == "" || c.Host == "localhost":
		return []string{"127.0.0.1", "::1"}
	}
	return []string{c.Host}
}

// secretWarning is what development says about a weak SESSION_SECRET that
// production would refuse.
func (c *Config) secretWarning() string {
	if c.production() || c.SessionSecret == "" {
		return ""
	}
	if why := weakSecret(c.SessionSecret); why != "" {
		return fmt.Sprintf("SESSION_SECRET would be refused in production: %s; %s", why, secretAdvice)
	}
	return ""
}

func unspecified(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

func isLocalhost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func loopbackAddr(addr string) bool {
	host, _, ok := strings.Cut(addr, ":")
	if strings.HasPrefix(addr, "[") {
		host = strings.TrimPrefix(strings.SplitN(addr, "]", 2)[0], "[")
		ok = true
	}
	return ok && isLocalhost(host)
}

func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func validColor(s string) bool {
	if len(s) != 4 && len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

func countSet(vals []string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}
