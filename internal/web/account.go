package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/latch-auth/latch/internal/auth"
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
	now := s.clock.Now()
	rows := make([]sessionRow, 0, len(list))
	for _, o := range list {
		rows = append(rows, sessionRow{
			ID:       o.ID,
			Device:   first(o.Device, "A browser"),
			Network:  first(o.Network, "an unknown network"),
			LastSeen: ago(now.Sub(o.LastSeenAt)),
			Current:  o.ID == sess.ID,
		})
	}
	keys, err := s.passkeyRows(r.Context(), sess.UserID)
	if err != nil {
		s.renderUnavailable(w, r, err)
		return
	}
	d := pageData{Title: "Your account", User: sess, Sessions: rows, Notice: accountNotice(r), PasskeyList: keys}
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
		s.renderPage(w, r, http.StatusOK, "account", pageData{Title: "Delete your account", User: sess, ConfirmDelete: true})
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
	return sess, true
}

func (s *Server) renderUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.renderPage(w, r, Status(auth.ErrorCode(err)), "notfound", pageData{Title: "Unavailable", Error: s.pages.messages["unavailable"]})
}

func accountNotice(r *http.Request) string {
	if r.URL.Query().Get("ended") != "" {
		return "That session is signed out."
	}
	return ""
}

// ago says how long ago something was, as a person reads it.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return plural(int(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
