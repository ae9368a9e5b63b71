package main

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEventsOverTheAdminAPI: a webhook event that the receiver refuses
// for good is listed by GET /api/admin/events/failed and sent again by
// `latch events replay ID --url`, with its webhook-id; `latch events
// failed --url` then lists nothing.
func TestEventsOverTheAdminAPI(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	var mu sync.Mutex
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get("webhook-id"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	key := make([]byte, 32)
	rand.Read(key)
	env, secret := adminEnv(t, "WEBHOOK_URL", rcv.URL+"/hooks", "WEBHOOK_SECRET", "whsec_"+base64.StdEncoding.EncodeToString(key),
		"WEBHOOK_RETRY_BASE_DELAY", "100ms")
	l := startLatch(t, env)
	a := mustAdmin(t, l.base, secret)
	a.want(201, "POST", "/api/admin/users", map[string]string{"email": "grace@example.com"}, nil)

	var failed []failedJSON
	waitFor(t, "a dead letter", 20*time.Second, func() bool {
		a.want(200, "GET", "/api/admin/events/failed", nil, &failed)
		return len(failed) == 1
	})
	if f := failed[0]; f.Type != "user.created" || !f.Replayable {
		t.Fatalf("the dead letter: %+v", f)
	}
	remote := map[string]string{"LATCH_CLIENT_ID": "ops", "LATCH_CLIENT_SECRET": secret}
	if out := mustCLI(t, remote, "events", "failed", "--url", l.base); !strings.Contains(out, failed[0].ID) {
		t.Fatalf("events failed --url:\n%s", out)
	}
	refuse.Store(false)
	if out := mustCLI(t, remote, "events", "replay", failed[0].ID, "--url", l.base); !strings.Contains(out, "queued "+failed[0].ID) {
		t.Fatalf("events replay --url:\n%s", out)
	}
	waitFor(t, "the replayed event", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && got[0] == failed[0].ID
	})
	if out := mustCLI(t, remote, "events", "failed", "--url", l.base); !strings.Contains(out, "no failed webhook events") {
		t.Fatalf("events failed --url after the replay:\n%s", out)
	}
	s, _, raw := a.do("POST", "/api/admin/events/failed/"+failed[0].ID+"/replay", nil, "")
	wantError(t, "a second replay", s, raw, 404, "not_found")
}
