package browsertest

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestSignInByCode is the main path on a desktop: email, then the code
// step without a reload, then the code typed digit by digit signs in by
// itself and lands on the account page.
func TestSignInByCode(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{})
	const email = "ada@example.com"

	b.open("/login")
	b.mustBeAccessible()
	b.mustHaveAttrs("#email", map[string]string{"type": "email", "autocomplete": "email", "name": "email"})
	b.mustBeFocused("email")
	b.docShots("login-email")

	// The page swaps steps in place: this mark would not survive a reload.
	b.mustDo(chromedp.Evaluate[chromedp.Void](`window.latchNoReload = true`))
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"))
	b.mustDo(waitText("[data-bind=email]", email))
	if !eval[bool](b, `window.latchNoReload === true`) {
		t.Error("the code step came with a page load; want the page to swap steps in place")
	}
	if got := eval[string](b, `document.title`); !strings.HasPrefix(got, "Check your email") {
		t.Errorf("title = %q, want the code step's", got)
	}
	b.mustHaveAttrs("#code", map[string]string{"autocomplete": "one-time-code", "inputmode": "numeric", "name": "code"})
	b.mustBeFocused("code")
	b.mustBeAccessible()
	b.docShots("login-code")

	code := s.mustMail(t, email, 1).Code
	// No click and no Enter: the last digit signs in.
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), code), waitURL("/"), waitText("[data-bind=email]", email))
	b.mustBeAccessible()
	b.docShots("account")
}

// TestWrongCodeThenRightCode shows the error next to the field, in words,
// linked and announced, and then signs in with the right code.
func TestWrongCodeThenRightCode(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{})
	const email = "grace@example.com"

	b.askForCode(email)
	code := s.mustMail(t, email, 1).Code
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), wrong(code)),
		waitText("#code-error", "That code isn't right. You have 4 more tries."))
	b.mustShowError("code")
	b.mustBeFocused("code")
	// The wrong code is selected, so typing the right one replaces it.
	if !eval[bool](b, `(function(){var c=document.getElementById("code");return c.selectionStart===0&&c.selectionEnd===c.value.length&&c.value.length===6})()`) {
		t.Error("after a wrong code the field's text is not selected for retyping")
	}
	b.mustBeAccessible()
	b.docShots("login-error")

	b.mustDo(chromedp.KeyEvent(code), waitURL("/"), waitText("[data-bind=email]", email))
}

// TestSignOut signs in and out with the keyboard only: Enter submits the
// email, the focus moves to the code field, Tab reaches "Sign out" with a
// visible focus ring, and Enter signs out back to /login.
func TestSignOut(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{})
	const email = "katherine@example.com"

	b.open("/login")
	b.mustBeFocused("email")
	b.mustDo(chromedp.KeyEvent(email+kb.Enter), waitVisible("#code"))
	b.mustBeFocused("code")
	b.mustDo(chromedp.KeyEvent(s.mustMail(t, email, 1).Code), waitURL("/"), waitText("[data-bind=email]", email))

	b.mustDo(chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, `document.activeElement.textContent.trim()`); got != "Sign out" {
		t.Fatalf("Tab on the account page focused %q, want the Sign out button", got)
	}
	b.mustHaveVisibleFocus()
	b.shot("account-focus")
	b.mustDo(chromedp.KeyEvent(kb.Enter), waitURL("/login"), waitVisible("#email"))
	b.shot("signed-out")

	// Signed out for real: the account page sends us back to /login.
	b.mustDo(chromedp.Navigate(s.URL+"/"), waitURL("/login"))
}

// TestSignInBySameBrowserLink opens the magic link in the browser that
// asked for it: it signs in with no click.
func TestSignInBySameBrowserLink(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{view: phone})
	const email = "margaret@example.com"

	b.askForCode(email)
	link := s.mustMail(t, email, 1).Link
	if !strings.HasPrefix(link, s.URL+"/api/auth/passwordless/verify?") {
		t.Fatalf("link = %q, want one to this server's confirm page", link)
	}
	b.mustDo(chromedp.Navigate(link), waitURL("/"), waitText("[data-bind=email]", email))
	b.shot("account")
}

