package forwardauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latch-auth/latch/internal/boltstore"
)

// BenchmarkAsk puts a forward-auth question beside GET /api/me, each
// through the whole web layer (middleware and all) on the embedded store,
// from many goroutines: the question a proxy asks for every request to an
// app should cost about what /api/me does (one session read; the user's
// groups come from a cache).
//
//	go test -run '^$' -bench Ask -benchmem ./internal/forwardauth
func BenchmarkAsk(b *testing.B) {
	store, err := boltstore.Open(b.TempDir(), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	s := newSite(b, siteOptions{store: store, noLimits: true})
	token, _ := s.mustSignIn("ada@example.com")
	h := s.srv.Config.Handler
	for _, bc := range []struct {
		name   string
		path   string
		header []string
	}{
		{"me", "/api/me", nil},
		{"forward-auth", forwardPath, forwardedTo("app.example.com", "/dashboards?org=1")},
		{"auth-request", requestPath, []string{"X-Original-URL", "https://app.example.com/dashboards?org=1"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, "https://login.example.com"+bc.path, nil)
					req.RemoteAddr = "127.0.0.1:40000"
					req.AddCookie(&http.Cookie{Name: "latch_session", Value: token})
					for i := 0; i+1 < len(bc.header); i += 2 {
						req.Header.Set(bc.header[i], bc.header[i+1])
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Errorf("%s: %d %s", bc.path, w.Code, w.Body)
						return
					}
				}
			})
		})
	}
}
