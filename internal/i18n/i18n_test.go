package i18n

import (
	"fmt"
	"html/template"
	"strings"
	"testing"
	"testing/fstest"
)

func mustLoad(t *testing.T) *Bundle {
	t.Helper()
	b, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return b
}

// TestEveryCatalogueHasEveryKey is the completeness check of the shipped
// catalogues: Load refuses one with a missing or stray key, other
// placeholders, or plural forms its language does not use or lacks.
func TestEveryCatalogueHasEveryKey(t *testing.T) {
	b := mustLoad(t)
	var tags []string
	for _, l := range b.Locales() {
		tags = append(tags, l.Tag())
		if got, want := len(l.Keys()), len(b.Default().Keys()); got != want {
			t.Errorf("%s has %d keys, English %d", l.Tag(), got, want)
		}
	}
	if got := strings.Join(tags, " "); got != "en ar de es fr" {
		t.Fatalf("languages %q, want en ar de es fr", got)
	}
	if ar, _ := b.Lookup("ar"); ar.Dir() != RTL {
		t.Errorf("ar is %s, want rtl", ar.Dir())
	}
	if de, _ := b.Lookup("de"); de.Dir() != LTR {
		t.Errorf("de is %s, want ltr", de.Dir())
	}
}

func TestLoadRejectsIncompleteCatalogues(t *testing.T) {
	en := `{"language":"en","name":"English","direction":"ltr","messages":{"a":"Hello {name}","n":{"one":"{n} try","other":"{n} tries"}}}`
	for _, c := range []struct{ name, de, want string }{
		{"missing key", `{"language":"de","name":"Deutsch","direction":"ltr","messages":{"n":{"one":"{n} Versuch","other":"{n} Versuche"}}}`, "missing message a"},
		{"stray key", `{"language":"de","name":"Deutsch","direction":"ltr","messages":{"a":"Hallo {name}","b":"x","n":{"one":"{n} Versuch","other":"{n} Versuche"}}}`, "stray message b"},
		{"placeholder", `{"language":"de","name":"Deutsch","direction":"ltr","messages":{"a":"Hallo {nam}","n":{"one":"{n} Versuch","other":"{n} Versuche"}}}`, "placeholders [nam], want [name]"},
		{"plural form missing", `{"language":"de","name":"Deutsch","direction":"ltr","messages":{"a":"Hallo {name}","n":{"other":"{n} Versuche"}}}`, `lacks the plural form "one"`},
		{"plural form unused", `{"language":"de","name":"Deutsch","direction":"ltr","messages":{"a":"Hallo {name}","n":{"one":"{n} Versuch","few":"x","other":"{n} Versuche"}}}`, `"few", which de does not use`},
		{"sentence for plural", `{"language":"de","name":"Deutsch","direction":"ltr","messages":{"a":"Hallo {name}","n":"Versuche"}}`, "plural forms in one catalogue and a sentence"},
		{"bad direction", `{"language":"de","name":"Deutsch","direction":"up","messages":{}}`, "neither ltr nor rtl"},
		{"file name", `{"language":"fr","name":"Français","direction":"ltr","messages":{}}`, "does not match the file name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{"l/en.json": {Data: []byte(en)}, "l/de.json": {Data: []byte(c.de)}}
			_, err := load(source{fsys, "l"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("load: %v, want an error with %q", err, c.want)
			}
		})
	}
	arabic := `{"language":"ar","name":"العربية","direction":"rtl","messages":{"a":"مرحبًا {name}","n":{"one":"محاولة","other":"{n} محاولة"}}}`
	_, err := load(source{fstest.MapFS{"l/en.json": {Data: []byte(en)}, "l/ar.json": {Data: []byte(arabic)}}, "l"})
	for _, f := range []string{"zero", "two", "few", "many"} {
		if err == nil || !strings.Contains(err.Error(), `lacks the plural form "`+f+`"`) {
			t.Errorf("Arabic without %q: %v", f, err)
		}
	}
}

