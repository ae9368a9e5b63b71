package web

import (
	"context"
	"net/http"
	"sync"
	"time"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "time": s.clock.Now().UTC().Format(time.RFC3339)})
}

// readyTimeout bounds each readiness check, so a hung dependency makes the
// probe fail instead of hang.
const readyTimeout = 2 * time.Second

// handleReady runs every check at once and answers 503 naming each
// failing one: readiness is about serving, so a load balancer takes a
// replica out only when it cannot. An optional check that fails (the mail
// relay) answers "degraded: …" with 200. Failure details of required
// checks go to the log, not to the caller.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	results := make(map[string]string, len(s.ready))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok, degraded := true, false
	for _, c := range s.ready {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			err := c.Fn(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && c.Optional {
				degraded = true
				results[c.Name] = "degraded: " + err.Error()
				return
			}
			if err != nil {
				ok = false
				results[c.Name] = "unavailable"
				s.log.WarnContext(r.Context(), "readiness check failed", "check", c.Name, "err", err)
				return
			}
			results[c.Name] = "ok"
		})
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	if degraded {
		status = "degraded"
	}
	if !ok {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": results})
}
