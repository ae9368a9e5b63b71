package admin

import (
	"encoding/json"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
)

func TestDecodeArgs(t *testing.T) {
	type args struct {
		User   string   `json:"user"`
		Groups []string `json:"groups"`
	}
	var ok args
	if err := DecodeArgs(json.RawMessage(`{"user":"a@example.com","groups":["ops"]}`), &ok); err != nil || ok.User != "a@example.com" || len(ok.Groups) != 1 {
		t.Fatalf("DecodeArgs = %+v, %v", ok, err)
	}
	if err := DecodeArgs(nil, &ok); err != nil {
		t.Fatalf("no arguments: %v", err)
	}
	for name, raw := range map[string]string{
		"unknown field":        `{"usr":"x"}`,
		"case variant":         `{"User":"x"}`,
		"repeated":             `{"user":"x","user":"y"}`,
		"wrong type":           `{"groups":"ops"}`,
		"not an object":        `["x"]`,
		"trailing data":        `{"user":"x"} {}`,
		"broken":               `{"user":`,
		"case variant and one": `{"user":"x","USER":"y"}`,
	} {
		var a args
		err := DecodeArgs(json.RawMessage(raw), &a)
		if auth.ErrorCode(err) != auth.CodeInvalidRequest {
			t.Errorf("%s: DecodeArgs(%s) = %v, want invalid_request", name, raw, err)
		}
	}
}
