package web

import (
	"net/http"
	"strings"
	"time"
)

// Cookie names of the contract.
const (
	sessionCookie     = "latch_session"
	authRequestCookie = "latch_auth_request"
)

func (s *Server) secureCookies() bool {
	return s.cfg.Production || s.cfg.BaseURL.Scheme == "https"
}

func (s *Server) cookie(name, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		Domain:   s.cfg.CookieDomain,
		HttpOnly: true,
		Secure:   s.secureCookies(),
		SameSite: http.SameSiteLaxMode,
	}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
		c.MaxAge = max(1, int(time.Until(expires).Seconds()))
	}
	return c
}

// setSessionCookie hands the browser its session token.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, s.cookie(sessionCookie, token, expires))
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, s.cookie(name, "", time.Time{}))
}

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// The auth-request cookie holds "<authRequestId>.<binding>": the id lets
// the login page pick up where it was, and the binding secret proves that
// a magic link is opened in the browser that asked for it.
func (s *Server) setAuthRequestCookie(w http.ResponseWriter, id, binding string, expires time.Time) {
	http.SetCookie(w, s.cookie(authRequestCookie, id+"."+binding, expires))
}

// authRequest returns the id and binding in the request's auth-request cookie.
func authRequest(r *http.Request) (id, binding string) {
	c, err := r.Cookie(authRequestCookie)
	if err != nil {
		return "", ""
	}
	// The binding is base64url and has no '.', an id from elsewhere might.
	i := strings.LastIndexByte(c.Value, '.')
	if i < 0 {
		return c.Value, ""
	}
	return c.Value[:i], c.Value[i+1:]
}

// bindingFor returns the browser's binding secret for challenge id, or ""
// when the cookie belongs to another login.
func bindingFor(r *http.Request, id string) string {
	cid, binding := authRequest(r)
	if id != "" && cid != id {
		return ""
	}
	return binding
}
