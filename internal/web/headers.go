package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
)

// securityHeaders sets the headers every response carries. The default
// Content-Security-Policy allows nothing, which suits JSON; HTML pages
// replace it with pagePolicy. Referrer-Policy no-referrer keeps the magic
// link's token out of Referer when the confirm page loads its assets or
// the person follows a link from it.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	// The values are built once and shared by every response: the header
	// map takes them as they are (no allocation per request), and net/http
	// never changes a value slice it is given.
	fixed := map[string][]string{
		"Content-Security-Policy":      {"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
		"X-Content-Type-Options":       {"nosniff"},
		"Referrer-Policy":              {"no-referrer"},
		"X-Frame-Options":              {"DENY"},
		"Cross-Origin-Opener-Policy":   {"same-origin"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
		"Permissions-Policy":           {"camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"},
	}
	if s.cfg.BaseURL.Scheme == "https" {
		fixed["Strict-Transport-Security"] = []string{"max-age=63072000; includeSubDomains"}
	}
	noStore := []string{"no-store"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range fixed {
			h[k] = v
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h["Cache-Control"] = noStore
		}
		next.ServeHTTP(w, r)
	})
}

// pagePolicy is the Content-Security-Policy of an HTML page: scripts only
// from this origin or carrying the page's nonce, styles and images from
// this origin, forms posting only here or to an allowed landing origin.
func (s *Server) pagePolicy(nonce string) string {
	formAction := "'self'"
	for _, o := range s.redirects.origins {
		formAction += " " + o
	}
	if s.forward != nil {
		for _, src := range s.forward.FormSources() {
			formAction += " " + src
		}
	}
	return "default-src 'self'; script-src 'self' 'nonce-" + nonce + "'; style-src 'self' 'nonce-" + nonce + "'; img-src 'self' data:" + s.logoSource() +
		"; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action " + formAction
}

// nonce returns the request's CSP nonce, making it on first use.
func nonce(r *http.Request) string {
	st := stateOf(r.Context())
	if st.nonce == "" {
		b := make([]byte, 16)
		rand.Read(b)
		st.nonce = base64.RawStdEncoding.EncodeToString(b)
	}
	return st.nonce
}
