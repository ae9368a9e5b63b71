package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/web"
)

// The login page without JavaScript: every step is a form post that the
// server answers with a page (browsertest drives the same in Chromium).

// pageError returns the text of the error paragraph #id, or "".
func pageError(body []byte, id string) string {
	m := regexp.MustCompile(`<p id="` + id + `" class="error" role="alert">([^<]*)</p>`).FindSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(string(m[1]), "&#39;", "'")
}

// hiddenValue returns the value of the first hidden input named name.
func hiddenValue(body []byte, name string) string {
	m := regexp.MustCompile(`<input type="hidden" name="` + name + `" value="([^"]*)">`).FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// liveStep is the page without the inert <template> copies of the steps.
func liveStep(body []byte) string {
	return regexp.MustCompile(`(?s)<template.*?</template>`).ReplaceAllString(string(body), "")
}

func mustPost(t *testing.T, h *harness, c *http.Client, path string, form url.Values, status int) response {
	t.Helper()
	r := h.postForm(c, path, form)
	if r.StatusCode != status {
		t.Fatalf("POST %s: %d, want %d\n%s", path, r.StatusCode, status, r.body)
	}
	return r
}

func TestLoginFormsWithoutJavaScript(t *testing.T) {
	h := newHarness(t, options{})
	c := h.client

	r := h.get(c, "/login")
	page := liveStep(r.body)
	for _, want := range []string{`<html lang="en" dir="ltr">`, `action="/login"`, `type="email" autocomplete="email"`, `<label for="email">`} {
		if !strings.Contains(page, want) {
			t.Errorf("email step lacks %s", want)
		}
	}
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("email step has %d h1", n)
	}

	r = mustPost(t, h, c, "/login", url.Values{"email": {" Ada@Example.COM "}}, 200)
	page = liveStep(r.body)
	if !strings.Contains(page, `data-bind="email">Ada@example.com</strong>`) {
		t.Errorf("code step does not show the address:\n%s", page)
	}
	for _, want := range []string{`action="/login/code"`, `autocomplete="one-time-code" inputmode="numeric"`, `<label for="code">`, `action="/login/resend"`, `href="/login?step=email"`} {
		if !strings.Contains(page, want) {
			t.Errorf("code step lacks %s", want)
		}
	}
	id := hiddenValue(r.body, "auth_request_id")
	code := h.mail.Last(t, "Ada@example.com").Code

	r = mustPost(t, h, c, "/login/code", url.Values{"auth_request_id": {id}, "email": {"Ada@example.com"}, "code": {wrongCode(code)}}, 400)
	if got := pageError(r.body, "code-error"); got != "That code isn't right. You have 4 more tries." {
		t.Errorf("wrong code says %q", got)
	}
	if !strings.Contains(string(r.body), `aria-describedby="code-hint code-error" aria-invalid="true"`) {
		t.Error("the code field is not linked to its error")
	}

	r = mustPost(t, h, c, "/login/code", url.Values{"auth_request_id": {id}, "code": {code}}, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/" {
		t.Fatalf("signed in to %q, want /", loc)
	}
	r = h.get(c, "/")
	if r.StatusCode != 200 || !strings.Contains(string(r.body), "Ada@example.com") || !strings.Contains(string(r.body), ">Sign out</button>") {
		t.Fatalf("account page: %d\n%s", r.StatusCode, r.body)
	}
	if r := h.get(c, "/login"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("/login when signed in: %d, want a redirect to the app", r.StatusCode)
	}

	r = mustPost(t, h, c, "/logout", nil, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/login?signed_out=1" {
		t.Fatalf("signed out to %q, want /login?signed_out=1", loc)
	}
	if r := h.get(c, "/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("account after sign-out: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

// A browser that comes back to /login with a sign-in pending (a mini
// browser reloading after the mail app) is at the code step, with the
// address; "Use a different email" goes to the email step, filled in.
func TestLoginPagePicksUpAPendingSignIn(t *testing.T) {
	h := newHarness(t, options{})
	c := h.client
	mustPost(t, h, c, "/login", url.Values{"email": {"ada@example.com"}}, 200)

	page := liveStep(h.get(c, "/login").body)
	if !strings.Contains(page, `data-step="code"`) || !strings.Contains(page, `data-bind="email">ada@example.com<`) {
		t.Fatalf("reloaded /login is not the code step with the address:\n%s", page)
	}
	page = liveStep(h.get(c, "/login?step=email").body)
	if !strings.Contains(page, `data-step="email"`) || !strings.Contains(page, `value="ada@example.com"`) {
		t.Fatalf("/login?step=email is not the email step, filled in:\n%s", page)
	}
	if page := liveStep(h.get(newClient(), "/login").body); !strings.Contains(page, `data-step="email"`) || strings.Contains(page, "ada@example.com") {
		t.Fatal("another browser sees the pending sign-in")
	}
}

// TestLoginErrorsInWords: each error of the contract that a person can
// meet on the login page reads as a sentence, sits next to the field it is
// about, on the step where they can act on it, with the API's status.
func TestLoginErrorsInWords(t *testing.T) {
	type step struct {
		path   string
		form   url.Values
		status int
		field  string // the error's paragraph: email-error, code-error, resend-error
		want   string
	}
	cases := []struct {
		name  string
		opts  options
		steps func(h *harness, id, code string) []step
	}{
		{"no address", options{}, func(*harness, string, string) []step {
			return []step{{"/login", url.Values{"email": {""}}, 400, "email-error", "Enter your email address."}}
		}},
		{"invalid email", options{}, func(*harness, string, string) []step {
			return []step{{"/login", url.Values{"email": {"ada@"}}, 400, "email-error", "That doesn't look like an email address. Check it for typos: it should look like name@example.com."}}
		}},
		{"redirect not allowed", options{}, func(*harness, string, string) []step {
			return []step{{"/login", url.Values{"email": {"bob@example.com"}, "redirect_to": {"https://evil.example/"}}, 400, "email-error", "The page that sent you here asked to go somewhere we don't allow."}}
		}},
		{"no code", options{}, func(_ *harness, id, _ string) []step {
			return []step{{"/login/code", url.Values{"auth_request_id": {id}, "code": {""}}, 400, "code-error", "Enter the 6-digit code from the email."}}
		}},
		{"short code", options{}, func(_ *harness, id, _ string) []step {
			return []step{{"/login/code", url.Values{"auth_request_id": {id}, "code": {"123"}}, 400, "code-error", "The code is 6 digits. Check the email and type it again."}}
		}},
		{"wrong code, then the last try", options{}, func(_ *harness, id, code string) []step {
			s := func(status int, field, want string) step {
				return step{"/login/code", url.Values{"auth_request_id": {id}, "code": {wrongCode(code)}}, status, field, want}
			}
			return []step{
				s(400, "code-error", "That code isn't right. You have 4 more tries."),
				s(400, "code-error", "You have 3 more tries."),
				s(400, "code-error", "You have 2 more tries."),
				s(400, "code-error", "That code isn't right. You have 1 more try."),
				s(400, "email-error", "Too many wrong codes, so that code no longer works. Press “Email me a sign-in code” to get a new one."),
				s(429, "email-error", "Too many wrong codes"),
			}
		}},
		{"expired code", options{}, func(h *harness, id, code string) []step {
			h.clock.Advance(6 * time.Minute)
			return []step{{"/login/code", url.Values{"auth_request_id": {id}, "email": {"ada@example.com"}, "code": {code}}, 410, "email-error", "That code has expired or was already used. Press “Email me a sign-in code” to get a new one."}}
		}},
		{"resend too soon", options{}, func(_ *harness, id, _ string) []step {
			return []step{{"/login/resend", url.Values{"auth_request_id": {id}, "email": {"ada@example.com"}}, 429, "resend-error", "You can ask for a new code in 30 seconds."}}
		}},
		{"resend of an expired sign-in", options{}, func(h *harness, id, _ string) []step {
			h.clock.Advance(6 * time.Minute)
			return []step{{"/login/resend", url.Values{"auth_request_id": {id}, "email": {"ada@example.com"}}, 410, "email-error", "This sign-in has expired, so we can't send a new code for it. Press “Email me a sign-in code” to start again."}}
		}},
		{"too many emails", options{}, func(*harness, string, string) []step {
			s := step{"/login", url.Values{"email": {"ada@example.com"}}, 200, "", ""}
			limited := s
			limited.status, limited.field, limited.want = 429, "email-error", "We've already sent several emails to this address just now. Check your inbox and spam folder for them, or wait "
			return []step{s, limited}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			r := mustPost(t, h, h.client, "/login", url.Values{"email": {"ada@example.com"}}, 200)
			id, code := hiddenValue(r.body, "auth_request_id"), h.mail.Last(t, "ada@example.com").Code
			for i, s := range tc.steps(h, id, code) {
				r := mustPost(t, h, h.client, s.path, s.form, s.status)
				if s.field == "" {
					continue
				}
				got := pageError(r.body, s.field)
				if !strings.Contains(got, s.want) {
					t.Fatalf("step %d: %s says %q, want %q\n%s", i, s.field, got, s.want, liveStep(r.body))
				}
				control := strings.TrimSuffix(s.field, "-error")
				if !regexp.MustCompile(`aria-describedby="[^"]*\b` + s.field + `\b`).MatchString(liveStep(r.body)) {
					t.Errorf("step %d: no control is described by #%s", i, s.field)
				}
				if control != "resend" && !strings.Contains(liveStep(r.body), `id="`+control+`"`) {
					t.Errorf("step %d: the error is not on the %s step", i, control)
				}
				if s.status == 429 && r.Header.Get("Retry-After") == "" && s.field != "email-error" {
					t.Errorf("step %d: 429 without Retry-After", i)
				}
			}
		})
	}
}

func TestLinkPageErrorsInWords(t *testing.T) {
	h := newHarness(t, options{auth: func(c *auth.Config) { c.SameBrowser = true }})
	_, m := h.send(h.client, "ada@example.com")

	r := h.get(newClient(), linkPath(t, m.Link))
	if got := pageError(r.body, "link-error"); !strings.HasPrefix(got, "This link only works in the browser where you asked for it.") {
		t.Errorf("link in another browser says %q", got)
	}
	r = h.get(newClient(), "/api/auth/passwordless/verify?link_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if r.StatusCode != http.StatusGone || !strings.Contains(pageError(r.body, "link-error"), "This sign-in link has expired or was already used.") {
		t.Errorf("unknown link: %d %q", r.StatusCode, pageError(r.body, "link-error"))
	}
}

// TestPagesHaveNoInlineStyleOrScript: the page CSP allows neither, so the
// pages use classes and one external script.
func TestPagesHaveNoInlineStyleOrScript(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.AccentColor = "#0f766e" }})
	c := h.client
	pages := map[string][]byte{"login": h.get(c, "/login").body, "missing": h.get(c, "/nope").body}
	r := mustPost(t, h, c, "/login", url.Values{"email": {"ada@example.com"}}, 200)
	pages["code"] = r.body
	m := h.mail.Last(t, "ada@example.com")
	pages["link"] = h.get(c, linkPath(t, m.Link)).body
	pages["link elsewhere"] = h.get(newClient(), linkPath(t, m.Link)).body
	mustPost(t, h, c, "/login/code", url.Values{"auth_request_id": {hiddenValue(r.body, "auth_request_id")}, "code": {m.Code}}, http.StatusSeeOther)
	pages["account"] = h.get(c, "/").body

	inlineScript := regexp.MustCompile(`<script(\s[^>]*)?>[^<]`)
	for name, body := range pages {
		if strings.Contains(string(body), " style=") {
			t.Errorf("%s page has a style attribute", name)
		}
		if regexp.MustCompile(`\son[a-z]+=`).Match(body) {
			t.Errorf("%s page has an inline event handler", name)
		}
		if inlineScript.Match(body) {
			t.Errorf("%s page has an inline script", name)
		}
		for _, tag := range regexp.MustCompile(`<style[^>]*>`).FindAll(body, -1) {
			if !strings.Contains(string(tag), `nonce="`) {
				t.Errorf("%s page has a <style> without the nonce", name)
			}
		}
	}
}

