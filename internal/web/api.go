package web

import (
	"net/http"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

type sentJSON struct {
	AuthRequestID    string `json:"authRequestId"`
	ExpiresAt        int64  `json:"expiresAt"`
	ExpiresIn        int    `json:"expiresIn"`
	PasswordlessType string `json:"passwordlessType"`
}

type loginJSON struct {
	User       userJSON `json:"user"`
	State      string   `json:"state,omitempty"`
	RedirectTo string   `json:"redirectTo"`
}

func sentBody(sent *auth.Sent, now time.Time) sentJSON {
	return sentJSON{
		AuthRequestID:    sent.ChallengeID,
		ExpiresAt:        sent.ExpiresAt.Unix(),
		ExpiresIn:        max(0, int(sent.ExpiresAt.Sub(now).Round(time.Second)/time.Second)),
		PasswordlessType: string(sent.Type),
	}
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email      string `json:"email"`
		State      string `json:"state"`
		Template   string `json:"template"`
		RedirectTo string `json:"redirectTo"`
		// Locale is the language of the mail (a BCP 47 tag, or a list as
		// ui_locales writes it).
		Locale string `json:"locale"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	sent, err := s.send(r, body.Email, body.State, body.Template, body.RedirectTo, body.Locale)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setAuthRequestCookie(w, sent.ChallengeID, sent.Binding, sent.ExpiresAt)
	writeJSON(w, http.StatusOK, sentBody(sent, s.clock.Now()))
}

// send checks the redirect target and the locale and asks the provider
// for an email: in the language the request names (locale), else the
// user's stored one, else the browser's.
func (s *Server) send(r *http.Request, email, state, template, redirectTo, locale string) (*auth.Sent, error) {
	if err := checkLocaleField(locale); err != nil {
		return nil, err
	}
	target, err := s.redirects.Check(redirectTo)
	if err != nil {
		return nil, err
	}
	return s.login.Send(r.Context(), auth.SendRequest{
		Email: email, State: state, Template: template, RedirectTo: target, Caller: s.caller(r),
		Locale: s.chosenLocale(locale), FallbackLocale: s.browserLocale(r),
	})
}

func (s *Server) handleResend(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AuthRequestID string `json:"authRequestId"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	sent, err := s.login.Resend(r.Context(), body.AuthRequestID, s.caller(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.refreshAuthRequestCookie(w, r, sent)
	writeJSON(w, http.StatusOK, sentBody(sent, s.clock.Now()))
}

// refreshAuthRequestCookie moves the cookie's expiry with the challenge's,
// when this browser holds the cookie of that challenge.
func (s *Server) refreshAuthRequestCookie(w http.ResponseWriter, r *http.Request, sent *auth.Sent) {
	if id, binding := authRequest(r); id == sent.ChallengeID && binding != "" {
		s.setAuthRequestCookie(w, id, binding, sent.ExpiresAt)
	}
}

func (s *Server) handleVerifyCode(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code          string `json:"code"`
		AuthRequestID string `json:"authRequestId"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	login, err := s.login.VerifyCode(r.Context(), body.AuthRequestID, body.Code, s.caller(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.signIn(w, r, login); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.loginBody(login))
}

// signIn starts a session for a verified login and sets its cookie. The
// token is always new, so a cookie planted before login is never adopted.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, login *auth.Login) error {
	info := auth.SessionInfo{Method: login.Method, Device: deviceName(r.UserAgent()), Network: limitKey(stateOf(r.Context()).clientIP)}
	token, sess, err := s.sessions.StartSession(r.Context(), login.User, info)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, token, sess.ExpiresAt)
	s.clearCookie(w, authRequestCookie)
	return nil
}

func (s *Server) loginBody(login *auth.Login) loginJSON {
	return loginJSON{User: userJSON{ID: login.User.ID, Email: login.User.Email}, State: login.State, RedirectTo: s.landing(login)}
}

// landing is where a person goes after signing in.
func (s *Server) landing(login *auth.Login) string {
	if login.RedirectTo != "" {
		return login.RedirectTo
	}
	return s.appURL
}

// linkInput reads a magic-link proof from a form or JSON body, accepting
// both the snake_case names of the link and lowerCamel ones.
func (s *Server) linkInput(r *http.Request) (auth.LinkProof, bool, error) {
	var p auth.LinkProof
	switch {
	case isForm(r):
		if err := parseForm(r); err != nil {
			return p, true, err
		}
		p.Token = first(r.PostForm.Get("link_token"), r.PostForm.Get("linkToken"))
		p.ChallengeID = first(r.PostForm.Get("auth_request_id"), r.PostForm.Get("authRequestId"))
		p.Binding = bindingFor(r, p.ChallengeID)
		p.Caller = s.caller(r)
		return p, true, nil
	case isJSON(r):
		var body struct {
			LinkToken      string `json:"linkToken"`
			LinkTokenSnake string `json:"link_token"`
			ID             string `json:"authRequestId"`
			IDSnake        string `json:"auth_request_id"`
		}
		if err := decodeJSON(r, &body); err != nil {
			return p, false, err
		}
		if body.LinkToken != "" && body.LinkTokenSnake != "" {
			return p, false, auth.FieldError("linkToken", "and link_token are two names for one field: send one")
		}
		if body.ID != "" && body.IDSnake != "" {
			return p, false, auth.FieldError("authRequestId", "and auth_request_id are two names for one field: send one")
		}
		p.Token = first(body.LinkToken, body.LinkTokenSnake)
		p.ChallengeID = first(body.ID, body.IDSnake)
		p.Binding = bindingFor(r, p.ChallengeID)
		p.Caller = s.caller(r)
		return p, false, nil
	}
	return p, false, unsupportedMedia()
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) handleVerifyLink(w http.ResponseWriter, r *http.Request) {
	proof, form, err := s.linkInput(r)
	if err == nil {
		var login *auth.Login
		if login, err = s.login.VerifyLink(r.Context(), proof); err == nil {
			if err = s.signIn(w, r, login); err == nil {
				if form {
					http.Redirect(w, r, s.landing(login), http.StatusSeeOther)
					return
				}
				writeJSON(w, http.StatusOK, s.loginBody(login))
				return
			}
		}
	}
	if form {
		s.renderLinkError(w, r, err)
		return
	}
	s.writeError(w, r, err)
}

// The states of a pending sign-in, as GET /api/auth/passwordless/status
// tells the login page that waits for it.
const (
	statusPending  = "pending"   // the email's code or link is still to be used
	statusSignedIn = "signed_in" // this browser has a session (another tab used the link)
	statusGone     = "gone"      // used elsewhere (another device) or expired
)

type statusJSON struct {
	Status     string `json:"status"`
	RedirectTo string `json:"redirectTo,omitempty"`
}

// handleStatus answers a login page that waits for its email. It speaks
// only of this browser: a session cookie (set by another tab that opened
// the link) means signed in; otherwise the httpOnly latch_auth_request
// cookie names the challenge and proves the browser asked for it, so no
// other browser can learn anything about it. Nothing is consumed.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	_, err := s.sessions.Authenticate(r.Context(), sessionToken(r))
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, statusJSON{Status: statusSignedIn, RedirectTo: s.appURL})
		return
	case auth.ErrorCode(err) != auth.CodeUnauthorized:
		s.writeError(w, r, err)
		return
	}
	id, binding := authRequest(r)
	switch {
	case id == "" || binding == "":
		writeJSON(w, http.StatusOK, statusJSON{Status: statusGone})
	case s.watcher == nil:
		writeJSON(w, http.StatusOK, statusJSON{Status: statusPending})
	default:
		pending, err := s.watcher.ChallengePending(r.Context(), id, binding)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		st := statusGone
		if pending {
			st = statusPending
		}
		writeJSON(w, http.StatusOK, statusJSON{Status: st})
	}
}

type meJSON struct {
	User    userJSON `json:"user"`
	Session struct {
		ExpiresAt int64 `json:"expiresAt"`
	} `json:"session"`
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	sess := stateOf(r.Context()).session // signedIn looked
	if sess == nil {
		var err error
		if sess, err = s.requestSession(w, r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	var body meJSON
	body.User = userJSON{ID: sess.UserID, Email: sess.Email}
	body.Session.ExpiresAt = sess.Deadline().Unix()
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	scope := r.URL.Query().Get("scope")
	if scope != "" && scope != "global" && scope != "local" {
		s.writeError(w, r, auth.FieldError("scope", "must be global or local"))
		return
	}
	if err := s.sessions.Logout(r.Context(), sessionToken(r), scope == "global"); err != nil {
		if auth.ErrorCode(err) == auth.CodeUnauthorized {
			s.clearCookie(w, sessionCookie)
		}
		s.writeError(w, r, err)
		return
	}
	s.clearCookie(w, sessionCookie)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}
