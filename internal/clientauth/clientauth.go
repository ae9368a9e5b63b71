// Package clientauth reads the client credentials of an OAuth 2.0 token
// request (RFC 6749 §2.3.1): HTTP Basic, with both parts form-urlencoded
// inside it, or client_id and client_secret in the form body. The token
// endpoints of the OpenID provider, the provider API and the admin API
// all read them here, so they agree on every edge.
package clientauth

import (
	"net/http"
	"net/url"
)

// RequestError is a malformed request, an OAuth invalid_request; its
// Description is a sentence for the client's developer.
type RequestError struct{ Description string }

func (e *RequestError) Error() string { return e.Description }

// The ways a request's credentials can be malformed.
var (
	ErrTwoWays    = &RequestError{"Send the client credentials one way: HTTP Basic or the form, not both."}
	ErrIDMismatch = &RequestError{"client_id differs from the HTTP Basic user."}
)

// FromRequest returns the client id and secret of r, whose PostForm must
// be parsed. Either may be empty (a public client sends its id alone);
// judging them is the caller's.
func FromRequest(r *http.Request) (id, secret string, err *RequestError) {
	id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	bid, bsecret, basic := r.BasicAuth()
	if !basic {
		return id, secret, nil
	}
	if secret != "" {
		return "", "", ErrTwoWays
	}
	bid, bsecret = formDecode(bid), formDecode(bsecret)
	if id != "" && id != bid {
		return "", "", ErrIDMismatch
	}
	return bid, bsecret, nil
}

// LogID is a client id as it may go into a log line: cut to 64 bytes,
// since an unknown one is whatever the caller sent.
func LogID(id string) string {
	if len(id) > 64 {
		return id[:64]
	}
	return id
}

// formDecode undoes the form encoding RFC 6749 puts inside Basic; a
// part that is not valid form encoding is taken as it is.
func formDecode(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
