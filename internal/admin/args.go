package admin

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/jsonkeys"
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
	if err := jsonkeys.Check(raw, v); err != nil {
		return err
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
