package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/jsonkeys"
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
	if err := jsonkeys.Check(body, v); err != nil {
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
