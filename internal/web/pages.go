package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/i18n"
	"github.com/latch-auth/latch/internal/mail"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// The two steps of the login page.
const (
	stepEmail = "email"
	stepCode  = "code"
)

// loginEmailCookie remembers, for as long as a sign-in is pending, which
// address it was sent to, so that a reloaded /login (a mini browser
// coming back from the mail app) shows "check your inbox" with the
// address instead of starting over. It never leaves /login.
const loginEmailCookie = "latch_login_email"

// logoPath is where a logo file (Config.LogoFile) is served.
const logoPath = "/brand/logo"

// maxLogoBytes caps a logo file; a logo is small.
const maxLogoBytes = 512 << 10

// pages holds one parsed template set per page, each with the layout, and
// the fingerprints of the static files.
type pages struct {
	byName map[string]*template.Template
	// versions maps a static file name to a short hash of its content;
	// URLs carry it (?v=) so the files can be cached for a year.
	versions map[string]string
	bundle   *i18n.Bundle
	// locales are the languages of the pages by tag, each with the login
	// page's sentences for the page and its script, so both speak with
	// one voice.
	locales map[string]*pageLocale
	logo    *logoFile
	logoURL string
}

// logoFile is a logo read from disk at start.
type logoFile struct {
	body        []byte
	contentType string
	version     string
}

var pageNames = []string{"login", "link", "account", "outbox", "notfound"}

func newPages(cfg Config) (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}, versions: map[string]string{}, logoURL: cfg.LogoURL}
	err := fs.WalkDir(staticFS, "static", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(name)
		if err != nil {
			return err
		}
		p.versions[strings.TrimPrefix(name, "static/")] = fingerprint(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	if cfg.LogoFile != "" {
		if p.logo, err = readLogo(cfg.LogoFile); err != nil {
			return nil, err
		}
		p.logoURL = logoPath + "?v=" + p.logo.version
	}
	if p.bundle, err = i18n.Load(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	p.locales = map[string]*pageLocale{}
	for _, l := range p.bundle.Locales() {
		if p.locales[l.Tag()], err = newPageLocale(l, cfg.PasswordlessType); err != nil {
			return nil, err
		}
	}

	funcs := template.FuncMap{"asset": p.asset}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html", "templates/passkeys.html")
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:5])
}

// asset returns the cache-busting URL of a static file.
func (p *pages) asset(name string) (string, error) {
	v, ok := p.versions[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + name + "?v=" + v, nil
}

// CheckLogoFile reports whether name is a logo Config.LogoFile can serve,
// so that a configuration can be judged before the server is built.
func CheckLogoFile(name string) error {
	_, err := readLogo(name)
	return err
}

// readLogo reads a logo image (PNG, JPEG, GIF, WebP or SVG) to serve it
// from memory.
func readLogo(name string) (*logoFile, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("web: logo file: %w", err)
	}
	if len(b) > maxLogoBytes {
		return nil, fmt.Errorf("web: logo file %s is larger than %d KiB", name, maxLogoBytes>>10)
	}
	ct := http.DetectContentType(b)
	if strings.EqualFold(path.Ext(name), ".svg") {
		ct = "image/svg+xml"
	}
	if !strings.HasPrefix(ct, "image/") {
		return nil, fmt.Errorf("web: logo file %s is not an image (%s)", name, ct)
	}
	return &logoFile{body: b, contentType: ct, version: fingerprint(b)}, nil
}

