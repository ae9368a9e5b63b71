package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/passkey"
)

// passkeyOptionsFactor is how many times RATE_LIMIT_MAX one address may
// ask for passkey sign-in options per window.
const passkeyOptionsFactor = 10

// Passkeys runs WebAuthn ceremonies and keeps people's passkeys;
// *passkey.Service implements it. Errors are *auth.Error values.
type Passkeys interface {
	BeginRegistration(ctx context.Context, sess *auth.Session) (*passkey.Started, error)
	FinishRegistration(ctx context.Context, sess *auth.Session, binding string, response []byte, name string) (*passkey.Passkey, error)
	BeginLogin(ctx context.Context, redirectTo string) (*passkey.Started, error)
	FinishLogin(ctx context.Context, binding string, response []byte) (*auth.Login, error)
	List(ctx context.Context, userID string) ([]*passkey.Passkey, error)
	Rename(ctx context.Context, userID, id, name string) error
	Remove(ctx context.Context, sess *auth.Session, id string) error
}

// passkeyCookie holds the secret that binds a passkey ceremony to this
// browser: only its hash names the ceremony in the store, and a ceremony
// answered without it has expired. It never leaves the passkey routes.
const (
	passkeyCookie     = "latch_passkey"
	passkeyCookiePath = "/api/auth/passkey/"
)

func (s *Server) setPasskeyCookie(w http.ResponseWriter, binding string) {
	c := s.cookie(passkeyCookie, binding, s.clock.Now().Add(passkey.CeremonyTTL))
	c.Path = passkeyCookiePath
	c.SameSite = http.SameSiteStrictMode
	http.SetCookie(w, c)
}

func (s *Server) clearPasskeyCookie(w http.ResponseWriter) {
	c := s.cookie(passkeyCookie, "", time.Time{})
	c.Path = passkeyCookiePath
	http.SetCookie(w, c)
}

func passkeyBinding(r *http.Request) string {
	if c, err := r.Cookie(passkeyCookie); err == nil {
		return c.Value
	}
	return ""
}

// ceremonyBody is what the browser sends back from navigator.credentials:
// the PublicKeyCredential as JSON (toJSON's shape) and, when adding one,
// a name for it.
type ceremonyBody struct {
	Credential json.RawMessage `json:"credential"`
	Name       string          `json:"name"`
}

func readCeremony(r *http.Request, named bool) (ceremonyBody, error) {
	var body ceremonyBody
	if err := decodeJSON(r, &body); err != nil {
		return body, err
	}
	if len(body.Credential) == 0 || body.Credential[0] != '{' {
		return body, auth.FieldError("credential", "must be the passkey's answer (a JSON object)")
	}
	if !named && body.Name != "" {
		return body, auth.FieldError("name", "is not a known field")
	}
	return body, nil
}

