package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/token"
	"github.com/latch-auth/latch/internal/vault"
	"github.com/latch-auth/latch/internal/web"
)

// tokenServer is the web layer with an issuer and one signed-in user.
type tokenServer struct {
	srv    *web.Server
	cookie string // the session cookie's value
	bearer string // an access token of that session
	svc    *auth.Service
}

func mustTokenServer(tb testing.TB) *tokenServer {
	tb.Helper()
	store, clock := memstore.New(), authtest.NewClock(authtest.Epoch)
	svc, err := auth.NewService(authtest.Config(tb, store, clock), store, &authtest.Mailbox{})
	if err != nil {
		tb.Fatal(err)
	}
	vlt, err := vault.New(store, clock, "web-token-test-secret-web-token-test-0123")
	if err != nil {
		tb.Fatal(err)
	}
	base, _ := url.Parse("http://login.example.test")
	iss, err := token.New(token.Config{Issuer: base.String()}, store, vlt, clock)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := web.New(web.Config{BaseURL: base}, web.Deps{Login: svc, Sessions: svc, IPLimiter: store, Clock: clock, Logger: discardLogger(), Tokens: iss})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	cookie, sess, err := svc.StartSession(ctx, auth.User{ID: "usr_bench", Email: "ada@example.com"})
	if err != nil {
		tb.Fatal(err)
	}
	bearer, _, err := iss.MintAccess(ctx, token.AccessRequest{UserID: sess.UserID, Email: sess.Email, SessionID: sess.ID})
	if err != nil {
		tb.Fatal(err)
	}
	return &tokenServer{srv: s, cookie: cookie, bearer: bearer, svc: svc}
}

func (ts *tokenServer) me(header, value string) int {
	req := httptest.NewRequest(http.MethodGet, "http://login.example.test/api/me", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	req.Header.Set(header, value)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	return rec.Code
}

func TestAPIMeByBearer(t *testing.T) {
	ts := mustTokenServer(t)
	for _, tc := range []struct {
		name, header, value string
		want                int
	}{
		{"cookie", "Cookie", "latch_session=" + ts.cookie, 200},
		{"bearer", "Authorization", "Bearer " + ts.bearer, 200},
		{"bearer, scheme in lower case", "Authorization", "bearer " + ts.bearer, 200},
		{"the session cookie as a bearer token", "Authorization", "Bearer " + ts.cookie, 401},
		{"basic", "Authorization", "Basic " + ts.bearer, 401},
		{"empty bearer", "Authorization", "Bearer ", 401},
	} {
		if got := ts.me(tc.header, tc.value); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// Ending the session ends its tokens here.
	if err := ts.svc.Logout(context.Background(), ts.cookie, false); err != nil {
		t.Fatal(err)
	}
	if got := ts.me("Authorization", "Bearer "+ts.bearer); got != 401 {
		t.Fatalf("bearer of an ended session: %d, want 401", got)
	}
}

// BenchmarkAPIMe compares GET /api/me by session cookie (one store read)
// with a bearer access token (a signature check, then the same read to
// see that the session is live), through the whole middleware chain.
func BenchmarkAPIMe(b *testing.B) {
	ts := mustTokenServer(b)
	for _, bc := range []struct{ name, header, value string }{
		{"cookie", "Cookie", "latch_session=" + ts.cookie},
		{"bearer", "Authorization", "Bearer " + ts.bearer},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := ts.me(bc.header, bc.value); code != 200 {
					b.Fatalf("%d", code)
				}
			}
		})
	}
}
