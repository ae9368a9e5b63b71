package web

import (
	"net/http"
)

// limitBodies caps every request body at MaxBodyBytes. A declared
// Content-Length over the cap is refused before reading; a body that grows
// past it fails when read (decodeJSON and parseForm report 413).
func (s *Server) limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			s.middlewareError(w, r, tooLarge())
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}
