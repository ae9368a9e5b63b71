package web

import (
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
)

// crossOrigin refuses state-changing requests that a browser sent from
// another site (CSRF), using the standard library's check of
// Sec-Fetch-Site and Origin. Origins on the CORS allow-list
// (CORS_ALLOWED_ORIGINS) are trusted: an app's own sign-out form posts
// from there. Requests without either header (curl, servers) pass: they
// carry no ambient browser credentials. In development the refusal names
// the origin and the setting, for the developer who meets it first.
func (s *Server) crossOrigin(next http.Handler) (http.Handler, error) {
	p := http.NewCrossOriginProtection()
	for _, o := range s.cfg.CORSOrigins {
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := auth.Errorf(auth.CodeCrossOrigin, "This request came from another site and was refused.")
		if o := r.Header.Get("Origin"); !s.cfg.Production && o != "" && o != "null" && len(o) <= 200 {
			err = auth.Errorf(auth.CodeCrossOrigin, "This request came from %s, which is not in CORS_ALLOWED_ORIGINS, so it was refused (cross-site request forgery protection). If that is your app, add %s to CORS_ALLOWED_ORIGINS. (This hint shows in development only.)", o, o)
		}
		s.middlewareError(w, r, err)
	}))
	return p.Handler(next), nil
}
