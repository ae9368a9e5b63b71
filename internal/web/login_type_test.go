package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/web"
)

// typed is a harness whose emails carry what t says, as PASSWORDLESS_TYPE
// sets both the engine and the page.
func typed(t auth.PasswordlessType, codeLength int) options {
	return options{
		auth: func(c *auth.Config) { c.Type, c.CodeLength = t, codeLength },
		web:  func(c *web.Config) { c.PasswordlessType, c.CodeLength = t, codeLength },
	}
}

// TestLoginPageFollowsTheType: the page promises what the email carries —
// no code field when there is no code, no link when there is no link —
// on both steps, in the script's templates too.
func TestLoginPageFollowsTheType(t *testing.T) {
	for _, tc := range []struct {
		typ                 auth.PasswordlessType
		emailStep, codeStep []string // the live step says these
		never               []string // neither step nor template says these
	}{
		{auth.TypeLinkOTP, []string{"a code and a link", "Email me a sign-in code"},
			[]string{"a 6-digit code and a sign-in link", `action="/login/code"`, "Send a new code"}, nil},
		{auth.TypeOTP, []string{"send you a 6-digit code", "Email me a sign-in code"},
			[]string{"We sent a 6-digit code to", `action="/login/code"`, "Send a new code"},
			[]string{"sign-in link", "a link", "the link"}},
		{auth.TypeLink, []string{"send you a link", "Email me a sign-in link"},
			[]string{"We sent a sign-in link to", "Open it on this device", "Send a new link", "Continue here"},
			[]string{"code from the email", `action="/login/code"`, "-digit", "Send a new code", "one-time-code"}},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			h := newHarness(t, typed(tc.typ, 6))
			first := h.get(h.client, "/login").body
			email := liveStep(first)
			for _, want := range tc.emailStep {
				if !strings.Contains(email, want) {
					t.Errorf("email step lacks %q", want)
				}
			}
			r := mustPost(t, h, h.client, "/login", url.Values{"email": {"ada@example.com"}}, 200)
			code := liveStep(r.body)
			for _, want := range tc.codeStep {
				if !strings.Contains(code, want) {
					t.Errorf("code step lacks %q:\n%s", want, code)
				}
			}
			m := h.mail.Last(t, "ada@example.com")
			if (m.Code != "") != tc.typ.HasCode() || (m.Link != "") != tc.typ.HasLink() {
				t.Fatalf("the mail has code %q and link %q", m.Code, m.Link)
			}
			for _, never := range tc.never {
				// Visible text and the step templates, not the messages
				// table (which keeps every sentence for the script).
				for name, page := range map[string]string{"email step": withoutMessages(first), "code step": withoutMessages(r.body)} {
					if strings.Contains(page, never) {
						t.Errorf("%s of a %s login says %q", name, tc.typ, never)
					}
				}
			}
			if tc.typ.HasCode() {
				return
			}
			// Resending says "link" too.
			h.clock.Advance(31e9)
			r = mustPost(t, h, h.client, "/login/resend", url.Values{"auth_request_id": {hiddenValue(r.body, "auth_request_id")}}, 200)
			if got := liveStep(r.body); !strings.Contains(got, "Use the link in the newest one: the old link no longer works.") {
				t.Errorf("resend notice of a link login:\n%s", got)
			}
		})
	}
}

// withoutMessages drops the data-messages attribute (every sentence the
// script may need) from a page.
func withoutMessages(body []byte) string {
	s := string(body)
	i := strings.Index(s, ` data-messages="`)
	if i < 0 {
		return s
	}
	j := strings.Index(s[i+len(` data-messages="`):], `"`)
	return s[:i] + s[i+len(` data-messages="`)+j+1:]
}

func TestCodeLengthReadsWell(t *testing.T) {
	h := newHarness(t, typed(auth.TypeOTP, 8))
	if page := liveStep(h.get(h.client, "/login").body); !strings.Contains(page, "send you an 8-digit code") {
		t.Errorf("the email step of 8-digit codes:\n%s", page)
	}
	r := mustPost(t, h, h.client, "/login", url.Values{"email": {"ada@example.com"}}, 200)
	if page := liveStep(r.body); !strings.Contains(page, "We sent an 8-digit code to") {
		t.Errorf("the code step of 8-digit codes:\n%s", page)
	}
}

