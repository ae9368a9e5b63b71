// Package i18n holds Latch's message catalogues (every sentence of the
// pages and the mails, one embedded JSON file per language) and chooses
// the language of a request among them with golang.org/x/text/language.
//
// # Catalogues
//
// locales/<tag>.json is one language: its BCP 47 tag, its name in its own
// language, its writing direction and its messages by key. A message is a
// string with {name} placeholders, or an object of plural forms: the CLDR
// categories the language uses (zero, one, two, few, many, other) and,
// optionally, exact numbers ("=8"), chosen by the argument named n. English
// (en.json) is the reference: every other catalogue must have exactly its
// keys and placeholders, which Load checks, so adding a language is adding
// one file.
package i18n

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

//go:embed locales/*.json
var localeFS embed.FS

// Base is the tag of the reference catalogue, and the language of a
// request that names no supported one.
const Base = "en"

// Writing directions.
const (
	LTR = "ltr"
	RTL = "rtl"
)

// maxPreference caps the length of one language preference that is
// parsed (an Accept-Language header, ui_locales, a locale field).
const maxPreference = 512

// catalogue is one language's messages.
type catalogue struct {
	tag      language.Tag
	name     string
	dir      string
	messages map[string]entry
}

// entry is a sentence, or its plural forms.
type entry struct {
	text  string
	forms map[string]string // CLDR category or "=N" → text; nil for a plain sentence
}

// file is the JSON shape of a catalogue file.
type file struct {
	Language  string                     `json:"language"`
	Name      string                     `json:"name"`
	Direction string                     `json:"direction"`
	Messages  map[string]json.RawMessage `json:"messages"`
}

// Bundle is every catalogue, English first, and the matcher over them.
// It is immutable and safe for concurrent use.
type Bundle struct {
	cats    []*catalogue
	matcher language.Matcher
	locales []*Locale
}

// Load reads the embedded catalogues and checks each against English:
// the same keys, the same placeholders, the plural forms its language
// needs.
func Load() (*Bundle, error) {
	sources := []source{{localeFS, "locales"}}
	if dir := extraDir.Load(); dir != nil {
		sources = append(sources, source{os.DirFS(*dir), "."})
	}
	return load(sources...)
}

// extraDir is the directory UseDirectory named.
var extraDir atomic.Pointer[string]

// UseDirectory makes Load read the catalogues in dir (LOCALES_DIR) beside
// the embedded ones: a language is added by dropping its file there
// (it.json), and a file of a language Latch has replaces that one. They
// are checked as the embedded ones are. The program calls it once at
// start, before anything loads the catalogues; CheckDirectory says
// whether dir would load.
// An empty dir goes back to the embedded catalogues alone.
func UseDirectory(dir string) {
	if dir == "" {
		extraDir.Store(nil)
		return
	}
	extraDir.Store(&dir)
}

// CheckDirectory loads the embedded catalogues with those of dir, for a
// check at start that names every problem.
func CheckDirectory(dir string) error {
	_, err := load(source{localeFS, "locales"}, source{os.DirFS(dir), "."})
	return err
}

// source is a folder of catalogue files; a later source's file of a
// language replaces an earlier one's.
type source struct {
	fsys fs.FS
	dir  string
}

