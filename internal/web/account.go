package web

import (
	"net/http"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/i18n"
)

// The account page: who is signed in, their sessions (browser, network,
// last seen) with a sign-out beside each, sign out everywhere, and
// "delete my account" behind a confirmation.

// sessionRow is one session as the account page shows it.
type sessionRow struct {
	ID       string
	Device   string
	Network  string
	LastSeen string
	Current  bool
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	list, err := s.sessions.Sessions(r.Context(), sess.UserID)
	if err != nil {
		s.renderUnavailable(w, r, err)
		return
	}
	l := s.lang(r)
	now := s.clock.Now()
	rows := make([]sessionRow, 0, len(list))
	for _, o := range list {
		rows = append(rows, sessionRow{
			ID:       o.ID,
			Device:   deviceWords(l.Locale, o.Device),
			Network:  first(o.Network, l.T("account.unknown_network")),
			LastSeen: ago(l.Locale, now.Sub(o.LastSeenAt)),
			Current:  o.ID == sess.ID,
		})
	}
	keys, err := s.passkeyRows(r, sess.UserID)
	if err != nil {
		s.renderUnavailable(w, r, err)
		return
	}
	d := pageData{Title: "title.account", User: sess, Sessions: rows, Notice: accountNotice(r, l.Locale), PasskeyList: keys}
	if s.languages != nil {
		for _, o := range s.pages.bundle.Locales() {
			d.Languages = append(d.Languages, languageChoice{Tag: o.Tag(), Name: o.Name(), Selected: o.Tag() == l.Tag()})
		}
	}
	switch done := r.URL.Query().Get("passkey"); done {
	case "added", "renamed", "removed":
		d.PasskeyDone = done
	}
	s.renderPage(w, r, http.StatusOK, "account", d)
}

// handleEndSession signs out one of the person's sessions.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	if err := parseForm(r); err != nil {
		s.renderUnavailable(w, r, err)
		return
	}
	id := r.PostForm.Get("session")
	err := s.sessions.EndSessionOf(r.Context(), sess.UserID, id)
	if err != nil && auth.ErrorCode(err) != auth.CodeExpired {
		s.renderUnavailable(w, r, err)
		return
	}
	if id == sess.ID {
		s.clearCookie(w, sessionCookie)
		http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/?ended=1", http.StatusSeeOther)
}

// handleDeleteAccount asks for a confirmation (GET), then deletes (POST
// with confirm=yes) and signs the browser out.
func (s *Server) handleDeleteAccount(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		s.renderPage(w, r, http.StatusOK, "account", pageData{Title: "title.delete", User: sess, ConfirmDelete: true})
		return
	}
	if err := parseForm(r); err != nil || r.PostForm.Get("confirm") != "yes" {
		http.Redirect(w, r, "/account/delete", http.StatusSeeOther)
		return
	}
	if err := s.sessions.DeleteUser(r.Context(), sess.UserID); err != nil {
		s.renderUnavailable(w, r, err)
		return
	}
	s.clearCookie(w, sessionCookie)
	s.forgetEmail(w)
	http.Redirect(w, r, "/login?deleted=1", http.StatusSeeOther)
}

// accountSession is the signed-in session of an account request, or a
// redirect to /login.
func (s *Server) accountSession(w http.ResponseWriter, r *http.Request) (*auth.Session, bool) {
	sess, err := s.sessions.Authenticate(r.Context(), sessionToken(r))
	if auth.ErrorCode(err) == auth.CodeUnauthorized {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, false
	}
	if err != nil {
		s.renderUnavailable(w, r, err)
		return nil, false
	}
	s.useStoredLocale(r, sess.UserID)
	return sess, true
}

// languageChoice is one language of the account page's picker.
type languageChoice struct {
	Tag, Name string
	Selected  bool
}

// handleLanguage keeps the language the person picked on the account
// page: their pages (when no ui_locales or locale says otherwise) and
// their mails are in it from now on.
func (s *Server) handleLanguage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	if err := parseForm(r); err != nil {
		s.renderUnavailable(w, r, err)
		return
	}
	l, found := s.pages.bundle.Lookup(r.PostForm.Get("locale"))
	if s.languages == nil || !found {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := s.languages.SetUserLocale(r.Context(), sess.UserID, l.Tag()); err != nil {
		s.renderUnavailable(w, r, err)
		return
	}
	http.Redirect(w, r, "/?language=1", http.StatusSeeOther)
}

func (s *Server) renderUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.renderPage(w, r, Status(auth.ErrorCode(err)), "notfound", pageData{Title: "title.unavailable", Error: s.msg(r, "unavailable")})
}

func accountNotice(r *http.Request, l *i18n.Locale) string {
	switch {
	case r.URL.Query().Get("ended") != "":
		return l.T("account.ended")
	case r.URL.Query().Get("language") != "":
		return l.T("account.language_saved")
	}
	return ""
}

// ago says how long ago something was, as a person reads it.
func ago(l *i18n.Locale, d time.Duration) string {
	switch {
	case d < time.Minute:
		return l.T("ago.now")
	case d < time.Hour:
		return l.T("ago.minutes", "n", int(d/time.Minute))
	case d < 48*time.Hour:
		return l.T("ago.hours", "n", int(d/time.Hour))
	}
	return l.T("ago.days", "n", int(d/(24*time.Hour)))
}
