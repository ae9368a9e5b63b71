package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
)

// ForwardAuth is the reverse-proxy face (internal/forwardauth): the two
// questions nginx, Traefik and Caddy ask, and the hosts whose access
// rules let /login send a person back to them (rd).
type ForwardAuth interface {
	// ForwardAuth and AuthRequest write a 200 or a redirect themselves;
	// a returned error is the refusal, for the server to write.
	ForwardAuth(w http.ResponseWriter, r *http.Request) error
	AuthRequest(w http.ResponseWriter, r *http.Request) error
	// Protects reports whether target's host has an access rule.
	Protects(target *url.URL) bool
	// FormSources are CSP sources of the protected hosts, for form-action.
	FormSources() []string
}

// proxyAnswer writes a forward-auth refusal: a page for a browser (the
// proxy shows it to the person), the JSON error shape for anything else.
func (s *Server) proxyAnswer(ask func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := ask(w, r)
		if err == nil {
			return
		}
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			s.writeError(w, r, err)
			return
		}
		e := s.failure(w, r, err)
		title := "title.error"
		if e.Code == auth.CodeForbidden {
			title = "title.forbidden"
		}
		d := pageData{Title: title, Error: s.pageError(r, e)}
		l := s.lang(r)
		email, _ := e.Details["email"].(string)
		host, _ := e.Details["host"].(string)
		switch {
		case e.Code == auth.CodeForbidden && email != "" && host != "":
			d.Error = l.T("msg.forbidden_as", "email", email, "host", host)
		case e.Code == auth.CodeForbidden && host != "":
			d.Error = l.T("msg.no_rule", "host", host)
		case !s.cfg.Production:
			d.DevNote = e.Message // a proxy set up wrong: for whoever sets it up
		}
		s.renderPage(w, r, Status(e.Code), "notfound", d)
	}
}