// TestArabicHasSixPluralForms checks that the CLDR rules pick each of
// Arabic's six forms, and English's and German's two, with numbers in
// the language's digits.
func TestPluralFormsAndNumbers(t *testing.T) {
	b := mustLoad(t)
	ar, _ := b.Lookup("ar")
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "٠ دقيقة"},        // zero
		{1, "دقيقة واحدة"},    // one
		{2, "دقيقتين"},        // two
		{3, "٣ دقائق"},        // few: 3–10
		{10, "١٠ دقائق"},      // few
		{11, "١١ دقيقة"},      // many: 11–99
		{100, "١٠٠ دقيقة"},    // other
		{103, "١٠٣ دقائق"},    // few again (n mod 100)
		{1500, "١٬٥٠٠ دقيقة"}, // other, grouped
	} {
		if got := ar.T("wait.minutes", "n", c.n); got != c.want {
			t.Errorf("ar %d: %q, want %q", c.n, got, c.want)
		}
	}
	en, de := b.Default(), must(b.Lookup("de"))
	for _, c := range []struct {
		l    *Locale
		n    int
		want string
	}{
		{en, 1, "1 minute"}, {en, 5, "5 minutes"}, {en, 1500, "1,500 minutes"},
		{de, 1, "1 Minute"}, {de, 5, "5 Minuten"}, {de, 1500, "1.500 Minuten"},
	} {
		if got := c.l.T("wait.minutes", "n", c.n); got != c.want {
			t.Errorf("%s %d: %q, want %q", c.l.Tag(), c.n, got, c.want)
		}
	}
	// Exact forms come before the CLDR category: English's article.
	for n, want := range map[int]string{6: "a 6-digit code", 8: "an 8-digit code", 11: "an 11-digit code", 12: "a 12-digit code"} {
		if got := en.T("code.a", "n", n); got != want {
			t.Errorf("code.a %d: %q, want %q", n, got, want)
		}
	}
	if got := ar.Digits(); got != "٠١٢٣٤٥٦٧٨٩" {
		t.Errorf("ar digits %q", got)
	}
	if got := en.Digits(); got != "0123456789" {
		t.Errorf("en digits %q", got)
	}
}

func must(l *Locale, ok bool) *Locale {
	if !ok {
		panic("no such locale")
	}
	return l
}

func TestHTMLEscapesAllButMarkup(t *testing.T) {
	en := mustLoad(t).Default()
	got := en.HTML("login.sent.link", "email", template.HTML(`<strong>a&amp;b@x</strong>`))
	if want := template.HTML(`We sent a sign-in link to <strong>a&amp;b@x</strong>. Open it on this device to sign in.`); got != want {
		t.Errorf("HTML = %q, want %q", got, want)
	}
	if got := en.HTML("account.signed_in_as", "email", "<script>"); got != "Signed in as &lt;script&gt;" {
		t.Errorf("HTML escapes a plain value: %q", got)
	}
	if got := en.T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: %q", got)
	}
}

func TestNegotiate(t *testing.T) {
	b := mustLoad(t)
	for _, c := range []struct {
		name  string
		prefs []string
		want  string
	}{
		{"nothing", nil, "en"},
		{"accept-language", []string{"", "", "", "de-DE,de;q=0.9,en;q=0.8"}, "de"},
		{"q values order", []string{"fr;q=0.5, es;q=0.9"}, "es"},
		{"region falls to language", []string{"ar-EG"}, "ar"},
		{"ui_locales list", []string{"ja fr-CA de"}, "fr"},
		{"ui_locales first", []string{"es", "de", "fr", "ar"}, "es"},
		{"locale field next", []string{"", "fr", "de", "ar"}, "fr"},
		{"stored choice next", []string{"", "", "de", "ar"}, "de"},
		{"unsupported skipped", []string{"ja", "xx-invalid-!!", "", "ar"}, "ar"},
		{"none supported", []string{"ja, zh;q=0.8"}, "en"},
		{"too long", []string{strings.Repeat("de,", 300)}, "en"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := b.Negotiate(c.prefs...).Tag(); got != c.want {
				t.Errorf("Negotiate(%q) = %s, want %s", c.prefs, got, c.want)
			}
		})
	}
}

// TestNoMessageLeftInEnglish: a message written exactly as in English is
// a copy nobody translated, unless it is one of the few that read the
// same in both languages.
func TestNoMessageLeftInEnglish(t *testing.T) {
	same := map[string]bool{
		"de/outbox.code":      true, // "Code:"
		"fr/wait.minutes":     true, // "{n} minute(s)"
		"fr/duration.minutes": true,
		"de/passkey.heading":  true, // "Passkeys"
		"ar/date.short":       true, // "{day} {month} {year}": placeholders only
		"es/date.short":       true,
		"fr/date.short":       true,
	}
	b := mustLoad(t)
	en := b.Default()
	for _, l := range b.Locales()[1:] {
		for _, key := range en.Keys() {
			if fmt.Sprint(l.Raw(key)) == fmt.Sprint(en.Raw(key)) && !same[l.Tag()+"/"+key] {
				t.Errorf("%s: %s is the English %q", l.Tag(), key, en.Raw(key))
			}
		}
	}
}
