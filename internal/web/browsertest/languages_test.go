package browsertest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/latch-auth/latch/internal/i18n"
)

// TestGermanBrowser: a browser set to German gets the login steps in
// German, passkey parts included, with no sentence of the English
// catalogue left, and a layout that fits a 360 px phone.
func TestGermanBrowser(t *testing.T) {
	s := mustServer(t, serverOptions{passkeys: true})
	b := mustBrowser(t, s, browserOptions{lang: "de-DE", view: phone})
	const email = "de@example.com"

	b.open("/login")
	b.mustSpeak("de", "ltr")
	b.mustDo(waitText("main h1", "Anmelden"))
	if got := eval[string](b, `document.querySelector("[data-action=passkey-login]").textContent`); got != "Mit einem Passkey anmelden" {
		t.Errorf("the passkey button says %q", got)
	}
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"), waitText("[data-bind=email]", email))
	b.mustDo(waitText("main h1", "Prüfen Sie Ihre E-Mails"))
	b.mustSpeak("de", "ltr")
	code := s.mustMail(t, email, 1).Code
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), wrong(code)), waitText("#code-error", "Dieser Code stimmt nicht. Sie haben noch 4 Versuche."))
	b.mustSpeak("de", "ltr")
	b.shot("login-de")
}

// TestArabicBrowser: an Arabic browser gets the login steps in Arabic,
// right to left (dir=rtl, the layout mirrored), with Arabic digits in the
// countdown, no English left, and no overflow at 360 px. With
// LATCH_UPDATE_SCREENSHOTS=1 it saves the README's screenshot.
func TestArabicBrowser(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{lang: "ar", view: phone})
	const email = "ar@example.com"

	b.open("/login")
	b.mustSpeak("ar", "rtl")
	b.mustBeMirrored()
	b.mustBeAccessible()
	b.shot("login-ar")
	b.saveDocShot("login-ar-360", b.shotIn(b.ctx, "login-ar"))

	b.mustDo(chromedp.SendKeys(chromedp.CSS("#email"), email+kb.Enter), waitVisible("#code"), waitText("[data-bind=email]", email))
	b.mustSpeak("ar", "rtl")
	b.mustBeMirrored()
	// The resend countdown, written by the script: Arabic words and digits.
	b.mustDo(waitText("[data-resend-after]", "أرسل رمزًا جديدًا بعد"))
	b.saveDocShot("login-ar-code-360", b.shotIn(b.ctx, "login-ar-code"))
	if label := eval[string](b, `document.querySelector("[data-resend-after]").textContent`); strings.ContainsAny(label, "0123456789") || !strings.ContainsAny(label, "٠١٢٣٤٥٦٧٨٩") {
		t.Errorf("countdown %q: want Arabic-Indic digits", label)
	}
	code := s.mustMail(t, email, 1).Code
	b.mustDo(chromedp.SendKeys(chromedp.CSS("#code"), wrong(code)), waitText("#code-error", "هذا الرمز غير صحيح. لديك ٤ محاولات أخرى."))
	b.mustSpeak("ar", "rtl")
	b.shot("login-ar-error")

	// Signed in, the account page too, with its language picker.
	b.mustDo(chromedp.KeyEvent(code), waitURL("/"), waitText("main h1", "لقد سجّلت الدخول"))
	b.mustSpeak("ar", "rtl")
	b.mustBeMirrored()
	b.mustBeAccessible()
	b.shot("account-ar")
}

// TestFrenchRequestGetsFrenchMail: the mail asked for from a French
// browser is written in French, subject included.
func TestFrenchRequestGetsFrenchMail(t *testing.T) {
	s := mustServer(t, serverOptions{})
	b := mustBrowser(t, s, browserOptions{lang: "fr-FR"})
	const email = "fr@example.com"

	b.askForCode(email)
	b.mustSpeak("fr", "ltr")
	s.mustMail(t, email, 1)
	res, err := http.Get(s.URL + "/dev/outbox.json?to=" + url.QueryEscape(email))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Messages []struct{ Subject, Text, HTML, Code string }
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	m := body.Messages[0]
	if want := m.Code + " est votre code de connexion à Latch"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if !strings.Contains(m.HTML, `<html lang="fr" dir="ltr">`) || !strings.Contains(m.Text, "Saisissez ce code pour vous connecter en tant que fr@example.com") {
		t.Errorf("the mail is not in French:\n%s", m.Text)
	}
}