// pageData is what every page template sees.
type pageData struct {
	// L is the page's language: {{.L.T "key"}} is a sentence of its
	// catalogue, {{.L.Tag}} and {{.L.Dir}} go on <html>.
	L *pageLocale
	// Locale is the language the request chose itself (ui_locales, a
	// locale field), which the login page's forms pass on; "" when the
	// browser's language decides.
	Locale string
	// Title is the catalogue key of the page's title.
	Title       string
	AppName     string
	AccentColor string
	// OnAccent is the text color on an accent background: white, or near
	// black when the accent is too light for white text to be read.
	OnAccent string
	LogoURL  string
	Nonce    string

	// The login page.
	Step string // stepEmail or stepCode
	// Type is what the email carries: a code, a link or both.
	Type           auth.PasswordlessType
	Email          string
	AuthRequestID  string
	RedirectTo     string
	CodeLength     int
	ResendAfter    int // seconds until a resend is accepted, when known
	ResendCooldown int // seconds between two emails, for the script
	Error          string
	ErrorCode      auth.Code
	// ErrorField is the id of the field the error belongs to: "email",
	// "code" or "resend".
	ErrorField string
	Notice     string
	Messages   string // JSON for the script
	// RedirectNote tells a developer (development only) why the
	// redirect_to they passed is not used.
	RedirectNote string
	// DevNote is the engine's own words for a developer on an error page,
	// in development only (in English: it names settings).
	DevNote string

	// The magic-link page.
	LinkToken   string
	LinkValid   bool
	AutoSubmit  bool
	LinkAllowed bool
	// LinkEmail is the masked address the link signs in ("" if unknown).
	LinkEmail string
	// Warning says the page is not open in the browser that asked for
	// the email (login CSRF: someone else's link, sent to the victim).
	Warning string

	// Continue is where a signed-in person goes on from a used link.
	Continue string

	User   *auth.Session
	Outbox []*mail.Message

	// The account page.
	Sessions      []sessionRow
	ConfirmDelete bool
	// Languages are the choices of the account page's language picker
	// (none without a place to keep the choice).
	Languages []languageChoice

	// PasskeysOn says passkeys are offered (login and account pages);
	// PasskeyList is the person's, and PasskeyDone what just happened to
	// one (added, renamed, removed), for the account page's notice.
	PasskeysOn  bool
	PasskeyList []passkeyRow
	PasskeyDone string
}

// Blank is d without anything that belongs to one sign-in: the data of the
// step templates the script clones.
func (d pageData) Blank() pageData {
	return pageData{L: d.L, Locale: d.Locale, CodeLength: d.CodeLength, RedirectTo: d.RedirectTo, ResendCooldown: d.ResendCooldown, Type: d.Type, PasskeysOn: d.PasskeysOn}
}

// HasCode and HasLink say what the email carries.
func (d pageData) HasCode() bool { return d.Type.HasCode() }
func (d pageData) HasLink() bool { return d.Type.HasLink() }

// ACode is "a 6-digit code", "an 8-digit code", in the page's language.
func (d pageData) ACode() string { return d.L.T("code.a", "n", d.CodeLength) }

// Address is the address a code step speaks of, in <strong>, for the
// catalogue's {email}: the script fills it in when the server does not
// know it.
func (d pageData) Address() template.HTML {
	email := d.Email
	if email == "" {
		email = d.L.T("login.your_address")
	}
	return template.HTML(`<strong class="address" dir="auto" data-bind="email">` + template.HTMLEscapeString(email) + `</strong>`)
}

// Strong is s, escaped, in <strong class="address">, for the catalogue's
// {email} on the other pages.
func (d pageData) Strong(s string) template.HTML {
	return template.HTML(`<strong class="address" dir="auto">` + template.HTMLEscapeString(s) + `</strong>`)
}

// Signed is the signed-in address, escaped, marked as the page's bound
// address (data-bind="email").
func (d pageData) Signed(s string) template.HTML {
	return template.HTML(`<strong class="address" dir="auto" data-bind="email">` + template.HTMLEscapeString(s) + `</strong>`)
}

