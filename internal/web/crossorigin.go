package web

import (
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
)

// crossOrigin refuses state-changing requests that a browser sent from
// another site (CSRF), using the standard library's check of
// Sec-Fetch-Site and Origin. Origins on the CORS allow-list are trusted.
// Requests without either header (curl, servers) pass: they carry no
// ambient browser credentials.
func (s *Server) crossOrigin(next http.Handler) (http.Handler, error) {
	p := http.NewCrossOriginProtection()
	for _, o := range s.cfg.CORSOrigins {
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.middlewareError(w, r, auth.Errorf(auth.CodeCrossOrigin, "This request came from another site and was refused."))
	}))
	return p.Handler(next), nil
}
