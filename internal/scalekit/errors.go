package scalekit

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/scalekit/gen/errdetailspb"
)

// The messages below keep Scalekit's wording where apps are known to match
// it by substring: "magiclink_auth_uri is required", "auth request
// expired", "auth_request_id is required", "invalid" for a wrong code and
// "rate" for a limit.
const (
	msgLinkURIRequired   = "magiclink_auth_uri is required"
	msgIDRequired        = "auth_request_id is required"
	msgExpired           = "auth request expired"
	msgInvalidCode       = "invalid code"
	msgTokenEmpty        = "Token empty"
	msgTokenInvalid      = "Token invalid or expired"
	msgInternal          = "internal error"
	msgUnavailable       = "service temporarily unavailable"
	errorInfoType        = "type.googleapis.com/scalekit.v1.errdetails.ErrorInfo"
	errorCodeUnauthentic = "UNAUTHENTICATED"
)

// providerError builds the error a provider call answers with: a gRPC code,
// a message, and an ErrorInfo detail whose error_code names the cause in
// upper case (INVALID_CODE, EXPIRED, RATE_LIMITED, …).
func providerError(code connect.Code, errorCode, msg string) *connect.Error {
	e := connect.NewError(code, errors.New(msg))
	if d, err := connect.NewErrorDetail(&errdetailspb.ErrorInfo{ErrorCode: errorCode}); err == nil {
		e.AddDetail(d)
	}
	return e
}

func invalidArgument(msg string) *connect.Error {
	return providerError(connect.CodeInvalidArgument, strings.ToUpper(string(auth.CodeInvalidRequest)), msg)
}

func unauthenticated(msg string) *connect.Error {
	return providerError(connect.CodeUnauthenticated, errorCodeUnauthentic, msg)
}

// fromEngine translates an engine error into the provider's terms. Field
// problems keep the engine's sentence; the rest use Scalekit's wording.
func fromEngine(err error) *connect.Error {
	var e *auth.Error
	if !errors.As(err, &e) || e.Code == auth.CodeInternal {
		return providerError(connect.CodeInternal, "INTERNAL", msgInternal)
	}
	ec := strings.ToUpper(string(e.Code))
	var ce *connect.Error
	switch e.Code {
	case auth.CodeInvalidCode:
		msg := msgInvalidCode
		if n, ok := e.Details["attemptsRemaining"].(int); ok {
			msg = fmt.Sprintf("%s: %d attempts remaining", msgInvalidCode, n)
		}
		ce = providerError(connect.CodeInvalidArgument, ec, msg)
	case auth.CodeInvalidEmail:
		ce = providerError(connect.CodeInvalidArgument, ec, "invalid email address")
	case auth.CodeInvalidRequest:
		ce = providerError(connect.CodeInvalidArgument, ec, e.Message)
	case auth.CodeExpired:
		ce = providerError(connect.CodeNotFound, ec, msgExpired)
	case auth.CodeTooManyAttempts:
		ce = providerError(connect.CodeResourceExhausted, ec, "rate limit exceeded: too many wrong codes; send a new email")
	case auth.CodeRateLimited:
		msg := "rate limit exceeded: try again later"
		if s, ok := e.Details["retryAfter"].(int); ok {
			msg = fmt.Sprintf("rate limit exceeded: try again in %d seconds", s)
		}
		ce = providerError(connect.CodeResourceExhausted, ec, msg)
	case auth.CodeUnavailable:
		ce = providerError(connect.CodeUnavailable, ec, "service temporarily unavailable")
	default:
		ce = providerError(connect.CodeInternal, "INTERNAL", msgInternal)
	}
	if s, ok := e.Details["retryAfter"].(int); ok {
		ce.Meta().Set("Retry-After", strconv.Itoa(s))
	}
	return ce
}

// httpStatus is the REST status of a gRPC code, as grpc-gateway maps them.
func httpStatus(c connect.Code) int {
	switch c {
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return http.StatusBadRequest
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return http.StatusConflict
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeCanceled:
		return 499
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}