// renderPage writes a full HTML page with its own CSP and nonce.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	if d.L == nil {
		d.L = s.lang(r)
	}
	d.AppName = s.cfg.AppName
	d.AccentColor, d.OnAccent = accentColors(s.cfg.AccentColor)
	d.LogoURL = s.pages.logoURL
	d.Nonce = nonce(r)
	if d.CodeLength == 0 {
		d.CodeLength = s.cfg.CodeLength
	}
	if d.Type == "" {
		d.Type = s.cfg.PasswordlessType
	}
	d.ResendCooldown = auth.Seconds(s.cfg.ResendCooldown)
	if s.cfg.ResendCooldown <= 0 {
		d.ResendCooldown = 30
	}
	if name == "login" {
		d.Messages = d.L.script
	}
	d.PasskeysOn = s.passkeys != nil
	var buf bytes.Buffer
	if err := s.pages.byName[name].Execute(&buf, d); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "Internal server error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", s.pagePolicy(d.Nonce))
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", d.L.Tag())
	h.Add("Vary", "Accept-Language")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// accentColors returns the accent (empty when it is not a #rgb or #rrggbb
// color, leaving the stylesheet's) and the text color to put on it.
func accentColors(accent string) (color, on string) {
	if !hexColor.MatchString(accent) {
		return "", ""
	}
	h := accent[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, _ := strconv.ParseUint(h, 16, 32)
	lum := relativeLuminance(uint8(v>>16), uint8(v>>8), uint8(v))
	// White text needs a contrast of 4.5:1 (WCAG AA): (1+0.05)/(L+0.05).
	if 1.05/(lum+0.05) >= 4.5 {
		return accent, "#fff"
	}
	return accent, "#111827"
}

func relativeLuminance(r, g, b uint8) float64 {
	lin := func(c uint8) float64 {
		v := float64(c) / 255
		if v <= 0.03928 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

func (s *Server) logoSource() string {
	if o, err := origin(s.cfg.LogoURL); err == nil && s.cfg.LogoFile == "" {
		return " " + o
	}
	return ""
}

// static serves the embedded CSS, JS and icon. A URL carrying the file's
// current fingerprint (?v=, as the pages link them) is cached for a year;
// any other is revalidated with its ETag. Compression comes from the
// middleware chain.
func (s *Server) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		v, ok := s.pages.versions[name]
		if !ok {
			s.notFound(w, r)
			return
		}
		h := w.Header()
		h.Set("ETag", `"`+v+`"`)
		if r.URL.Query().Get("v") == v {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

// handleLogo serves the logo file of Config.LogoFile.
func (s *Server) handleLogo(w http.ResponseWriter, r *http.Request) {
	l := s.pages.logo
	if l == nil {
		s.notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", l.contentType)
	h.Set("ETag", `"`+l.version+`"`)
	if r.URL.Query().Get("v") == l.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(l.body))
}

// --- the login page, without JavaScript: plain forms that post here and
// re-render. static/app.js turns the same markup into a page that calls
// the JSON API, but nothing depends on it.

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	redirectTo, note := s.loginRedirect(r)
	if rd := r.URL.Query().Get("rd"); rd != "" && redirectTo == "" && r.URL.Query().Get("redirect_to") == "" {
		// rd is where a proxy's forward-auth sent the person from: Latch
		// wrote it, so one that is not allowed was tampered with.
		target, err := s.redirects.Check(rd)
		if err != nil {
			o, _ := origin(rd)
			s.log.InfoContext(r.Context(), "login: rd is on a host with no access rule and not on REDIRECT_ALLOWLIST; refused",
				"origin", o, "requestId", RequestID(r.Context()))
			s.renderPage(w, r, http.StatusBadRequest, "notfound", pageData{Title: "title.sign_in", Error: s.msg(r, "invalid_redirect")})
			return
		}
		redirectTo = target
	}
	// prompt=login (an OpenID client asking for a fresh sign-in) shows
	// the page even to a signed-in person.
	if _, err := s.sessions.Authenticate(r.Context(), sessionToken(r)); err == nil && r.URL.Query().Get("prompt") != "login" {
		http.Redirect(w, r, first(redirectTo, s.appURL), http.StatusSeeOther)
		return
	}
	d := pageData{Title: "title.sign_in", Step: stepEmail, RedirectTo: redirectTo, RedirectNote: note, Email: rememberedEmail(r), Locale: s.chosenLocale(explicitLocales(r)...)}
	if r.URL.Query().Get("deleted") != "" {
		d.Notice = s.msg(r, "deleted")
	}
	if hint := r.URL.Query().Get("login_hint"); d.Email == "" && len(hint) <= 320 {
		d.Email = hint // an OpenID client's login_hint pre-fills the address
	}
	if r.URL.Query().Get("signed_out") != "" {
		d.Notice = s.msg(r, "signed_out")
	}
	// A sign-in is pending in this browser: pick up where it was, unless
	// the person asked for the email step.
	if id, _ := authRequest(r); id != "" && r.URL.Query().Get("step") != stepEmail {
		d.Title, d.Step, d.AuthRequestID = "title.check_email", stepCode, id
	}
	s.renderPage(w, r, http.StatusOK, "login", d)
}

// loginRedirect reads /login?redirect_to=: where to land after signing in
// (a path here, a URL on the allow-list, or one on a host with an access
// rule). /login?rd= (forward-auth) is read by handleLoginPage. A target that is not allowed
// is dropped, which would leave a developer wondering why the app is not
// reached: the log says so, and in development the page too.
func (s *Server) loginRedirect(r *http.Request) (target, note string) {
	raw := r.URL.Query().Get("redirect_to")
	target, err := s.redirects.Check(raw)
	if err == nil {
		return target, ""
	}
	where := "it is neither a path on this server nor a URL on REDIRECT_ALLOWLIST"
	o, oerr := origin(raw)
	if oerr == nil {
		where = "its origin " + o + " is not on REDIRECT_ALLOWLIST"
	}
	// Only the origin is logged: the rest of a URL may carry a secret.
	s.log.InfoContext(r.Context(), "login: redirect_to is neither a path here nor on REDIRECT_ALLOWLIST; ignored, people land on APP_URL",
		"origin", o, "appUrl", s.appURL, "requestId", RequestID(r.Context()))
	if s.cfg.Production {
		return "", ""
	}
	note = fmt.Sprintf("Development note: redirect_to is ignored (%s), so after signing in you will land on %s.", where, s.appURL)
	if oerr == nil {
		note += " Add " + o + " to REDIRECT_ALLOWLIST to send people back there."
	}
	return "", note
}

func (s *Server) handleLoginEmail(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.renderLoginError(w, r, pageData{}, "send", "", err)
		return
	}
	email, redirectTo := r.PostForm.Get("email"), r.PostForm.Get("redirect_to")
	d := pageData{Email: email, RedirectTo: redirectTo, Locale: s.chosenLocale(r.PostForm.Get("locale"))}
	sent, err := s.send(r, email, "", "", redirectTo, r.PostForm.Get("locale"))
	if err != nil {
		s.renderLoginError(w, r, d, "send", email, err)
		return
	}
	s.setAuthRequestCookie(w, sent.ChallengeID, sent.Binding, sent.ExpiresAt)
	if normalized, err := auth.NormalizeEmail(email); err == nil {
		d.Email = normalized
	}
	s.rememberEmail(w, d.Email, sent.ExpiresAt)
	d.Title, d.Step, d.AuthRequestID, d.ResendAfter = "title.check_email", stepCode, sent.ChallengeID, auth.Seconds(sent.ResendAfter)
	d.Type = sent.Type
	s.renderPage(w, r, http.StatusOK, "login", d)
}

func (s *Server) handleLoginCode(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.renderLoginError(w, r, pageData{}, "verify", "", err)
		return
	}
	code := r.PostForm.Get("code")
	d := pageData{Email: r.PostForm.Get("email"), AuthRequestID: r.PostForm.Get("auth_request_id"), Locale: s.chosenLocale(r.PostForm.Get("locale"))}
	login, err := s.login.VerifyCode(r.Context(), d.AuthRequestID, code, s.caller(r))
	if err == nil {
		err = s.signIn(w, r, login)
	}
	if err != nil {
		s.renderLoginError(w, r, d, "verify", code, err)
		return
	}
	s.forgetEmail(w)
	http.Redirect(w, r, s.landing(login), http.StatusSeeOther)
}

func (s *Server) handleLoginResend(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.renderLoginError(w, r, pageData{}, "resend", "", err)
		return
	}
	d := pageData{Email: r.PostForm.Get("email"), AuthRequestID: r.PostForm.Get("auth_request_id"), Locale: s.chosenLocale(r.PostForm.Get("locale"))}
	sent, err := s.login.Resend(r.Context(), d.AuthRequestID, s.caller(r))
	if err != nil {
		s.renderLoginError(w, r, d, "resend", "", err)
		return
	}
	s.refreshAuthRequestCookie(w, r, sent)
	if d.Email != "" {
		s.rememberEmail(w, d.Email, sent.ExpiresAt)
	}
	d.Title, d.Step, d.Type = "title.check_email", stepCode, sent.Type
	d.Notice = s.msg(r, "resent")
	d.ResendAfter = auth.Seconds(sent.ResendAfter)
	s.renderPage(w, r, http.StatusOK, "login", d)
}

