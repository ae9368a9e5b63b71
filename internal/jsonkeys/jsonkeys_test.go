package jsonkeys_test

import (
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/jsonkeys"
)

type body struct {
	Email  string `json:"email"`
	Plain  string
	Hidden string `json:"-"`
	inner  string
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		json, field string // field: "" for no error
	}{
		{`{"email":"a@x","Plain":"p"}`, ""},
		{`{}`, ""},
		{`[1,2]`, ""},     // not an object: the decoder's to refuse
		{`{"email":`, ""}, // not valid JSON: likewise
		{`{"EMAIL":"b@y"}`, "EMAIL"},
		{`{"email":"a@x","email":"b@y"}`, "email"},
		{`{"Hidden":"x"}`, "Hidden"},
		{`{"inner":"x"}`, "inner"},
		{`{"` + strings.Repeat("k", 100) + `":1}`, strings.Repeat("k", 64) + "…"},
	} {
		var v body
		err := jsonkeys.Check([]byte(c.json), &v)
		_ = v.inner // unexported: never a JSON key
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.json, err)
			}
			continue
		}
		ae, ok := err.(*auth.Error)
		fields, _ := ae.Details["fields"].(map[string]string)
		if !ok || ae.Code != auth.CodeInvalidRequest || fields[c.field] == "" {
			t.Errorf("%s: %v, want an invalid_request naming %q", c.json, err, c.field)
		}
	}
}
