package web

import (
	"net/http"
	"net/netip"
)

// loopbackOnly serves h only to a peer on this machine, judged by the
// socket's address and never by X-Forwarded-For: the dev outbox shows
// every code and link, so a request from anywhere else, or one that came
// through a proxy (which would make a remote client look local), is
// answered as if the route did not exist.
func (s *Server) loopbackOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := socketIP(r.RemoteAddr)
		proxied := r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != ""
		if !peer.IsValid() || !peer.IsLoopback() || proxied {
			s.notFound(w, r)
			return
		}
		h(w, r)
	})
}

// isLoopbackHost reports whether a URL's host names this machine:
// localhost, 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