// renderLoginError shows err in words next to the field it belongs to, on
// the step where the person can act on it, with the status (and
// Retry-After) the JSON API would use. action is what the person was
// doing ("send", "verify" or "resend") and input what they typed.
func (s *Server) renderLoginError(w http.ResponseWriter, r *http.Request, d pageData, action, input string, err error) {
	if auth.ErrorCode(err) == auth.CodeExpired && action != "send" {
		// The link was used in another tab of this browser: the code typed
		// here came too late, but the person is signed in.
		if _, aerr := s.sessions.Authenticate(r.Context(), sessionToken(r)); aerr == nil {
			s.forgetEmail(w)
			http.Redirect(w, r, s.appURL, http.StatusSeeOther)
			return
		}
	}
	e := s.failure(w, r, err)
	p := s.lang(r).problem(e, action, input, s.cfg.CodeLength)
	if ra, ok := intDetail(e.Details, "retryAfter"); ok && action == "resend" && e.Code == auth.CodeRateLimited {
		d.ResendAfter = ra
	}
	d.Step, d.Error, d.ErrorCode, d.ErrorField = p.step, p.text, e.Code, p.field
	d.Title = "title.check_email"
	if d.Step == stepEmail {
		d.Title, d.AuthRequestID = "title.sign_in", ""
	}
	if d.Step == stepCode && d.AuthRequestID == "" {
		d.Title, d.Step, d.ErrorField = "title.sign_in", stepEmail, "email"
	}
	s.renderPage(w, r, Status(e.Code), "login", d)
}