func TestStaticFilesAreCachedAndCompressed(t *testing.T) {
	h := newHarness(t, options{})
	page := h.get(h.client, "/login").body
	for _, name := range []string{"app.css", "app.js", "favicon.svg"} {
		m := regexp.MustCompile(`"(/static/` + regexp.QuoteMeta(name) + `\?v=[0-9a-f]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("the page does not link %s with a version", name)
		}
		versioned := string(m[1])
		r := h.do(h.client, http.MethodGet, versioned, "", nil, "Accept-Encoding", "gzip")
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("%s: %d, Cache-Control %q", versioned, r.StatusCode, r.Header.Get("Cache-Control"))
		}
		if name != "favicon.svg" {
			if r.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("%s is not compressed", name)
			} else {
				zr, err := gzip.NewReader(strings.NewReader(string(r.body)))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadAll(zr); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
		}
		etag := r.Header.Get("ETag")
		plain := "/static/" + name
		r = h.get(h.client, plain)
		if r.Header.Get("Cache-Control") != "public, no-cache" || r.Header.Get("ETag") != etag {
			t.Errorf("%s: Cache-Control %q ETag %q; want revalidation with %s", plain, r.Header.Get("Cache-Control"), r.Header.Get("ETag"), etag)
		}
		if r := h.do(h.client, http.MethodGet, plain, "", nil, "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d, want 304", plain, r.StatusCode)
		}
	}
	if r := h.get(h.client, "/static/nope.js"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown static file: %d", r.StatusCode)
	}
}

func TestBranding(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.svg")
	svg := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="5"/></svg>`
	if err := os.WriteFile(logo, []byte(svg), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, options{web: func(c *web.Config) {
		c.AppName, c.AccentColor, c.LogoFile = "DevConf Wi-Fi", "#fbbf24", logo
	}})
	r := h.get(h.client, "/login")
	body := string(r.body)
	for _, want := range []string{"<title>Sign in · DevConf Wi-Fi</title>", `<span class="brand-name">DevConf Wi-Fi</span>`, "--accent:#fbbf24;--on-accent:#111827"} {
		if !strings.Contains(body, want) {
			t.Errorf("branded page lacks %s", want)
		}
	}
	m := regexp.MustCompile(`<img src="(/brand/logo\?v=[0-9a-f]+)" alt=""`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no logo on the page")
	}
	r = h.get(h.client, m[1])
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/svg+xml" || string(r.body) != svg || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("logo: %d %q %q", r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"))
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("the logo is served with CSP %q; an SVG must not run scripts", csp)
	}

	notImage := filepath.Join(t.TempDir(), "logo.png")
	os.WriteFile(notImage, []byte("hello"), 0o600)
	if _, err := web.New(web.Config{BaseURL: &url.URL{Scheme: "http", Host: "x"}, LogoFile: notImage}, web.Deps{}); err == nil {
		t.Error("a logo file that is not an image was accepted")
	}
}

func wrongCode(code string) string {
	return string('0'+(code[0]-'0'+1)%10) + code[1:]
}