// TestSignInByLinkInAnotherBrowser opens the link in another browser
// profile (the mail app's browser): one click signs in there.
func TestSignInByLinkInAnotherBrowser(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{})
	const email = "barbara@example.com"

	b.askForCode(email)
	link := s.mustMail(t, email, 1).Link
	other := b.newTab(b.ctx, "other browser", chromedp.WithNewBrowserContext())
	b.mustDoIn(other, chromedp.Navigate(link), waitText("h1", "Finish signing in"))
	// It waits for the click.
	time.Sleep(300 * time.Millisecond)
	if loc := b.location(other); !strings.Contains(loc, "/api/auth/passwordless/verify") {
		t.Fatalf("another browser left the confirm page by itself for %s; want it to wait for a click", loc)
	}
	b.mustBeAccessibleIn(other)
	b.shotIn(other, "link-other-browser")
	b.mustDoIn(other, chromedp.Click(chromedp.CSS("form button[type=submit]")), waitURL("/"), waitText("[data-bind=email]", email))
	b.shotIn(other, "account-other-browser")
}

// TestLinkInAnotherBrowserWhenSameBrowserIsRequired: with same-browser
// links enforced, another browser is told, in words, to use the code.
func TestLinkInAnotherBrowserWhenSameBrowserIsRequired(t *testing.T) {
	s := mustServer(t, serverOptions{sameBrowser: true})
	b := mustBrowser(t, s, browserOptions{})
	const email = "frances@example.com"

	b.askForCode(email)
	link := s.mustMail(t, email, 1).Link
	other := b.newTab(b.ctx, "other browser", chromedp.WithNewBrowserContext())
	b.mustDoIn(other, chromedp.Navigate(link),
		waitText("#link-error", "This link only works in the browser where you asked for it."))
	b.mustBeAccessibleIn(other)
	b.shotIn(other, "link-different-browser")

	// The browser that asked still signs in by the link, with no click.
	b.mustDo(chromedp.Navigate(link), waitURL("/"), waitText("[data-bind=email]", email))
}

// TestResendCountdown: the resend button counts down the cooldown, sends
// a new code when it reaches zero, and when the per-address limit says no
// it counts down the server's Retry-After and says how long to wait.
func TestResendCountdown(t *testing.T) {
	s := mustServer(t, serverOptions{resendCooldown: 3 * time.Second})
	s.clock.StartMinute()
	b := mustBrowser(t, s, browserOptions{view: phone})
	const email = "hedy@example.com"
	const resend = "form[data-form=resend] button"

	b.askForCode(email)
	b.mustFitPhone()
	if !eval[bool](b, `document.querySelector("form[data-form=resend] button").disabled`) {
		t.Fatal("the resend button is enabled right after sending; want it to count down first")
	}
	b.mustDo(waitText(resend, "Send a new code in "))
	b.shot("countdown")
	b.mustDo(bounded(chromedp.WaitEnabled(chromedp.CSS(resend))), waitText(resend, "Send a new code"))

	b.mustDo(chromedp.Click(chromedp.CSS(resend)), waitText("[data-notice]", "We sent you a new email."))
	second := s.mustMail(t, email, 2)
	b.mustBeFocused("code")
	b.mustDo(waitText(resend, "Send a new code in "))
	b.mustDo(bounded(chromedp.WaitEnabled(chromedp.CSS(resend))))

	// Two emails a minute per address: the third waits for the server.
	b.mustDo(chromedp.Click(chromedp.CSS(resend)), waitText("#resend-error", "You can ask for a new code in "))
	msg := eval[string](b, `document.getElementById("resend-error").textContent`)
	m := regexp.MustCompile(`in (\d+) seconds?\.`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("resend error %q says no wait in seconds", msg)
	}
	wait, _ := strconv.Atoi(m[1])
	left := eval[int](b, `+document.querySelector("form[data-form=resend] button").getAttribute("data-countdown")`)
	// The window began a few seconds before the first email, so the wait
	// is most of a minute; the countdown starts from the same Retry-After.
	if wait < 20 || wait > 60 || left < wait-2 || left > wait {
		t.Errorf("the error says %ds and the countdown shows %ds; want the same wait of at most a minute", wait, left)
	}
	b.mustShowError("resend")
	b.mustBeAccessible()
	b.shot("rate-limited")

	// The newest code signs in.
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), second.Code), waitURL("/"))
}