// rememberEmail keeps the address of a pending sign-in for /login.
func (s *Server) rememberEmail(w http.ResponseWriter, email string, expires time.Time) {
	c := s.cookie(loginEmailCookie, url.QueryEscape(email), expires)
	c.Path = "/login"
	http.SetCookie(w, c)
}

func (s *Server) forgetEmail(w http.ResponseWriter) {
	c := s.cookie(loginEmailCookie, "", time.Time{})
	c.Path = "/login"
	http.SetCookie(w, c)
}

func rememberedEmail(r *http.Request) string {
	c, err := r.Cookie(loginEmailCookie)
	if err != nil {
		return ""
	}
	email, err := url.QueryUnescape(c.Value)
	if err != nil || len(email) > auth.MaxEmailLength {
		return ""
	}
	return email
}

// --- errors in words

// A problem is an error of the login flow as the page shows it.
type problem struct {
	step  string // stepEmail or stepCode: where the person can act on it
	field string // "email", "code" or "resend"
	text  string
}

// problem decides where e shows and what it says. The script's problemFor
// (static/app.js) makes the same decisions for the JSON API's answers.
func (p *pageLocale) problem(e *auth.Error, action, input string, codeLength int) problem {
	pr := problem{step: stepCode, field: "code"}
	switch action {
	case "send":
		pr = problem{step: stepEmail, field: "email"}
	case "resend":
		pr.field = "resend"
	}
	toEmailStep := func() { pr.step, pr.field = stepEmail, "email" }
	wait, _ := intDetail(e.Details, "retryAfter")
	key := string(e.Code)
	switch e.Code {
	case auth.CodeInvalidEmail:
		if strings.TrimSpace(input) == "" {
			key = "email_missing"
		}
	case auth.CodeInvalidRequest:
		if action == "verify" && strings.TrimSpace(input) == "" {
			key = "code_missing"
		}
	case auth.CodeInvalidCode:
		n, ok := intDetail(e.Details, "attemptsRemaining")
		switch {
		case !ok && digitCount(input) != codeLength:
			key = "code_format"
		case !ok:
			key = "invalid_code"
		case n <= 0:
			key = "locked"
			toEmailStep()
		default:
			key = "invalid_code_left"
		}
	case auth.CodeTooManyAttempts:
		key = "locked"
		if wait > 0 {
			key = "locked_wait"
		}
		toEmailStep()
	case auth.CodeExpired:
		if action == "resend" {
			key = "expired_resend"
		}
		toEmailStep()
	case auth.CodeRateLimited:
		switch action {
		case "resend":
			key = "resend_wait"
		case "send":
			key = "send_limited"
		}
	case auth.CodeUpstream:
		key = "unavailable"
	case auth.CodePayloadTooLarge, auth.CodeUnsupportedMedia, auth.CodeNotFound, auth.CodeMethodNotAllowed, auth.CodeUnauthorized:
		key = "invalid_request"
	}
	switch key {
	case "code_missing", "code_format":
		pr.text = p.T("msg."+key, "n", codeLength)
		return pr
	case "invalid_code_left":
		n, _ := intDetail(e.Details, "attemptsRemaining")
		pr.text = p.T("msg.invalid_code_left", "n", n)
		return pr
	}
	text, ok := p.messages[key]
	if !ok {
		text = p.messages["internal"]
	}
	pr.text = strings.ReplaceAll(text, "{wait}", waitWords(p.Locale, wait))
	return pr
}

