package web

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

func TestAccentColors(t *testing.T) {
	for _, tc := range []struct{ in, color, on string }{
		{"#4f46e5", "#4f46e5", "#fff"},
		{"#0f766e", "#0f766e", "#fff"},
		{"#fbbf24", "#fbbf24", "#111827"},
		{"#fff", "#fff", "#111827"},
		{"#000", "#000", "#fff"},
		{"red", "", ""},
		{"#12345", "", ""},
		{"#4f46e5;}body{display:none", "", ""},
	} {
		if color, on := accentColors(tc.in); color != tc.color || on != tc.on {
			t.Errorf("accentColors(%q) = %q, %q; want %q, %q", tc.in, color, on, tc.color, tc.on)
		}
	}
}

func TestWaitWords(t *testing.T) {
	p := mustPages(t)
	for _, c := range []struct {
		lang string
		sec  int
		want string
	}{
		{"en", 0, "a moment"}, {"en", 1, "1 second"}, {"en", 30, "30 seconds"}, {"en", 89, "89 seconds"}, {"en", 90, "2 minutes"}, {"en", 600, "10 minutes"},
		{"de", 1, "1 Sekunde"}, {"de", 30, "30 Sekunden"}, {"de", 300, "5 Minuten"},
		{"fr", 0, "un instant"}, {"fr", 60, "60 secondes"}, {"es", 120, "2 minutos"},
		// Arabic's six forms, in its digits.
		{"ar", 1, "ثانية واحدة"}, {"ar", 2, "ثانيتين"}, {"ar", 5, "٥ ثوانٍ"}, {"ar", 45, "٤٥ ثانية"},
		{"ar", 120, "دقيقتين"}, {"ar", 600, "١٠ دقائق"}, {"ar", 6000, "١٠٠ دقيقة"},
	} {
		if got := waitWords(p.locales[c.lang].Locale, c.sec); got != c.want {
			t.Errorf("%s waitWords(%d) = %q, want %q", c.lang, c.sec, got, c.want)
		}
	}
}

func mustPages(t *testing.T) *pages {
	t.Helper()
	p, err := newPages(Config{CodeLength: 6, PasswordlessType: auth.TypeLinkOTP})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Every code of the contract has a sentence of its own or a deliberate
// general one, never the fallback by accident.
func TestEveryErrorCodeHasWords(t *testing.T) {
	for tag, l := range mustPages(t).locales {
		for code := range statusOf {
			for _, action := range []string{"send", "verify", "resend", "link"} {
				pr := l.problem(auth.Errorf(code, "engine words"), action, "123456", 6)
				if pr.text == "" || pr.text == "engine words" || strings.Contains(pr.text, "{") {
					t.Errorf("%s: %s on %s: %q", tag, code, action, pr.text)
				}
				if pr.text == l.messages["internal"] && code != auth.CodeInternal {
					t.Errorf("%s: %s on %s falls back to the internal-error sentence", tag, code, action)
				}
			}
		}
	}
}

// The script asks for sentences by key; each must exist, or the page
// would fall back to a general sentence with JavaScript on.
func TestScriptMessageKeysExist(t *testing.T) {
	js, err := staticFS.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`(?:say\(|key = |key: |\? )"([a-z_0-9]+)"`).FindAllSubmatch(js, -1)
	if len(keys) < 10 {
		t.Fatalf("found only %d message keys in app.js; has the script changed shape?", len(keys))
	}
	var script map[string]any
	if err := json.Unmarshal([]byte(mustPages(t).locales["en"].script), &script); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, ok := script[string(k[1])]; !ok {
			t.Errorf("app.js asks for message %q, which languages.go does not give it", k[1])
		}
	}
}

func TestDeviceWords(t *testing.T) {
	p := mustPages(t)
	for _, c := range []struct{ lang, stored, want string }{
		{"en", "Chrome on Linux", "Chrome on Linux"},
		{"en", "", "A browser"},
		{"de", "Firefox on Windows", "Firefox auf Windows"},
		{"ar", "A browser on Android", "متصفح على Android"},
		{"fr", "curl", "curl"},
	} {
		if got := deviceWords(p.locales[c.lang].Locale, c.stored); got != c.want {
			t.Errorf("%s %q: %q, want %q", c.lang, c.stored, got, c.want)
		}
	}
}

func TestDateWords(t *testing.T) {
	p := mustPages(t)
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for lang, want := range map[string]string{"en": "2 Dec 2026", "de": "2. Dez. 2026", "fr": "2 déc. 2026", "es": "2 dic 2026", "ar": "٢ ديسمبر ٢٠٢٦"} {
		if got := dateWords(p.locales[lang].Locale, day); got != want {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
	}
}
