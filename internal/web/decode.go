package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 16 << 10

// isJSON reports whether r declares a JSON body.
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

func unsupportedMedia() error {
	return auth.Errorf(auth.CodeUnsupportedMedia, "Send the request body as JSON (Content-Type: application/json).")
}

func tooLarge() error {
	return auth.Errorf(auth.CodePayloadTooLarge, "The request body is larger than %d KiB.", MaxBodyBytes>>10)
}

// decodeJSON reads one JSON object into v, a pointer to a struct of
// tagged fields, refusing other content types, unknown fields, keys that
// differ from a field's name in case only or appear twice, trailing data
// and bodies over the limit.
func decodeJSON(r *http.Request, v any) error {
	if !isJSON(r) {
		return unsupportedMedia()
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := exactKeys(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return auth.Errorf(auth.CodeInvalidRequest, "The request body must hold one JSON object.")
	}
	return nil
}

// exactKeys checks the keys of the JSON object in body against the fields
// of the struct v points to: each must be a field's name exactly, once.
// encoding/json matches keys case-insensitively and lets the last of two
// spellings win, so {"email":"a@x","EMAIL":"b@y"} would mail b@y while a
// proxy or WAF that reads keys exactly sees a@x. Anything that is not an
// object is left for the decoder to refuse.
func exactKeys(body []byte, v any) error {
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
		if len(key) > 64 {
			key = key[:64] + "…"
		}
		switch {
		case !names[key]:
			return auth.FieldError(key, "is not a known field (names are case-sensitive)")
		case seen[key]:
			return auth.FieldError(key, "appears more than once")
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

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, tooLarge()
	}
	if err != nil {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "The request body could not be read.")
	}
	return body, nil
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return auth.Errorf(auth.CodeInvalidRequest, "The request body is not valid JSON.")
	case errors.Is(err, io.EOF):
		return auth.Errorf(auth.CodeInvalidRequest, "The request body is empty; send a JSON object.")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return auth.Errorf(auth.CodeInvalidRequest, "The request body must be a JSON object.")
		}
		return auth.FieldError(field, "has the wrong type")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for this case; its message is
		// documented and stable, so reading it is the only way to name the field.
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return auth.FieldError(field, "is not a known field")
	}
	return auth.Errorf(auth.CodeInvalidRequest, "The request body is not valid JSON.")
}

// parseForm parses a urlencoded body within the size limit.
func parseForm(r *http.Request) error {
	r.Body = http.MaxBytesReader(nil, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return tooLarge()
		}
		return auth.Errorf(auth.CodeInvalidRequest, "The form could not be read.")
	}
	return nil
}
