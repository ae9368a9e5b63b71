package events

import (
	"encoding/json"
	"flag"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv/kvtest"
)

var update = flag.Bool("update", false, "rewrite the golden record encodings in testdata/records")

// A queued event's record is golden: events queued by this release must
// be delivered and replayed by every later one.
func TestRecordEncodingIsStable(t *testing.T) {
	body, ok := FromAudit(auth.Event{Kind: auth.EventUserUpdated, UserID: "usr_1", Email: "ada@example.org", Changed: "disabled"}, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	if !ok {
		t.Fatal("no webhook event")
	}
	raw, err := body.encode()
	if err != nil {
		t.Fatal(err)
	}
	r := record{Type: body.Type, Body: raw}
	enc, err := encodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.Golden(t, "event.v1", enc, *update, func(b []byte) (any, error) { return decodeRecord(b) }, &r, func(v any) any {
		r := *v.(*record)
		var compact map[string]any
		json.Unmarshal(r.Body, &compact)
		return []any{r.Type, compact}
	})
}