// TestErrorsInWords walks through the other errors with JavaScript on:
// no address, an invalid one, an expired code, a locked one, and the
// per-address send limit (two emails a minute).
func TestErrorsInWords(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{})
	const email = "dorothy@example.com"

	b.open("/login")
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), kb.Enter), waitText("#email-error", "Enter your email address."))
	b.mustShowError("email")
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), "dorothy@"+kb.Enter),
		waitText("#email-error", "That doesn't look like an email address."))
	b.mustShowError("email")
	b.mustBeAccessible()
	b.shot("invalid-email")

	// Expired: back to the email step, address kept, reason given.
	b.mustDo(chromedp.Evaluate[chromedp.Void](`document.getElementById("email").value = ""`), chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"))
	code := s.mustMail(t, email, 1).Code
	s.clock.Advance(6 * time.Minute)
	s.clock.StartMinute() // the next three emails fall in one window
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), code),
		waitText("#email-error", "That code has expired or was already used."))
	if got := eval[string](b, `document.getElementById("email").value`); got != email {
		t.Errorf("after an expired code the email field holds %q, want %q", got, email)
	}
	b.mustShowError("email")
	b.mustBeAccessible()
	b.shot("expired")

	// Locked after five wrong codes: request a new email.
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), kb.Enter), waitVisible("#code"))
	code = s.mustMail(t, email, 2).Code
	for left := 4; left >= 1; left-- {
		want := fmt.Sprintf("You have %d more tries.", left)
		if left == 1 {
			want = "You have 1 more try."
		}
		b.mustDo(chromedp.KeyEvent(wrong(code)), waitText("#code-error", want))
	}
	b.mustDo(chromedp.KeyEvent(wrong(code)), waitText("#email-error", "Too many wrong codes"))
	b.mustShowError("email")
	b.shot("locked")

	// A new email works; "Use a different email" goes back with the
	// address ready to change; a third email within the minute is refused
	// with the wait, in words.
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), kb.Enter), waitVisible("#code"))
	b.mustDo(chromedp.Click(chromedp.CSS("[data-action=change-email]")), waitVisible("#email"))
	b.mustBeFocused("email")
	if got := eval[string](b, `document.getElementById("email").value`); got != email {
		t.Errorf("Use a different email: the field holds %q, want %q to edit", got, email)
	}
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), kb.Enter), waitText("#email-error", "We've already sent several emails to this address just now."))
	b.mustShowError("email")
	b.mustBeAccessible()
	b.shot("rate-limited")
}

// TestWithoutJavaScript runs the whole code path again with JavaScript
// off, on a phone: every step is a form post and a page from the server.
// Passkeys are on, and need JavaScript: their parts stay out of the way.
func TestWithoutJavaScript(t *testing.T) {
	s := mustServer(t, serverOptions{passkeys: true})
	b := mustBrowser(t, s, browserOptions{noJS: true, view: phone})
	const email = "alan@example.com"

	b.open("/login")
	b.mustBeAccessible()
	b.mustHaveAttrs("#email", map[string]string{"type": "email", "autocomplete": "email webauthn"})
	if eval[bool](b, `!!document.querySelector("[data-action=passkey-login]").getClientRects().length`) {
		t.Fatal("the passkey button shows without JavaScript, where it cannot work")
	}
	b.shot("email")
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"), waitText("[data-bind=email]", email))
	b.mustHaveAttrs("#code", map[string]string{"autocomplete": "one-time-code", "inputmode": "numeric"})
	b.mustBeFocused("code")
	b.mustBeAccessible()
	if eval[bool](b, `document.querySelector("form[data-form=resend] button").disabled`) {
		t.Fatal("the resend button is disabled: the page's script ran, want JavaScript off")
	}
	b.mustFitPhone()
	b.shot("code")

	// Too early for a new code: the wait, in words, by the button.
	b.mustDo(chromedp.Click(chromedp.CSS("form[data-form=resend] button")), waitText("#resend-error", "You can ask for a new code in "))
	b.mustShowError("resend")
	b.shot("resend-too-soon")

	code := s.mustMail(t, email, 1).Code
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), wrong(code)+kb.Enter), waitText("#code-error", "That code isn't right. You have 4 more tries."))
	b.mustShowError("code")
	b.mustBeFocused("code")
	b.mustBeAccessible()
	b.shot("error")

	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), code+kb.Enter), waitURL("/"), waitText("[data-bind=email]", email))
	b.mustBeAccessible()
	b.mustDo(waitText("#passkeys", "Adding a passkey needs JavaScript."))
	b.shot("account")
	b.mustDo(chromedp.Click(chromedp.CSS("form[action='/logout'] button")), waitURL("/login"), waitVisible("#email"))

	// The magic link without JavaScript: one press of the button.
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"))
	link := s.mustMail(t, email, 2).Link
	b.mustDo(chromedp.Navigate(link), waitText("h1", "Finish signing in"))
	b.mustBeAccessible()
	b.shot("link")
	b.mustDo(chromedp.Click(chromedp.CSS("form button[type=submit]")), waitURL("/"), waitText("[data-bind=email]", email))
}

