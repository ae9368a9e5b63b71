package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
)

// reqState is what the middleware learns about a request, shared down the
// chain through its context: the id, the client address, and the route
// pattern the mux matched (set once the mux has run), and what a page
// decides once (its nonce, its language).
type reqState struct {
	id       string
	clientIP string
	route    string
	nonce    string      // CSP nonce of an HTML page, made on demand
	lang     *pageLocale // the page's language, decided on demand
	// session is the signed-in session the request proved, once a route
	// that is never limited for signed-in callers has looked (signedIn).
	session *auth.Session
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	if st == nil {
		return &reqState{}
	}
	return st
}

// RequestID returns the id of the request ctx belongs to, for other
// packages' log lines (the audit trail).
func RequestID(ctx context.Context) string { return stateOf(ctx).id }

// ClientIP returns the client address of the request ctx belongs to.
func ClientIP(ctx context.Context) string { return stateOf(ctx).clientIP }

// requestIDs is the first middleware: it keeps a well-formed incoming
// X-Request-Id (so ids follow a request across services) or makes one,
// echoes it, and starts the request's shared state.
func requestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !wellFormedID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		st := &reqState{id: id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	})
}

// wellFormedID accepts 1–64 characters of letters, digits, '-', '_', '.',
// so a client cannot inject anything into logs through it.
func wellFormedID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
