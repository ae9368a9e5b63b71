package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/latch-auth/latch/internal/audit"
	"github.com/latch-auth/latch/internal/auth"
)

func TestAuditLineHasContextAndMasksEmail(t *testing.T) {
	var buf bytes.Buffer
	l := audit.New(&buf, audit.Request{
		ID:       func(context.Context) string { return "req-1" },
		ClientIP: func(context.Context) string { return "203.0.113.7" },
	})
	l.Audit(context.Background(), auth.Event{Kind: auth.EventWrongCode, Email: "ada@example.com", ChallengeID: "ch1"})
	var v map[string]any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatalf("audit line is not JSON: %v: %s", err, buf.Bytes())
	}
	want := map[string]any{"msg": "audit", "event": "wrong_code", "requestId": "req-1", "clientIp": "203.0.113.7", "email": "a***@example.com", "authRequestId": "ch1"}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %v, want %v", k, v[k], w)
		}
	}
	if bytes.Contains(buf.Bytes(), []byte("ada@")) {
		t.Fatal("the full address reached the audit log")
	}
}
