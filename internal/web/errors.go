package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[auth.Code]int{
	auth.CodeInvalidRequest:   http.StatusBadRequest,
	auth.CodeInvalidEmail:     http.StatusBadRequest,
	auth.CodeInvalidCode:      http.StatusBadRequest,
	auth.CodeExpired:          http.StatusGone,
	auth.CodeTooManyAttempts:  http.StatusTooManyRequests,
	auth.CodeRateLimited:      http.StatusTooManyRequests,
	auth.CodeUnauthorized:     http.StatusUnauthorized,
	auth.CodeCrossOrigin:      http.StatusForbidden,
	auth.CodeDifferentBrowser: http.StatusForbidden,
	auth.CodeInvalidRedirect:  http.StatusBadRequest,
	auth.CodeForbidden:        http.StatusForbidden,
	auth.CodePayloadTooLarge:  http.StatusRequestEntityTooLarge,
	auth.CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	auth.CodeNotFound:         http.StatusNotFound,
	auth.CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	auth.CodeUpstream:         http.StatusBadGateway,
	auth.CodeUnavailable:      http.StatusServiceUnavailable,
	auth.CodeInternal:         http.StatusInternalServerError,
}

// Status returns the HTTP status for an error code.
func Status(code auth.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the one shape of every JSON error.
type errorBody struct {
	Error     string         `json:"error"`
	Code      auth.Code      `json:"code"`
	RequestID string         `json:"requestId"`
	Details   map[string]any `json:"details,omitempty"`
}

// publicError returns what may be shown of err: its own message for a
// known code, a fixed sentence for anything internal.
func publicError(err error) *auth.Error {
	var e *auth.Error
	if errors.As(err, &e) && e.Code != auth.CodeInternal {
		return e
	}
	return &auth.Error{Code: auth.CodeInternal, Message: "Internal server error."}
}

// failure is what every error answer starts with: the part of err that
// may be shown, a log line for what a person should look at, and
// Retry-After when the error says how long to wait.
func (s *Server) failure(w http.ResponseWriter, r *http.Request, err error) *auth.Error {
	e := publicError(err)
	s.logError(r, Status(e.Code), err)
	if ra, ok := intDetail(e.Details, "retryAfter"); ok {
		w.Header().Set("Retry-After", strconv.Itoa(ra))
	}
	return e
}

// writeError writes err in the one JSON error shape.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := s.failure(w, r, err)
	writeJSON(w, Status(e.Code), errorBody{Error: e.Message, Code: e.Code, RequestID: RequestID(r.Context()), Details: e.Details})
}

// middlewareError answers a request that a middleware refused: in the
// JSON shape for API clients, as a page for people on the HTML routes.
func (s *Server) middlewareError(w http.ResponseWriter, r *http.Request, err error) {
	if isAPI(r) || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		s.writeError(w, r, err)
		return
	}
	e := s.failure(w, r, err)
	d := pageData{Title: "title.error", Error: s.pageError(r, e)}
	if !s.cfg.Production {
		d.DevNote = e.Message
	}
	s.renderPage(w, r, Status(e.Code), "notfound", d)
}

// pageError is what a page says of e, in the page's language: the login
// page's sentence for its code. The JSON API's error field stays the
// engine's English, for developers; apps speak to people by code.
func (s *Server) pageError(r *http.Request, e *auth.Error) string {
	return s.lang(r).problem(e, "page", "", s.cfg.CodeLength).text
}

func (s *Server) logError(r *http.Request, status int, err error) {
	switch {
	case status >= 500:
		s.log.ErrorContext(r.Context(), "request failed", "status", status, "err", err, "requestId", RequestID(r.Context()))
	case status == http.StatusTooManyRequests:
		s.log.InfoContext(r.Context(), "request limited", "status", status, "code", auth.ErrorCode(err), "requestId", RequestID(r.Context()))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"Internal server error.","code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError writes err in the one JSON error shape, for the routes
// mounted through Deps.Extra that answer in it (the admin API): the
// message of a known code, "Internal server error." for anything else,
// and Retry-After when err says how long to wait. Logging is the caller's.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := publicError(err)
	if ra, ok := intDetail(e.Details, "retryAfter"); ok {
		w.Header().Set("Retry-After", strconv.Itoa(ra))
	}
	writeJSON(w, Status(e.Code), errorBody{Error: e.Message, Code: e.Code, RequestID: RequestID(r.Context()), Details: e.Details})
}