// TestLinkWithoutTokenSaysWhatHappened: a link cut short (no token) is
// not "something in the form".
func TestLinkWithoutTokenSaysWhatHappened(t *testing.T) {
	h := newHarness(t, options{})
	r := h.get(newClient(), "/api/auth/passwordless/verify?auth_request_id=abc")
	if got := pageError(r.body, "link-error"); r.StatusCode != 400 || !strings.HasPrefix(got, "This sign-in link is incomplete") {
		t.Errorf("a link without a token: %d %q", r.StatusCode, got)
	}
}

// TestUsedLinkInASignedInBrowser: opening a used link again (a second
// tab, a second click) in the browser it signed in offers to continue
// instead of an error.
func TestUsedLinkInASignedInBrowser(t *testing.T) {
	h := newHarness(t, options{})
	_, m := h.send(h.client, "ada@example.com")
	mustPost(t, h, h.client, "/api/auth/passwordless/verify", url.Values{"link_token": {linkToken(t, m.Link)}}, http.StatusSeeOther)

	r := h.get(h.client, linkPath(t, m.Link))
	page := liveStep(r.body)
	if r.StatusCode != 200 || !strings.Contains(page, "You&#39;re signed in") || !strings.Contains(page, `href="/" data-continue>Continue</a>`) {
		t.Errorf("a used link in the signed-in browser: %d\n%s", r.StatusCode, page)
	}
	// Posting it again (a double click) lands in the app too.
	r = mustPost(t, h, h.client, "/api/auth/passwordless/verify", url.Values{"link_token": {linkToken(t, m.Link)}}, 200)
	if !strings.Contains(string(r.body), "You&#39;re signed in") {
		t.Errorf("a used link posted again from the signed-in browser:\n%s", r.body)
	}
	// Elsewhere it is still a used link.
	r = h.get(newClient(), linkPath(t, m.Link))
	if r.StatusCode != http.StatusGone || strings.Contains(string(r.body), "You&#39;re signed in") {
		t.Errorf("a used link in another browser: %d", r.StatusCode)
	}
}

func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("link_token")
}

// TestRedirectNotAllowedIsExplained: a redirect_to that is not allowed is
// dropped, and the log says so; in development the page says so too, and
// how to allow it.
func TestRedirectNotAllowedIsExplained(t *testing.T) {
	const target = "https://app.example.com/after?token=secret-bit"
	for _, production := range []bool{false, true} {
		h := newHarness(t, options{web: func(c *web.Config) { c.Production = production }})
		page := liveStep(h.get(h.client, "/login?redirect_to="+url.QueryEscape(target)).body)
		hasNote := strings.Contains(page, "redirect_to is ignored") && strings.Contains(page, "Add https://app.example.com to REDIRECT_ALLOWLIST")
		if hasNote == production {
			t.Errorf("production=%v: the page shows the note: %v\n%s", production, hasNote, page)
		}
		if strings.Contains(page, `name="redirect_to"`) {
			t.Errorf("production=%v: the dropped target is still in the form", production)
		}
		logs := h.logs.String()
		if !strings.Contains(logs, "redirect_to is neither a path here nor on REDIRECT_ALLOWLIST") || !strings.Contains(logs, "https://app.example.com") {
			t.Errorf("production=%v: the log does not say why:\n%s", production, logs)
		}
		if strings.Contains(logs, "secret-bit") {
			t.Errorf("production=%v: the log holds the whole target URL", production)
		}
	}

	// An allowed target is kept, and a signed-in browser goes there at once.
	h := newHarness(t, options{web: func(c *web.Config) { c.RedirectAllowlist = []string{"https://app.example.com"} }})
	page := liveStep(h.get(h.client, "/login?redirect_to="+url.QueryEscape(target)).body)
	if strings.Contains(page, "ignored") || !strings.Contains(page, `name="redirect_to" value="`+strings.ReplaceAll(target, "&", "&amp;")+`"`) {
		t.Errorf("an allowed target:\n%s", page)
	}
	_, m := h.send(h.client, "ada@example.com")
	mustPost(t, h, h.client, "/api/auth/passwordless/verify", url.Values{"link_token": {linkToken(t, m.Link)}}, http.StatusSeeOther)
	r := h.get(h.client, "/login?redirect_to="+url.QueryEscape(target))
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != target {
		t.Errorf("/login signed in with an allowed redirect_to: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
}