func digitCount(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// intDetail reads a number from an error's details, as the engine (int)
// or a decoded upstream answer (float64) carries it.
func intDetail(details map[string]any, key string) (int, bool) {
	switch v := details[key].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case float64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		return int(n), err == nil
	}
	return 0, false
}

// --- the magic link

func (s *Server) handleLinkPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := auth.LinkProof{Token: q.Get("link_token"), ChallengeID: q.Get("auth_request_id"), Caller: s.caller(r)}
	p.Binding = bindingFor(r, p.ChallengeID)
	d := pageData{Title: "title.finish", LinkToken: p.Token, AuthRequestID: p.ChallengeID}
	st, err := s.login.InspectLink(r.Context(), p)
	if err != nil {
		s.renderLinkError(w, r, err)
		return
	}
	if !st.Valid {
		s.renderLinkError(w, r, auth.Errorf(auth.CodeExpired, "This link has expired or was already used. Request a new email."))
		return
	}
	if st.Locale != "" && len(explicitLocales(r)) == 0 {
		// The page speaks the mail's language, unless the URL says otherwise.
		s.useMailLocale(r, st.Locale)
	}
	d.LinkValid, d.LinkAllowed = true, st.Allowed
	d.AutoSubmit = st.SameBrowser && st.Allowed
	d.LinkEmail = maskedAddress(st.Email)
	if !st.SameBrowser {
		d.Warning = s.msg(r, "link_other_browser")
	}
	if !st.Allowed {
		d.Error = s.msg(r, "different_browser")
		d.ErrorCode = auth.CodeDifferentBrowser
	}
	s.renderPage(w, r, http.StatusOK, "link", d)
}