// mustSpeak checks that the page is in lang: <html lang> and dir, no
// sentence of the English catalogue in its text, its step templates, its
// attributes or the script's sentences, and no horizontal overflow.
func (b *browser) mustSpeak(lang, dir string) {
	b.t.Helper()
	got := eval[[]string](b, `[document.documentElement.lang, document.documentElement.dir]`)
	if got[0] != lang || got[1] != dir {
		b.t.Fatalf("<html lang=%q dir=%q>, want lang=%q dir=%q", got[0], got[1], lang, dir)
	}
	texts := eval[[]string](b, `(function(){
		var out = [document.title];
		function walk(root) {
			var w = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
			for (var n = w.currentNode; n; n = w.nextNode()) {
				if (n.nodeType === 3) { if (n.textContent.trim()) out.push(n.textContent.trim()); continue; }
				if (n.nodeType !== 1 || n.tagName === "SCRIPT" || n.tagName === "STYLE") continue;
				["aria-label", "title", "placeholder", "alt", "data-title", "data-signing-in"].forEach(function (a) {
					if (n.getAttribute(a)) out.push(n.getAttribute(a));
				});
				if (n.tagName === "TEMPLATE") walk(n.content);
			}
		}
		walk(document.body);
		var root = document.getElementById("login");
		if (root) {
			var m = JSON.parse(root.getAttribute("data-messages"));
			Object.keys(m).forEach(function (k) {
				var v = m[k];
				if (typeof v === "string") out.push(v); else Object.keys(v).forEach(function (f) { out.push(v[f]); });
			});
		}
		return out;
	})()`)
	for _, frag := range englishOnly(b.t, lang) {
		for _, text := range texts {
			if containsWords(text, frag) {
				b.t.Errorf("%s page (%s) has English left: %q in %q", lang, b.location(b.ctx), frag, text)
			}
		}
	}
	if w := eval[[]int](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); w[0] > w[1] {
		b.t.Errorf("%s page overflows: scrollWidth %d > clientWidth %d", lang, w[0], w[1])
	}
}

// containsWords reports whether frag is in text as whole words: not
// "second" in "seconde".
func containsWords(text, frag string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], frag)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(frag)
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if !unicode.IsLetter(before) && !unicode.IsLetter(after) {
			return true
		}
		i = start + 1
	}
}

// englishOnly are the literal parts of the English catalogue's messages
// (placeholders cut out), long enough to be words rather than
// punctuation; a single word that lang's catalogue writes the same
// ("Code:") is left out, a phrase never (it would be a copy left
// untranslated).
func englishOnly(t *testing.T, lang string) []string {
	t.Helper()
	bundle, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	l, ok := bundle.Lookup(lang)
	if !ok {
		t.Fatalf("no %s catalogue", lang)
	}
	theirs := map[string]bool{}
	for _, f := range l.Fragments() {
		theirs[f] = true
	}
	var out []string
	for _, f := range bundle.Default().Fragments() {
		letters := 0
		for _, r := range f {
			if unicode.IsLetter(r) {
				letters++
			}
		}
		if letters >= 5 && (!theirs[f] || strings.Contains(f, " ")) {
			out = append(out, f)
		}
	}
	if len(out) < 50 {
		t.Fatalf("only %d English fragments to look for", len(out))
	}
	return out
}

// mustBeMirrored checks that right to left is more than an attribute:
// the heading and the button text start on the right, the brand mark
// sits right of the app's name.
func (b *browser) mustBeMirrored() {
	b.t.Helper()
	problem := eval[string](b, `(function(){
		var h1 = document.querySelector("main h1"), card = document.querySelector("main.card");
		if (getComputedStyle(h1).direction !== "rtl") return "the heading is not right to left";
		var r = document.createRange(); r.selectNodeContents(h1);
		var text = r.getBoundingClientRect(), box = card.getBoundingClientRect();
		if (box.right - text.right > 48) return "the heading does not start at the right edge";
		var mark = document.querySelector(".brand .mark"), name = document.querySelector(".brand-name");
		if (mark && mark.getBoundingClientRect().left < name.getBoundingClientRect().left) return "the brand mark is left of the name";
		return "";
	})()`)
	if problem != "" {
		b.t.Errorf("right to left: %s", problem)
	}
}
