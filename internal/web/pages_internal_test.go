package web

import (
	"regexp"
	"testing"

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
	for sec, want := range map[int]string{0: "a moment", 1: "1 second", 30: "30 seconds", 89: "89 seconds", 90: "2 minutes", 600: "10 minutes"} {
		if got := waitWords(sec); got != want {
			t.Errorf("waitWords(%d) = %q, want %q", sec, got, want)
		}
	}
}

// Every code of the contract has a sentence of its own or a deliberate
// general one, never the fallback by accident.
func TestEveryErrorCodeHasWords(t *testing.T) {
	p, err := newPages(Config{CodeLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	for code := range statusOf {
		for _, action := range []string{"send", "verify", "resend", "link"} {
			pr := p.problem(auth.Errorf(code, "engine words"), action, "123456", 6)
			if pr.text == "" || pr.text == "engine words" {
				t.Errorf("%s on %s: %q", code, action, pr.text)
			}
			if pr.text == p.messages["internal"] && code != auth.CodeInternal {
				t.Errorf("%s on %s falls back to the internal-error sentence", code, action)
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
	for _, k := range keys {
		if _, ok := loginMessages[string(k[1])]; !ok {
			t.Errorf("app.js asks for message %q, which pages.go does not have", k[1])
		}
	}
}
