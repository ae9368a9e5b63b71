package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/latch-auth/latch/internal/web"
)

// TestSignInStatus: the login page that waits for its email asks
// /api/auth/passwordless/status, and learns only about its own sign-in.
func TestSignInStatus(t *testing.T) {
	status := func(t *testing.T, h *harness, c *http.Client) string {
		t.Helper()
		r := h.get(c, "/api/auth/passwordless/status")
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("status: %d %q %s", r.StatusCode, r.Header.Get("Cache-Control"), r.body)
		}
		s, _ := r.json(t)["status"].(string)
		return s
	}

	t.Run("link used in another tab of this browser", func(t *testing.T) {
		h := newHarness(t, options{})
		_, m := h.send(h.client, "ada@example.com")
		if got := status(t, h, h.client); got != "pending" {
			t.Fatalf("status before the link = %q, want pending", got)
		}
		// Another tab: the same cookie jar.
		mustPost(t, h, h.client, "/api/auth/passwordless/verify", url.Values{"link_token": {linkToken(t, m.Link)}}, http.StatusSeeOther)
		r := h.get(h.client, "/api/auth/passwordless/status")
		if v := r.json(t); v["status"] != "signed_in" || v["redirectTo"] != "/" {
			t.Fatalf("status after the link = %v, want signed_in to /", v)
		}
		// The code typed in the first tab now, without JavaScript: the
		// person is signed in, so on to the app rather than "expired".
		r = h.postForm(h.client, "/login/code", url.Values{"auth_request_id": {m.ChallengeID}, "code": {m.Code}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Fatalf("the code after the link was used in this browser: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
		}
	})

	t.Run("link used on another device", func(t *testing.T) {
		h := newHarness(t, options{})
		_, m := h.send(h.client, "grace@example.com")
		phone := newClient()
		mustPost(t, h, phone, "/api/auth/passwordless/verify", url.Values{"link_token": {linkToken(t, m.Link)}}, http.StatusSeeOther)
		if got := status(t, h, h.client); got != "gone" {
			t.Fatalf("status after the link was used elsewhere = %q, want gone", got)
		}
	})

	t.Run("other browsers learn nothing", func(t *testing.T) {
		h := newHarness(t, options{})
		id, _ := h.send(h.client, "katherine@example.com")
		if got := status(t, h, newClient()); got != "gone" {
			t.Errorf("a browser without the cookie: %q, want gone", got)
		}
		// The id alone (without the binding secret of the browser that asked).
		forged := newClient()
		u, _ := url.Parse(h.srv.URL)
		forged.Jar.SetCookies(u, []*http.Cookie{{Name: "latch_auth_request", Value: id + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}})
		if got := status(t, h, forged); got != "gone" {
			t.Errorf("a browser with the id and a forged binding: %q, want gone", got)
		}
		if got := status(t, h, h.client); got != "pending" {
			t.Errorf("the browser that asked: %q, want pending", got)
		}
	})

	t.Run("expired", func(t *testing.T) {
		h := newHarness(t, options{})
		h.send(h.client, "barbara@example.com")
		h.clock.Advance(6 * 60e9)
		if got := status(t, h, h.client); got != "gone" {
			t.Errorf("status of an expired sign-in = %q, want gone", got)
		}
	})
}

// TestStatusPollsSpendNoRateLimit: many pages waiting behind one address
// poll the status; the polls do not use up the address's /api budget.
func TestStatusPollsSpendNoRateLimit(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.RateLimitMax = 3 }})
	for i := range 10 {
		if r := h.get(h.client, "/api/auth/passwordless/status"); r.StatusCode != http.StatusOK {
			t.Fatalf("poll %d: %d", i+1, r.StatusCode)
		}
	}
	h.send(h.client, "ada@example.com")
}
