package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// signIn signs c in as addr by code, with the given User-Agent.
func (h *harness) signIn(c *http.Client, addr, userAgent string) {
	h.t.Helper()
	r := h.do(c, http.MethodPost, "/api/auth/passwordless/email/send", "application/json",
		strings.NewReader(`{"email":"`+addr+`"}`), "User-Agent", userAgent)
	if r.StatusCode != http.StatusOK {
		h.t.Fatalf("send: %d %s", r.StatusCode, r.body)
	}
	id := r.json(h.t)["authRequestId"].(string)
	code := h.mail.Last(h.t, addr).Code
	r = h.do(c, http.MethodPost, "/api/auth/passwordless/email/verify/code", "application/json",
		strings.NewReader(`{"authRequestId":"`+id+`","code":"`+code+`"}`), "User-Agent", userAgent)
	if r.StatusCode != http.StatusOK {
		h.t.Fatalf("verify: %d %s", r.StatusCode, r.body)
	}
}

// TestAccountPageListsAndEndsSessions: the account page lists the person's
// sessions with their browser and network, signs out one of them, and
// deletes the account only after a confirmation.
func TestAccountPageListsAndEndsSessions(t *testing.T) {
	h := newHarness(t, options{})
	phone := newClient()
	laptop := newClient()
	h.signIn(phone, "ada@example.com", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
	h.signIn(laptop, "ada@example.com", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")

	page := string(h.get(laptop, "/").body)
	for _, want := range []string{"Firefox on Linux", "(this browser)", "Safari on iPhone", "last seen just now", "127.0.0.1"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the account page lacks %q:\n%s", want, page)
		}
	}
	// Sign the phone out from the laptop.
	i := strings.Index(page, "Safari on iPhone")
	rest := page[i:]
	j := strings.Index(rest, `name="session" value="`) + len(`name="session" value="`)
	phoneSession := rest[j : j+strings.Index(rest[j:], `"`)]
	r := h.postForm(laptop, "/account/sessions/end", url.Values{"session": {phoneSession}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("ending the phone's session: %d", r.StatusCode)
	}
	if r := h.get(phone, "/api/me"); r.StatusCode != 401 {
		t.Fatalf("the phone is still signed in: %d", r.StatusCode)
	}
	if r := h.get(laptop, "/api/me"); r.StatusCode != 200 {
		t.Fatalf("the laptop was signed out too: %d", r.StatusCode)
	}
	// Another user's session id ends nothing.
	other := newClient()
	h.signIn(other, "grace@example.com", "curl/8")
	h.postForm(other, "/account/sessions/end", url.Values{"session": {phoneSession}})
	if r := h.get(laptop, "/api/me"); r.StatusCode != 200 {
		t.Fatalf("someone else ended Ada's session: %d", r.StatusCode)
	}

	// Deleting needs the confirmation.
	if r := h.get(laptop, "/account/delete"); r.StatusCode != 200 || !strings.Contains(string(r.body), "Delete my account") {
		t.Fatalf("confirmation page: %d", r.StatusCode)
	}
	h.postForm(laptop, "/account/delete", url.Values{})
	if r := h.get(laptop, "/api/me"); r.StatusCode != 200 {
		t.Fatalf("a delete without confirmation went ahead: %d", r.StatusCode)
	}
	r = h.postForm(laptop, "/account/delete", url.Values{"confirm": {"yes"}})
	if r.StatusCode != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "deleted=1") {
		t.Fatalf("delete: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r := h.get(laptop, "/api/me"); r.StatusCode != 401 {
		t.Fatalf("signed in after deleting the account: %d", r.StatusCode)
	}
}