// maskedAddress shows enough of an address for a person to recognise it
// as theirs, and not all of it to whoever holds the link:
// "ada@example.org" → "a•••@example.org".
func maskedAddress(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return ""
	}
	first, _ := utf8.DecodeRuneInString(email)
	return string(first) + "•••" + email[at:]
}

// renderLinkError shows why a link cannot sign in. A used link opened in
// a browser that is signed in (the person clicked it twice, or in a
// second tab) is no problem: that page offers to continue.
func (s *Server) renderLinkError(w http.ResponseWriter, r *http.Request, err error) {
	if code := auth.ErrorCode(err); code == auth.CodeExpired || code == auth.CodeTooManyAttempts {
		if sess, aerr := s.sessions.Authenticate(r.Context(), sessionToken(r)); aerr == nil {
			s.renderPage(w, r, http.StatusOK, "link", pageData{Title: "title.signed_in", User: sess, Continue: s.appURL})
			return
		}
	}
	e := s.failure(w, r, err)
	text := s.lang(r).problem(e, "link", "", s.cfg.CodeLength).text
	switch e.Code {
	case auth.CodeExpired, auth.CodeTooManyAttempts:
		text = s.msg(r, "expired_link")
	case auth.CodeInvalidRequest:
		// A link cut short by a mail app, or typed by hand.
		text = s.msg(r, "link_incomplete")
	}
	s.renderPage(w, r, Status(e.Code), "link", pageData{Title: "title.link", Error: text, ErrorCode: e.Code})
}

// --- the account page

// handleLogoutForm signs out from a form: the account page's, or an
// app's own sign-out button (its origin must be in CORS_ALLOWED_ORIGINS).
// post_logout_redirect, allowed like redirect_to, sends the person back
// to the app; else /login says they are signed out.
func (s *Server) handleLogoutForm(w http.ResponseWriter, r *http.Request) {
	global, back := false, ""
	if err := parseForm(r); err == nil {
		global = r.PostForm.Get("scope") == "global"
		back = r.PostForm.Get("post_logout_redirect")
	}
	target, rerr := s.redirects.Check(back)
	if rerr != nil {
		o, _ := origin(back)
		s.log.InfoContext(r.Context(), "logout: post_logout_redirect is neither a path here nor on REDIRECT_ALLOWLIST; ignored",
			"origin", o, "requestId", RequestID(r.Context()))
	}
	err := s.sessions.Logout(r.Context(), sessionToken(r), global)
	if err != nil && auth.ErrorCode(err) != auth.CodeUnauthorized {
		s.renderPage(w, r, Status(auth.ErrorCode(err)), "notfound", pageData{Title: "title.unavailable", Error: s.msg(r, "unavailable")})
		return
	}
	s.clearCookie(w, sessionCookie)
	s.forgetEmail(w)
	http.Redirect(w, r, first(target, "/login?signed_out=1"), http.StatusSeeOther)
}

// --- the development outbox

type outboxMessageJSON struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	SentAt  string `json:"sentAt"`
	Code    string `json:"code"`
	Link    string `json:"link"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

func (s *Server) handleOutboxJSON(w http.ResponseWriter, r *http.Request) {
	msgs := s.outbox.Messages(r.URL.Query().Get("to"))
	out := make([]outboxMessageJSON, len(msgs))
	for i, m := range msgs {
		out[i] = outboxMessageJSON{ID: m.ID, To: m.To, Subject: m.Subject, SentAt: m.Date.UTC().Format(time.RFC3339Nano), Code: m.Code, Link: m.Link, Text: m.Text, HTML: m.HTML}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
}

func (s *Server) handleOutboxPage(w http.ResponseWriter, r *http.Request) {
	s.renderPage(w, r, http.StatusOK, "outbox", pageData{Title: "title.outbox", Outbox: s.outbox.Messages(r.URL.Query().Get("to"))})
}
