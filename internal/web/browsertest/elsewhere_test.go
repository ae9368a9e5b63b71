package browsertest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/latch-auth/latch/internal/auth"
)

// TestLinkInAnotherTabSignsThisTabIn: the person asks for the email in
// one tab and opens the link in a second tab of the same browser; the
// first tab notices by itself and goes on, signed in.
func TestLinkInAnotherTabSignsThisTabIn(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{})
	const email = "ada@example.com"

	b.askForCode(email)
	link := s.mustMail(t, email, 1).Link
	second := b.newTab(b.ctx, "second tab")
	b.mustDoIn(second, chromedp.Navigate(link), waitURL("/"), waitText("[data-bind=email]", email))
	// The first tab, untouched, follows.
	b.mustDo(waitURL("/"), waitText("[data-bind=email]", email))
}

// TestLinkOnAnotherDeviceTellsThisTab: the link is opened on another
// device (another browser profile, no shared cookies); the tab that asked
// says what happened instead of waiting for a code that can only fail.
func TestLinkOnAnotherDeviceTellsThisTab(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{})
	const email = "grace@example.com"

	b.askForCode(email)
	link := s.mustMail(t, email, 1).Link
	phone := b.newTab(b.ctx, "other device", chromedp.WithNewBrowserContext())
	b.mustDoIn(phone, chromedp.Navigate(link), waitText("h1", "Finish signing in"),
		chromedp.Click(chromedp.CSS("form button[type=submit]")), waitURL("/"))
	b.mustDo(waitText("#email-error", "If you opened the link on another device, you're signed in there."))
	if got := eval[string](b, `document.getElementById("email").value`); got != email {
		t.Errorf("the email field holds %q, want %q ready to send again", got, email)
	}
	b.mustBeAccessible()
}

// TestLinkOnlyLogin: with PASSWORDLESS_TYPE=LINK the page never asks for
// a code (which the email does not carry), with JavaScript or without.
func TestLinkOnlyLogin(t *testing.T) {
	for _, js := range []bool{true, false} {
		name := "with JavaScript"
		if !js {
			name = "without JavaScript"
		}
		t.Run(name, func(t *testing.T) {
			s := mustServer(t, serverOptions{typ: auth.TypeLink})
			b := mustBrowser(t, s, browserOptions{noJS: !js})
			const email = "margaret@example.com"

			b.open("/login")
			b.mustDo(waitText("main .lead", "we'll send you a link to sign in"), waitText("button[type=submit]", "Email me a sign-in link"))
			b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitText("#code-hint", "We sent a sign-in link to"))
			if eval[bool](b, `!!document.getElementById("code")`) {
				t.Error("the page asks for a code that the email does not carry")
			}
			if text := eval[string](b, `document.querySelector("section.step").innerText`); strings.Contains(text, "code") {
				t.Errorf("the step speaks of a code:\n%s", text)
			}
			b.mustDo(waitText("form[data-form=resend] button", "Send a new link"))
			if js && eval[string](b, `document.activeElement.tagName`) != "H1" {
				t.Errorf("after sending, the focus is on %s; want the step's heading (there is no code field)", eval[string](b, `document.activeElement.outerHTML`))
			}
			b.mustBeAccessible()
			b.shot("link-only")

			m := s.mustMail(t, email, 1)
			if m.Code != "" || m.Link == "" {
				t.Fatalf("mail: code %q link %q", m.Code, m.Link)
			}
			b.mustDo(chromedp.Navigate(m.Link))
			if !js {
				b.mustDo(waitText("h1", "Finish signing in"), chromedp.Click(chromedp.CSS("form button[type=submit]")))
			}
			b.mustDo(waitURL("/"), waitText("[data-bind=email]", email))
		})
	}
}

// TestCodeOnlyLogin: with PASSWORDLESS_TYPE=OTP no link is promised.
func TestCodeOnlyLogin(t *testing.T) {
	s := mustServer(t, serverOptions{typ: auth.TypeOTP})
	b := mustBrowser(t, s, browserOptions{})
	const email = "hedy@example.com"

	b.open("/login")
	b.mustDo(waitText("main .lead", "we'll send you a 6-digit code"))
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"))
	if text := eval[string](b, `document.querySelector("section.step").innerText`); strings.Contains(text, "link") {
		t.Errorf("the step promises a link:\n%s", text)
	}
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), s.mustMail(t, email, 1).Code), waitURL("/"), waitText("[data-bind=email]", email))
}
