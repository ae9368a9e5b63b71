package clientauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/clientauth"
)

func request(t *testing.T, form url.Values, basicID, basicSecret string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" || basicSecret != "" {
		r.SetBasicAuth(basicID, basicSecret)
	}
	if err := r.ParseForm(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFromRequest(t *testing.T) {
	for _, c := range []struct {
		name                 string
		form                 url.Values
		basicID, basicSecret string
		id, secret           string
		err                  *clientauth.RequestError
	}{
		{name: "form", form: url.Values{"client_id": {"app"}, "client_secret": {"s3cret"}}, id: "app", secret: "s3cret"},
		{name: "public client, id alone", form: url.Values{"client_id": {"spa"}}, id: "spa"},
		{name: "basic, form-urlencoded parts", basicID: "my%20app", basicSecret: "a%2Bb%3Ac", id: "my app", secret: "a+b:c"},
		{name: "basic with the same id in the form", form: url.Values{"client_id": {"app"}}, basicID: "app", basicSecret: "x", id: "app", secret: "x"},
		{name: "not valid form encoding is taken as sent", basicID: "100%", basicSecret: "x", id: "100%", secret: "x"},
		{name: "both ways", form: url.Values{"client_secret": {"x"}}, basicID: "app", basicSecret: "x", err: clientauth.ErrTwoWays},
		{name: "another id in the form", form: url.Values{"client_id": {"other"}}, basicID: "app", basicSecret: "x", err: clientauth.ErrIDMismatch},
		{name: "nothing", id: "", secret: ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, secret, err := clientauth.FromRequest(request(t, c.form, c.basicID, c.basicSecret))
			if err != c.err || id != c.id || secret != c.secret {
				t.Fatalf("got %q %q %v, want %q %q %v", id, secret, err, c.id, c.secret, c.err)
			}
		})
	}
}

func TestLogID(t *testing.T) {
	if got := clientauth.LogID(strings.Repeat("x", 100)); len(got) != 64 {
		t.Fatalf("LogID kept %d bytes", len(got))
	}
	if got := clientauth.LogID("app"); got != "app" {
		t.Fatalf("LogID(app) = %q", got)
	}
}