// TestPasteWholeCode pastes a code with words around it, as copied from
// the email, and signs in.
func TestPasteWholeCode(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{view: phone})
	const email = "radia@example.com"

	b.askForCode(email)
	code := s.mustMail(t, email, 1).Code
	b.shot("code")
	pasted := "Your code is " + code[:3] + " " + code[3:] + ". It expires in 5 minutes."
	b.mustDo(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function(){
		var dt = new DataTransfer(); dt.setData("text/plain", %q);
		document.getElementById("code").dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
	})()`, pasted)), waitURL("/"), waitText("[data-bind=email]", email))
	b.shot("account")
}

// TestThemesAndContrast checks text contrast in the light and the dark
// theme, with an error showing, and keeps a dark screenshot.
func TestThemesAndContrast(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{view: phone})
	const email = "annie@example.com"

	b.askForCode(email)
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), "123"+kb.Enter), waitText("#code-error", "The code is 6 digits."))
	for _, theme := range []string{"light", "dark"} {
		b.mustDo(b.theme(theme))
		if got := eval[string](b, `getComputedStyle(document.body).backgroundColor`); (theme == "dark") != (got == "rgb(15, 17, 21)") {
			t.Errorf("%s theme: body background %s", theme, got)
		}
		b.mustHaveContrast(theme)
		b.shot("code-error-" + theme)
	}
	b.mustDo(b.theme("dark"))
	b.open("/login?step=email")
	b.mustHaveContrast("dark")
	b.docShotIn("login-email-dark", phone)
}

// TestBranding: APP_NAME, APP_ACCENT_COLOR change the page, with text on
// the accent that stays readable.
func TestBranding(t *testing.T) {
	s := mustServer(t, serverOptions{appName: "DevConf Wi-Fi", accent: "#fbbf24"})
	b := mustBrowser(t, s, browserOptions{view: phone})

	b.open("/login")
	if got := eval[string](b, `document.title`); got != "Sign in · DevConf Wi-Fi" {
		t.Errorf("title = %q", got)
	}
	if got := eval[string](b, `document.querySelector(".brand").textContent.trim()`); got != "DevConf Wi-Fi" {
		t.Errorf("brand = %q", got)
	}
	button := eval[[]string](b, `(function(){var s=getComputedStyle(document.querySelector("button[type=submit]"));return [s.backgroundColor,s.color]})()`)
	if button[0] != "rgb(251, 191, 36)" || button[1] != "rgb(17, 24, 39)" {
		t.Errorf("button colors = %v, want the amber accent with dark text on it", button)
	}
	b.mustHaveContrast("light")
	b.shot("branded")
}

// --- steps and checks

func (b *browser) open(path string) {
	b.t.Helper()
	b.mustDo(chromedp.Navigate(b.server.URL+path), waitVisible("main h1"))
}

// askForCode sends the email form and waits for the code step.
func (b *browser) askForCode(email string) {
	b.t.Helper()
	b.open("/login")
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"), waitText("[data-bind=email]", email))
}

// wrong returns a code that is not code.
func wrong(code string) string {
	return string('0'+(code[0]-'0'+1)%10) + code[1:]
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return mustRun(b, chromedp.Evaluate[T](expr))
}

func (b *browser) mustHaveAttrs(sel string, want map[string]string) {
	b.t.Helper()
	got := mustRun(b, chromedp.Attributes(chromedp.CSS(sel)))
	for k, v := range want {
		if got[k] != v {
			b.t.Errorf("%s: %s=%q, want %q", sel, k, got[k], v)
		}
	}
}

func (b *browser) mustBeFocused(id string) {
	b.t.Helper()
	if got := eval[string](b, `document.activeElement ? document.activeElement.id : ""`); got != id {
		b.t.Errorf("focus on #%s, want #%s", got, id)
	}
}

// mustShowError checks that the error of a field is shown, announced
// (role=alert) and linked to its control with aria-describedby.
func (b *browser) mustShowError(field string) {
	b.t.Helper()
	control := "#" + field
	switch field {
	case "resend":
		control = "form[data-form=resend] button"
	case "passkey":
		control = "section.step [data-action^=passkey-], #passkeys [data-action^=passkey-]"
	}
	problem := eval[string](b, fmt.Sprintf(`(function(){
		var err = document.getElementById(%q), c = document.querySelector(%q);
		if (!err || !err.textContent.trim()) return "no error text";
		if (err.getAttribute("role") !== "alert") return "the error has no role=alert";
		if (!c) return "no control";
		if ((c.getAttribute("aria-describedby") || "").split(/\s+/).indexOf(err.id) < 0) return "aria-describedby of the control does not name the error";
		if (c.tagName === "INPUT" && c.getAttribute("aria-invalid") !== "true") return "the field is not aria-invalid";
		return "";
	})()`, field+"-error", control))
	if problem != "" {
		b.t.Errorf("error of %s: %s", field, problem)
	}
}

// a11yScript lists what a person with a screen reader or a keyboard
// would trip over: no lang, not one h1, inputs without labels, errors not
// linked or not announced, buttons without names, images without alt,
// positive tabindex.
const a11yScript = `(function(){
	var p = [];
	if (!document.documentElement.lang) p.push("<html> has no lang");
	var h1 = document.querySelectorAll("h1").length;
	if (h1 !== 1) p.push(h1 + " h1 elements");
	if (!document.title.trim()) p.push("no title");
	document.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (el) {
		var named = (el.labels && el.labels.length && el.labels[0].textContent.trim()) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
		if (!named) p.push("no label for " + (el.id || el.name));
		(el.getAttribute("aria-describedby") || "").split(/\s+/).forEach(function (id) {
			if (id && !document.getElementById(id)) p.push(el.id + " describedby missing #" + id);
		});
		if (el.getAttribute("aria-invalid") === "true") {
			var ok = (el.getAttribute("aria-describedby") || "").split(/\s+/).some(function (id) {
				var e = id && document.getElementById(id);
				return e && e.classList.contains("error") && e.textContent.trim();
			});
			if (!ok) p.push(el.id + " is invalid with no error linked by aria-describedby");
		}
	});
	document.querySelectorAll(".error").forEach(function (e) {
		if (!e.textContent.trim()) return;
		if (e.getAttribute("role") !== "alert") p.push("error without role=alert: " + e.textContent.trim());
		var linked = e.id && document.querySelector('[aria-describedby~="' + e.id + '"]');
		var hasFields = document.querySelector("form input:not([type=hidden])");
		if (hasFields && !linked) p.push("error not linked to a field: " + e.textContent.trim());
	});
	document.querySelectorAll("button, a[href]").forEach(function (el) {
		if (!el.textContent.trim() && !el.getAttribute("aria-label")) p.push("a " + el.tagName + " without a name");
	});
	document.querySelectorAll("img").forEach(function (el) { if (!el.hasAttribute("alt")) p.push("img without alt"); });
	document.querySelectorAll("[tabindex]").forEach(function (el) { if (el.tabIndex > 0) p.push("positive tabindex"); });
	return p;
})()`

func (b *browser) mustBeAccessible() {
	b.t.Helper()
	b.mustBeAccessibleIn(b.ctx)
}

func (b *browser) mustBeAccessibleIn(ctx context.Context) {
	b.t.Helper()
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yScript))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, p := range problems {
		b.t.Errorf("accessibility (%s): %s", b.location(ctx), p)
	}
}

// mustHaveVisibleFocus checks the focused element draws a focus ring.
func (b *browser) mustHaveVisibleFocus() {
	b.t.Helper()
	ring := eval[[]string](b, `(function(){var e=document.activeElement,s=getComputedStyle(e);return [String(e.matches(":focus-visible")),s.outlineStyle,s.outlineWidth]})()`)
	if ring[0] != "true" || ring[1] == "none" || ring[2] == "0px" {
		b.t.Errorf("focused element has no visible focus: focus-visible=%s outline %s %s", ring[0], ring[1], ring[2])
	}
}

// contrastScript returns the text on the page whose contrast with its
// background is under WCAG AA (4.5:1; 3:1 for large text). Disabled
// controls are exempt, as in WCAG.
const contrastScript = `(function(){
	function parse(c) {
		var m = /^rgba?\(([^)]*)\)/.exec(c), v;
		if (m) { v = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; }
		m = /^color\(srgb ([^)]*)\)/.exec(c);
		if (m) { v = m[1].split(/[\s\/]+/).filter(Boolean).map(Number); return [v[0]*255, v[1]*255, v[2]*255, v.length > 3 ? v[3] : 1]; }
		return null;
	}
	function lum(c) {
		var a = [c[0], c[1], c[2]].map(function (x) { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
		return 0.2126 * a[0] + 0.7152 * a[1] + 0.0722 * a[2];
	}
	function background(el) {
		for (; el; el = el.parentElement) {
			var c = parse(getComputedStyle(el).backgroundColor);
			if (c && c[3] > 0.5) return c;
		}
		return [255, 255, 255, 1];
	}
	var bad = [];
	document.querySelectorAll("body *").forEach(function (el) {
		var text = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim(); });
		if (!text || !el.getClientRects().length || el.closest("[disabled]")) return;
		var s = getComputedStyle(el), fg = parse(s.color), bg = background(el);
		if (!fg) { bad.push(el.tagName + ": cannot read color " + s.color); return; }
		var l1 = lum(fg), l2 = lum(bg), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
		var size = parseFloat(s.fontSize), large = size >= 24 || (size >= 18.66 && +s.fontWeight >= 700);
		if (ratio < (large ? 3 : 4.5)) bad.push(el.tagName + " '" + el.textContent.trim().slice(0, 40) + "' " + ratio.toFixed(2) + ":1");
	});
	return bad;
})()`

func (b *browser) mustHaveContrast(theme string) {
	b.t.Helper()
	for _, p := range eval[[]string](b, contrastScript) {
		b.t.Errorf("%s theme: low contrast: %s", theme, p)
	}
}

// mustFitPhone checks the page reads on a 360 px phone: nothing wider
// than the screen, and text fields at 16 px or more (smaller ones make
// phones zoom in on focus).
func (b *browser) mustFitPhone() {
	b.t.Helper()
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > int(b.view.width) {
		b.t.Errorf("the page is %d px wide on a %d px screen", w, b.view.width)
	}
	for _, small := range eval[[]string](b, `Array.prototype.filter.call(document.querySelectorAll("input:not([type=hidden]), button"), function (e) {
		return parseFloat(getComputedStyle(e).fontSize) < 16;
	}).map(function (e) { return e.id || e.textContent.trim(); })`) {
		b.t.Errorf("%s has text under 16 px", small)
	}
}

// docShotIn is docShots for one viewport.
func (b *browser) docShotIn(name string, v viewport) {
	b.t.Helper()
	was := b.view
	b.mustDo(b.setView(v))
	png := b.shotIn(b.ctx, name)
	b.saveDocShot(name+"-"+v.name, png)
	b.mustDo(b.setView(was))
}