func load(sources ...source) (*Bundle, error) {
	files := map[string]source{} // file name → where it is read from
	var names []string
	for _, src := range sources {
		found, err := fs.Glob(src.fsys, path.Join(src.dir, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		if _, err := fs.Stat(src.fsys, src.dir); err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		for _, name := range found {
			base := path.Base(name)
			if _, seen := files[base]; !seen {
				names = append(names, base)
			}
			files[base] = src
		}
	}
	var cats []*catalogue
	var errs []error
	for _, name := range names {
		src := files[name]
		b, err := fs.ReadFile(src.fsys, path.Join(src.dir, name))
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		c, err := parse(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("i18n: %s: %w", path.Base(name), err))
			continue
		}
		if want := strings.TrimSuffix(path.Base(name), ".json"); c.tag.String() != want {
			errs = append(errs, fmt.Errorf("i18n: %s: language %q does not match the file name", path.Base(name), c.tag))
			continue
		}
		cats = append(cats, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	base := slices.IndexFunc(cats, func(c *catalogue) bool { return c.tag.String() == Base })
	if base < 0 {
		return nil, fmt.Errorf("i18n: no %s catalogue", Base)
	}
	cats[0], cats[base] = cats[base], cats[0]
	sort.Slice(cats[1:], func(i, j int) bool { return cats[1+i].tag.String() < cats[1+j].tag.String() })
	for _, c := range cats[1:] {
		if err := c.conforms(cats[0]); err != nil {
			errs = append(errs, fmt.Errorf("i18n: %s.json: %w", c.tag, err))
		}
	}
	if err := cats[0].conforms(cats[0]); err != nil {
		errs = append(errs, fmt.Errorf("i18n: %s.json: %w", Base, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	tags := make([]language.Tag, len(cats))
	for i, c := range cats {
		tags[i] = c.tag
	}
	b := &Bundle{cats: cats, matcher: language.NewMatcher(tags)}
	for _, c := range cats {
		b.locales = append(b.locales, newLocale(c, cats[0]))
	}
	return b, nil
}

var formNames = map[string]plural.Form{
	"other": plural.Other, "zero": plural.Zero, "one": plural.One, "two": plural.Two, "few": plural.Few, "many": plural.Many,
}

var exactForm = regexp.MustCompile(`^=[0-9]{1,9}$`)

func parse(b []byte) (*catalogue, error) {
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	tag, err := language.Parse(f.Language)
	if err != nil {
		return nil, fmt.Errorf("language %q: %w", f.Language, err)
	}
	if f.Name == "" {
		return nil, errors.New("name is empty")
	}
	if f.Direction != LTR && f.Direction != RTL {
		return nil, fmt.Errorf("direction %q is neither ltr nor rtl", f.Direction)
	}
	c := &catalogue{tag: tag, name: f.Name, dir: f.Direction, messages: make(map[string]entry, len(f.Messages))}
	var errs []error
	for key, raw := range f.Messages {
		var m entry
		if err := json.Unmarshal(raw, &m.text); err != nil {
			if err := json.Unmarshal(raw, &m.forms); err != nil {
				errs = append(errs, fmt.Errorf("message %s is neither a string nor an object of plural forms", key))
				continue
			}
			for form := range m.forms {
				if _, ok := formNames[form]; !ok && !exactForm.MatchString(form) {
					errs = append(errs, fmt.Errorf("message %s: %q is not a plural form (zero, one, two, few, many, other or =N)", key, form))
				}
			}
		}
		c.messages[key] = m
	}
	return c, errors.Join(errs...)
}

var placeholder = regexp.MustCompile(`\{([a-z][a-zA-Z0-9_]*)\}`)

// placeholders are the {names} in s, sorted, each once.
func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pluralForms are the plural categories a language's cardinal numbers use, as
// its catalogue names them.
func pluralForms(tag language.Tag) []string {
	seen := map[plural.Form]bool{}
	// The categories of whole numbers repeat within 0…1000 for every
	// language CLDR knows (the rules look at n mod 10, 100 and 1000000).
	for n := 0; n <= 1000; n++ {
		seen[plural.Cardinal.MatchPlural(tag, n, 0, 0, 0, 0)] = true
	}
	var out []string
	for name, f := range formNames {
		if seen[f] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// conforms reports how c differs from base: missing and stray keys,
// placeholders that differ, plural forms missing or not used by the
// language, a sentence where base has plural forms or the reverse.
func (c *catalogue) conforms(base *catalogue) error {
	var errs []error
	need := pluralForms(c.tag)
	for key, bm := range base.messages {
		m, ok := c.messages[key]
		if !ok {
			errs = append(errs, fmt.Errorf("missing message %s", key))
			continue
		}
		if (m.forms == nil) != (bm.forms == nil) {
			errs = append(errs, fmt.Errorf("message %s: plural forms in one catalogue and a sentence in the other", key))
			continue
		}
		if m.forms == nil {
			if got, want := placeholders(m.text), placeholders(bm.text); !slices.Equal(got, want) {
				errs = append(errs, fmt.Errorf("message %s has placeholders %v, want %v", key, got, want))
			}
			continue
		}
		want := placeholders(bm.forms["other"])
		for _, f := range need {
			if _, ok := m.forms[f]; !ok {
				errs = append(errs, fmt.Errorf("message %s lacks the plural form %q", key, f))
			}
		}
		for f, text := range m.forms {
			if _, isCategory := formNames[f]; isCategory && !slices.Contains(need, f) {
				errs = append(errs, fmt.Errorf("message %s has the plural form %q, which %s does not use", key, f, c.tag))
			}
			got := placeholders(text)
			if f == "other" && !slices.Equal(got, want) {
				errs = append(errs, fmt.Errorf("message %s (other) has placeholders %v, want %v", key, got, want))
			}
			// Another form may leave {n} out ("one minute", "دقيقتان"),
			// never bring a placeholder of its own.
			for _, p := range got {
				if !slices.Contains(want, p) {
					errs = append(errs, fmt.Errorf("message %s (%s) has the placeholder {%s}, which is not in the other form", key, f, p))
				}
			}
		}
	}
	for key := range c.messages {
		if _, ok := base.messages[key]; !ok {
			errs = append(errs, fmt.Errorf("stray message %s (not in %s)", key, base.tag))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Locales are the supported languages, English first.
func (b *Bundle) Locales() []*Locale { return slices.Clone(b.locales) }

// Default is the English locale.
func (b *Bundle) Default() *Locale { return b.locales[0] }

// Lookup is the locale of exactly tag ("de"), if there is one.
func (b *Bundle) Lookup(tag string) (*Locale, bool) {
	for _, l := range b.locales {
		if l.Tag() == tag {
			return l, true
		}
	}
	return nil, false
}

// Match is the supported language that best fits one preference: a list
// of tags as ui_locales writes it ("de-CH fr") or an Accept-Language
// header ("de-CH, fr;q=0.8"). ok is false when none fits.
func (b *Bundle) Match(preference string) (l *Locale, ok bool) {
	preference = strings.TrimSpace(preference)
	if preference == "" || len(preference) > maxPreference {
		return nil, false
	}
	if !strings.ContainsAny(preference, ",;") {
		preference = strings.Join(strings.Fields(preference), ",")
	}
	tags, _, err := language.ParseAcceptLanguage(preference)
	if err != nil || len(tags) == 0 {
		return nil, false
	}
	_, i, conf := b.matcher.Match(tags...)
	if conf == language.No {
		return nil, false
	}
	return b.locales[i], true
}

// Negotiate is the language of a request: the first preference, in the
// order given, that a supported language fits; else English. Latch's
// order is ui_locales, a locale field, the user's stored choice, then
// Accept-Language.
func (b *Bundle) Negotiate(preferences ...string) *Locale {
	for _, p := range preferences {
		if l, ok := b.Match(p); ok {
			return l
		}
	}
	return b.Default()
}

// WellFormed reports whether preference parses as a list of language
// tags (ui_locales, a locale field) or an Accept-Language header, whether
// or not Latch has any of them.
func WellFormed(preference string) bool {
	preference = strings.TrimSpace(preference)
	if preference == "" || len(preference) > maxPreference {
		return false
	}
	if !strings.ContainsAny(preference, ",;") {
		for _, f := range strings.Fields(preference) {
			if _, err := language.Parse(f); err != nil {
				return false
			}
		}
		return true
	}
	_, _, err := language.ParseAcceptLanguage(preference)
	return err == nil
}
