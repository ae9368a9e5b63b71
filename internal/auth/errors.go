package auth

import (
	"errors"
	"fmt"

	"github.com/latch-auth/latch/internal/kv"
)

// Code is a stable, machine-readable error code. Clients match on it, so
// the set is fixed by the HTTP contract; transports map each code to a
// status in exactly one table.
type Code string

// The error codes of the HTTP contract.
const (
	CodeInvalidRequest   Code = "invalid_request"
	CodeInvalidEmail     Code = "invalid_email"
	CodeInvalidCode      Code = "invalid_code"
	CodeExpired          Code = "expired"
	CodeTooManyAttempts  Code = "too_many_attempts"
	CodeRateLimited      Code = "rate_limited"
	CodeUnauthorized     Code = "unauthorized"
	CodeCrossOrigin      Code = "cross_origin_request"
	CodeDifferentBrowser Code = "different_browser"
	CodeInvalidRedirect  Code = "invalid_redirect"
	CodeForbidden        Code = "forbidden" // signed in, but not allowed on that site (forward-auth)
	CodePayloadTooLarge  Code = "payload_too_large"
	CodeUnsupportedMedia Code = "unsupported_media_type"
	CodeNotFound         Code = "not_found"
	CodeMethodNotAllowed Code = "method_not_allowed"
	CodeUpstream         Code = "upstream_error"
	CodeUnavailable      Code = "unavailable"
	CodeInternal         Code = "internal"
)

// Error is the one error type that crosses the engine's boundary. Message is
// written for a person and is safe to show; Err is the cause, for logs only.
type Error struct {
	Code    Code
	Message string
	// Details carries structured hints that help a client: field problems,
	// attemptsRemaining, retryAfter (seconds).
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail returns e with one more detail set.
func (e *Error) WithDetail(key string, value any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = value
	return e
}

// ErrorCode reports the code of err: its own if it is (or wraps) an *Error,
// CodeInternal otherwise, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrNotFound is what a Store returns when the thing asked for does not
// exist, has expired, or has been used up. The engine turns it into the
// code the caller should see.
var ErrNotFound = kv.ErrNotFound

// Unavailable wraps a failure of a required part (a store that cannot be
// reached, a queue that cannot accept) so that transports answer 503.
func Unavailable(op string, err error) error {
	return &Error{Code: CodeUnavailable, Message: "The service is temporarily unavailable. Please try again shortly.", Err: fmt.Errorf("%s: %w", op, err)}
}
