package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
)

// DecodeArgs reads a command's JSON arguments into v, a pointer to a
// struct of tagged fields. Every key must be a field's name exactly and
// appear once (encoding/json alone matches keys regardless of case and
// lets the last of two win); anything else is an invalid_request error
// naming the field, so that bad input changes nothing. No arguments
// (nil or null) leave v as it is.
func DecodeArgs(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] != '{' {
		return auth.Errorf(auth.CodeInvalidRequest, "The arguments must be one JSON object.")
	}
	names := fieldNames(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token() // {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return auth.Errorf(auth.CodeInvalidRequest, "The arguments are not valid JSON.")
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
		if err := dec.Decode(&skip); err != nil {
			return auth.Errorf(auth.CodeInvalidRequest, "The arguments are not valid JSON.")
		}
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return auth.FieldError(typ.Field, "has the wrong type")
		}
		return auth.Errorf(auth.CodeInvalidRequest, "The arguments are not valid JSON.")
	}
	if strict.More() {
		return auth.Errorf(auth.CodeInvalidRequest, "The arguments must be one JSON object.")
	}
	return nil
}

func fieldNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
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
