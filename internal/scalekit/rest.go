package scalekit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/latch-auth/latch/internal/clientauth"
	"github.com/latch-auth/latch/internal/scalekit/gen/errdetailspb"
	pb "github.com/latch-auth/latch/internal/scalekit/gen/passwordlesspb"
)

// The REST face follows grpc-gateway conventions, as Scalekit's does:
// snake_case JSON bodies (lowerCamel accepted on input), errors as
// {"code": <gRPC code>, "message", "details": [ErrorInfo]} with the HTTP
// status of the gRPC code.

type sendJSON struct {
	AuthRequestID    string `json:"auth_request_id"`
	ExpiresAt        int64  `json:"expires_at"`
	ExpiresIn        uint32 `json:"expires_in"`
	PasswordlessType string `json:"passwordless_type"`
}

type verifyJSON struct {
	Email            string  `json:"email"`
	State            *string `json:"state,omitempty"`
	Template         string  `json:"template,omitempty"`
	PasswordlessType string  `json:"passwordless_type"`
}

func sendBody(r *pb.SendPasswordlessResponse) sendJSON {
	return sendJSON{AuthRequestID: r.AuthRequestId, ExpiresAt: r.ExpiresAt, ExpiresIn: r.ExpiresIn, PasswordlessType: r.PasswordlessType.String()}
}

func (p *Provider) handleSend(w http.ResponseWriter, r *http.Request) {
	var m pb.SendPasswordlessRequest
	p.serveREST(w, r, &m, func(ctx context.Context) (any, *connect.Error) {
		res, err := p.send(ctx, &m)
		if err != nil {
			return nil, err
		}
		return sendBody(res), nil
	})
}

func (p *Provider) handleResend(w http.ResponseWriter, r *http.Request) {
	var m pb.ResendPasswordlessRequest
	p.serveREST(w, r, &m, func(ctx context.Context) (any, *connect.Error) {
		res, err := p.resend(ctx, &m)
		if err != nil {
			return nil, err
		}
		return sendBody(res), nil
	})
}

func (p *Provider) handleVerify(w http.ResponseWriter, r *http.Request) {
	var m pb.VerifyPasswordLessRequest
	p.serveREST(w, r, &m, func(ctx context.Context) (any, *connect.Error) {
		res, err := p.verify(ctx, &m)
		if err != nil {
			return nil, err
		}
		body := verifyJSON{Email: res.Email, State: res.State, PasswordlessType: res.PasswordlessType.String()}
		if res.Template != nil {
			body.Template = res.Template.String()
		}
		return body, nil
	})
}

// serveREST authorizes, decodes the body into m, runs op and writes its
// answer or error.
func (p *Provider) serveREST(w http.ResponseWriter, r *http.Request, m proto.Message, op func(ctx context.Context) (any, *connect.Error)) {
	ctx, err := p.authorize(r.Context(), r.Header)
	if err != nil {
		writeRESTError(w, err)
		return
	}
	if err := decodeREST(w, r, m); err != nil {
		writeRESTError(w, err)
		return
	}
	res, err := op(ctx)
	if err != nil {
		writeRESTError(w, err)
		return
	}
	writeRESTJSON(w, http.StatusOK, res)
}

// decodeREST reads a JSON body into m. protojson accepts both the proto
// names (snake_case) and the JSON names (lowerCamel); unknown fields are
// refused. A missing Content-Type is taken as JSON, as grpc-gateway does.
func decodeREST(w http.ResponseWriter, r *http.Request, m proto.Message) *connect.Error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return invalidArgument("Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return invalidArgument("request body is larger than 16 KiB")
	case err != nil:
		return invalidArgument("request body could not be read")
	case len(strings.TrimSpace(string(body))) == 0:
		return invalidArgument("request body is empty; send a JSON object")
	}
	if err := protojson.Unmarshal(body, m); err != nil {
		// protojson's messages are deliberately unstable; keep the gist.
		return invalidArgument("invalid request body: " + strings.TrimSpace(strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\u00a0", " "), "proto:")))
	}
	return nil
}

type restError struct {
	Code    int          `json:"code"`
	Message string       `json:"message"`
	Details []restDetail `json:"details"`
}

type restDetail struct {
	Type      string `json:"@type"`
	ErrorCode string `json:"error_code"`
}

// writeRESTError writes err in grpc-gateway's error shape.
func writeRESTError(w http.ResponseWriter, err *connect.Error) {
	body := restError{Code: int(err.Code()), Message: err.Message(), Details: []restDetail{}}
	for _, d := range err.Details() {
		if v, derr := d.Value(); derr == nil {
			if info, ok := v.(*errdetailspb.ErrorInfo); ok {
				body.Details = append(body.Details, restDetail{Type: errorInfoType, ErrorCode: info.GetErrorCode()})
			}
		}
	}
	if ra := err.Meta().Get("Retry-After"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if err.Code() == connect.CodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latch"`)
	}
	writeRESTJSON(w, httpStatus(err.Code()), body)
}

func writeRESTJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":13,"message":"internal error","details":[]}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// tokenError is an OAuth2 error response (RFC 6749 §5.2).
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// handleToken is the OAuth2 client-credentials token endpoint. Clients
// authenticate with client_id and client_secret in the form body or with
// HTTP Basic; the answer is a short-lived bearer token.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Pragma", "no-cache")
	fail := func(status int, code, desc string) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
		}
		writeRESTJSON(w, status, tokenError{Error: code, Description: desc})
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		fail(http.StatusBadRequest, "invalid_request", "Send the token request as application/x-www-form-urlencoded.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "The form could not be read.")
		return
	}
	form := r.PostForm
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		fail(http.StatusBadRequest, "invalid_request", "grant_type is required.")
		return
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
		return
	}
	id, secret, bad := clientauth.FromRequest(r)
	if bad != nil {
		fail(http.StatusBadRequest, "invalid_request", bad.Description)
		return
	}
	if id == "" || secret == "" {
		fail(http.StatusUnauthorized, "invalid_client", "client_id and client_secret are required.")
		return
	}
	if !p.clients.authenticate(id, secret) {
		p.log.InfoContext(r.Context(), "scalekit: token refused", "clientId", clientauth.LogID(id))
		fail(http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	now := p.clock.Now()
	token, exp, err := p.tokens.Issue(r.Context(), id, now)
	if err != nil {
		p.log.ErrorContext(r.Context(), "scalekit: token key unavailable", "err", err)
		fail(http.StatusServiceUnavailable, "temporarily_unavailable", "The server cannot issue tokens right now; try again shortly.")
		return
	}
	writeRESTJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int(exp.Sub(now).Seconds()),
	})
}
