package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/mail"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds one parsed template set per page, each with the layout.
type pages struct {
	byName map[string]*template.Template
}

var pageNames = []string{"login", "code", "link", "account", "outbox", "notfound"}

func newPages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// pageData is what every page template sees.
type pageData struct {
	Title       string
	AppName     string
	AccentColor string
	LogoURL     string
	Nonce       string

	Email         string
	AuthRequestID string
	RedirectTo    string
	CodeLength    int
	ResendAfter   int // seconds
	Error         string
	ErrorCode     auth.Code
	Notice        string

	LinkToken   string
	LinkValid   bool
	AutoSubmit  bool
	LinkAllowed bool

	User     *auth.Session
	Messages []*mail.Message
}

// renderPage writes a full HTML page with its own CSP and nonce.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.AppName = s.cfg.AppName
	d.AccentColor = s.cfg.AccentColor
	d.LogoURL = s.cfg.LogoURL
	d.Nonce = nonce(r)
	if d.CodeLength == 0 {
		d.CodeLength = s.cfg.CodeLength
	}
	var buf bytes.Buffer
	if err := s.pages.byName[name].Execute(&buf, d); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "Internal server error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", s.pagePolicy(d.Nonce))
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) logoSource() string {
	if o, err := origin(s.cfg.LogoURL); err == nil {
		return " " + o
	}
	return ""
}

// static serves the embedded CSS and JS with an hour of caching; gzip
// comes from the middleware chain.
func (s *Server) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// --- the login page, without JavaScript: plain forms that post here.

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := s.sessions.Authenticate(r.Context(), sessionToken(r)); err == nil {
		http.Redirect(w, r, s.appURL, http.StatusSeeOther)
		return
	}
	redirectTo, _ := s.redirects.Check(r.URL.Query().Get("redirect_to"))
	s.renderPage(w, r, http.StatusOK, "login", pageData{Title: "Sign in", RedirectTo: redirectTo})
}

func (s *Server) handleLoginEmail(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.renderLoginError(w, r, "login", pageData{Title: "Sign in"}, err)
		return
	}
	email, redirectTo := r.PostForm.Get("email"), r.PostForm.Get("redirect_to")
	d := pageData{Title: "Sign in", Email: email, RedirectTo: redirectTo}
	sent, err := s.send(r, email, "", "", redirectTo)
	if err != nil {
		s.renderLoginError(w, r, "login", d, err)
		return
	}
	s.setAuthRequestCookie(w, sent.ChallengeID, sent.Binding, sent.ExpiresAt)
	d.Title, d.AuthRequestID, d.ResendAfter = "Check your email", sent.ChallengeID, ceilSeconds(sent.ResendAfter)
	if normalized, err := auth.NormalizeEmail(email); err == nil {
		d.Email = normalized
	}
	s.renderPage(w, r, http.StatusOK, "code", d)
}

func (s *Server) handleLoginCode(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.renderLoginError(w, r, "login", pageData{Title: "Sign in"}, err)
		return
	}
	d := pageData{Title: "Check your email", Email: r.PostForm.Get("email"), AuthRequestID: r.PostForm.Get("auth_request_id")}
	login, err := s.login.VerifyCode(r.Context(), d.AuthRequestID, r.PostForm.Get("code"))
	if err == nil {
		err = s.signIn(w, r, login)
	}
	if err != nil {
		page := "code"
		if auth.ErrorCode(err) == auth.CodeExpired {
			page, d.Title = "login", "Sign in"
		}
		s.renderLoginError(w, r, page, d, err)
		return
	}
	http.Redirect(w, r, s.landing(login), http.StatusSeeOther)
}

func (s *Server) handleLoginResend(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.renderLoginError(w, r, "login", pageData{Title: "Sign in"}, err)
		return
	}
	d := pageData{Title: "Check your email", Email: r.PostForm.Get("email"), AuthRequestID: r.PostForm.Get("auth_request_id")}
	sent, err := s.login.Resend(r.Context(), d.AuthRequestID)
	if err != nil {
		page := "code"
		if auth.ErrorCode(err) == auth.CodeExpired {
			page, d.Title = "login", "Sign in"
		}
		s.renderLoginError(w, r, page, d, err)
		return
	}
	s.refreshAuthRequestCookie(w, r, sent)
	d.Notice = "We sent a new code. The old one no longer works."
	d.ResendAfter = ceilSeconds(sent.ResendAfter)
	s.renderPage(w, r, http.StatusOK, "code", d)
}

// renderLoginError shows err next to the form it belongs to, with the
// status the JSON API would use.
func (s *Server) renderLoginError(w http.ResponseWriter, r *http.Request, page string, d pageData, err error) {
	e := publicError(err)
	s.logError(r, Status(e.Code), err)
	d.Error, d.ErrorCode = e.Message, e.Code
	if ra, ok := e.Details["retryAfter"].(int); ok {
		w.Header().Set("Retry-After", strconv.Itoa(ra))
		if e.Code == auth.CodeRateLimited {
			d.ResendAfter = ra
		}
	}
	s.renderPage(w, r, Status(e.Code), page, d)
}

// --- the magic link

func (s *Server) handleLinkPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := auth.LinkProof{Token: q.Get("link_token"), ChallengeID: q.Get("auth_request_id")}
	p.Binding = bindingFor(r, p.ChallengeID)
	d := pageData{Title: "Sign in", LinkToken: p.Token, AuthRequestID: p.ChallengeID}
	st, err := s.login.InspectLink(r.Context(), p)
	if err != nil {
		s.renderLinkError(w, r, err)
		return
	}
	if !st.Valid {
		s.renderLinkError(w, r, auth.Errorf(auth.CodeExpired, "This link has expired or was already used. Request a new email."))
		return
	}
	d.LinkValid, d.LinkAllowed = true, st.Allowed
	d.AutoSubmit = st.SameBrowser && st.Allowed
	if !st.Allowed {
		d.Error = "This link works only in the browser where you asked for it. Type the code from the email there instead."
		d.ErrorCode = auth.CodeDifferentBrowser
	}
	s.renderPage(w, r, http.StatusOK, "link", d)
}

func (s *Server) renderLinkError(w http.ResponseWriter, r *http.Request, err error) {
	e := publicError(err)
	s.logError(r, Status(e.Code), err)
	s.renderPage(w, r, Status(e.Code), "link", pageData{Title: "Sign in", Error: e.Message, ErrorCode: e.Code})
}

// --- the account page

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessions.Authenticate(r.Context(), sessionToken(r))
	if auth.ErrorCode(err) == auth.CodeUnauthorized {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.renderPage(w, r, Status(auth.ErrorCode(err)), "notfound", pageData{Title: "Unavailable", Error: publicError(err).Message})
		return
	}
	s.renderPage(w, r, http.StatusOK, "account", pageData{Title: "Your account", User: sess})
}

func (s *Server) handleLogoutForm(w http.ResponseWriter, r *http.Request) {
	global := false
	if err := parseForm(r); err == nil {
		global = r.PostForm.Get("scope") == "global"
	}
	err := s.sessions.Logout(r.Context(), sessionToken(r), global)
	if err != nil && auth.ErrorCode(err) != auth.CodeUnauthorized {
		s.renderPage(w, r, Status(auth.ErrorCode(err)), "notfound", pageData{Title: "Unavailable", Error: publicError(err).Message})
		return
	}
	s.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
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
	s.renderPage(w, r, http.StatusOK, "outbox", pageData{Title: "Development outbox", Messages: s.outbox.Messages(r.URL.Query().Get("to"))})
}
