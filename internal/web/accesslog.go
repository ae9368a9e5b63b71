package web

import (
	"log/slog"
	"net/http"
	"time"
)

// statusWriter remembers the status and size of a response. It passes
// Flush and Unwrap on, so http.ResponseController keeps working.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// accessLog writes one line per request (id, route, status, duration,
// client) and feeds the HTTP metrics. It never logs query strings or
// bodies, which can hold link tokens and codes.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		st := stateOf(r.Context())
		route := st.route
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		s.metrics.ObserveRequest(route, r.Method, sw.status, d)
		s.log.LogAttrs(r.Context(), levelFor(sw.status), "request",
			slog.String("requestId", st.id),
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int("bytes", sw.bytes),
			slog.Duration("duration", d),
			slog.String("clientIp", st.clientIP),
		)
	})
}

func levelFor(status int) slog.Level {
	if status >= http.StatusInternalServerError {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
