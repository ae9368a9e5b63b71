// Package jsonkeys holds JSON objects to the names of a struct's fields
// exactly. encoding/json matches keys regardless of case and lets the
// last of two spellings win, so {"email":"a@x","EMAIL":"b@y"} would mail
// b@y while a proxy or WAF that reads keys exactly sees a@x. The API's
// bodies and the admin commands' arguments are both checked here.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
)

// Check checks the keys of the JSON object in body against the fields of
// the struct v points to: each must be a field's JSON name exactly, and
// appear once; otherwise it returns an auth.FieldError naming the key.
// Anything that is not a JSON object, or not valid JSON, passes: the
// decoder that follows refuses it in its own words.
func Check(body []byte, v any) error {
	names := fieldNames(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		shown := key
		if len(shown) > 64 {
			shown = shown[:64] + "…"
		}
		switch {
		case !names[key]:
			return auth.FieldError(shown, "is not a known field (names are case-sensitive)")
		case seen[key]:
			return auth.FieldError(shown, "appears more than once")
		}
		seen[key] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return nil
		}
	}
	return nil
}

// fieldNames are the JSON names of a struct's fields.
func fieldNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return names
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}