// handlePasskeyLoginOptions starts a passkey sign-in (a button or the
// email field's autofill): {"redirectTo"?} → the options for
// navigator.credentials.get, and the binding cookie.
func (s *Server) handlePasskeyLoginOptions(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RedirectTo string `json:"redirectTo"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	target, err := s.redirects.Check(body.RedirectTo)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	started, err := s.passkeys.BeginLogin(r.Context(), target)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.answerCeremony(w, started)
}

// handlePasskeyLogin finishes a passkey sign-in: the same session, cookie
// and answer as a code's, landing where the sign-in was asked to.
func (s *Server) handlePasskeyLogin(w http.ResponseWriter, r *http.Request) {
	body, err := readCeremony(r, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	login, err := s.passkeys.FinishLogin(r.Context(), passkeyBinding(r), body.Credential)
	s.clearPasskeyCookie(w)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.signIn(w, r, login); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.forgetEmail(w)
	writeJSON(w, http.StatusOK, s.loginBody(login))
}

// handlePasskeyRegisterOptions starts adding a passkey for the signed-in
// person: the options for navigator.credentials.create.
func (s *Server) handlePasskeyRegisterOptions(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessions.Authenticate(r.Context(), sessionToken(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	started, err := s.passkeys.BeginRegistration(r.Context(), sess)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.answerCeremony(w, started)
}

type passkeyJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	CreatedAt  int64  `json:"createdAt"`
	LastUsedAt int64  `json:"lastUsedAt,omitempty"`
}

func passkeyBody(p *passkey.Passkey) passkeyJSON {
	out := passkeyJSON{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.Unix()}
	if !p.LastUsedAt.IsZero() {
		out.LastUsedAt = p.LastUsedAt.Unix()
	}
	return out
}

// handlePasskeyRegister keeps the passkey the browser made:
// {"credential","name"?} → {"passkey":{"id","name","createdAt"}}. Without
// a name it is called after the browser and system it was made on.
func (s *Server) handlePasskeyRegister(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessions.Authenticate(r.Context(), sessionToken(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readCeremony(r, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.passkeys.FinishRegistration(r.Context(), sess, passkeyBinding(r), body.Credential, first(body.Name, deviceName(r.UserAgent())))
	s.clearPasskeyCookie(w)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]passkeyJSON{"passkey": passkeyBody(p)})
}

// handlePasskeyList answers {"passkeys":[…]} of the signed-in person.
func (s *Server) handlePasskeyList(w http.ResponseWriter, r *http.Request) {
	sess, err := s.requestSession(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.passkeys.List(r.Context(), sess.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]passkeyJSON, len(list))
	for i, p := range list {
		out[i] = passkeyBody(p)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string][]passkeyJSON{"passkeys": out})
}

// --- the account page's forms (they work without JavaScript)

// passkeyRow is one passkey as the account page shows it.
type passkeyRow struct {
	ID, Name, Created, LastUsed string
}

func (s *Server) passkeyRows(r *http.Request, userID string) ([]passkeyRow, error) {
	if s.passkeys == nil {
		return nil, nil
	}
	list, err := s.passkeys.List(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	rows := make([]passkeyRow, len(list))
	for i, p := range list {
		rows[i] = passkeyRow{ID: p.ID, Name: p.Name, Created: dateWords(s.lang(r).Locale, p.CreatedAt.UTC())}
		if !p.LastUsedAt.IsZero() {
			rows[i].LastUsed = ago(s.lang(r).Locale, now.Sub(p.LastUsedAt))
		}
	}
	return rows, nil
}

// handlePasskeyRename renames one of the person's passkeys (form:
// passkey, name).
func (s *Server) handlePasskeyRename(w http.ResponseWriter, r *http.Request) {
	s.passkeyForm(w, r, "renamed", func(sess *auth.Session) error {
		return s.passkeys.Rename(r.Context(), sess.UserID, r.PostForm.Get("passkey"), r.PostForm.Get("name"))
	})
}

// handlePasskeyRemove removes one of the person's passkeys (form:
// passkey): it signs nobody in any more, and email still does.
func (s *Server) handlePasskeyRemove(w http.ResponseWriter, r *http.Request) {
	s.passkeyForm(w, r, "removed", func(sess *auth.Session) error {
		return s.passkeys.Remove(r.Context(), sess, r.PostForm.Get("passkey"))
	})
}

func (s *Server) passkeyForm(w http.ResponseWriter, r *http.Request, done string, change func(*auth.Session) error) {
	sess, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	if err := parseForm(r); err != nil {
		s.renderUnavailable(w, r, err)
		return
	}
	err := change(sess)
	switch auth.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/?passkey="+done+"#passkeys", http.StatusSeeOther)
	case auth.CodeNotFound, auth.CodeInvalidRequest:
		// Removed meanwhile (another tab), or an empty name: the page
		// shows the list as it is.
		http.Redirect(w, r, "/#passkeys", http.StatusSeeOther)
	default:
		s.renderUnavailable(w, r, err)
	}
}

// answerCeremony hands a started ceremony to the browser: its binding in
// the passkey cookie, its options as the (uncached) answer.
func (s *Server) answerCeremony(w http.ResponseWriter, started *passkey.Started) {
	s.setPasskeyCookie(w, started.Binding)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, started.Options)
}
