package i18n

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

// Locale speaks one language: it looks up, fills in and pluralises that
// catalogue's messages, with numbers written the language's way. It is
// immutable and safe for concurrent use.
type Locale struct {
	cat     *catalogue
	base    *catalogue
	printer *message.Printer
	digits  string
	digit   [10]string // each of digits
}

func newLocale(c, base *catalogue) *Locale {
	l := &Locale{cat: c, base: base, printer: message.NewPrinter(c.tag)}
	var d strings.Builder
	for i := range 10 {
		l.digit[i] = l.printer.Sprint(number.Decimal(i))
		d.WriteString(l.digit[i])
	}
	l.digits = d.String()
	return l
}

// Tag is the language's BCP 47 tag: "en", "de", "ar".
func (l *Locale) Tag() string { return l.cat.tag.String() }

// Name is the language's name in itself: "Deutsch", "العربية".
func (l *Locale) Name() string { return l.cat.name }

// Dir is the writing direction, "ltr" or "rtl", for <html dir>.
func (l *Locale) Dir() string { return l.cat.dir }

// Digits are the language's ten digits, 0 to 9, for the page's script.
func (l *Locale) Digits() string { return l.digits }

// Number writes n the language's way: "1,500", "1.500", "١٬٥٠٠".
func (l *Locale) Number(n int) string { return l.printer.Sprint(number.Decimal(n)) }

// Numerals writes the ASCII digits of s in the language's digits, with
// no grouping: a year, a code length already written.
func (l *Locale) Numerals(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteString(l.digit[c-'0'])
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// T is the message key filled in with args, pairs of a placeholder name
// and its value: T("wait.minutes", "n", 5). Numbers are written the
// language's way, and a plural message takes the form its language's
// rules give the number named n. An unknown key falls back to English,
// then to the key itself.
func (l *Locale) T(key string, args ...any) string {
	return l.fill(key, args, func(v any) string { return l.format(v) })
}

// HTML is T for an HTML page or mail: the message and its values are
// escaped, except values that are template.HTML already (an address in
// <strong>), which go in as they are.
func (l *Locale) HTML(key string, args ...any) template.HTML {
	text, _ := l.lookup(key, args)
	var out strings.Builder
	last := 0
	for _, m := range findPlaceholders(text) {
		out.WriteString(template.HTMLEscapeString(text[last:m[0]]))
		name := text[m[2]:m[3]]
		if v, ok := arg(args, name); ok {
			if h, isHTML := v.(template.HTML); isHTML {
				out.WriteString(string(h))
			} else {
				out.WriteString(template.HTMLEscapeString(l.format(v)))
			}
		} else {
			out.WriteString(template.HTMLEscapeString(text[m[0]:m[1]]))
		}
		last = m[1]
	}
	out.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(out.String())
}

func (l *Locale) fill(key string, args []any, format func(any) string) string {
	text, _ := l.lookup(key, args)
	found := findPlaceholders(text)
	if len(found) == 0 {
		return text
	}
	var out strings.Builder
	last := 0
	for _, m := range found {
		out.WriteString(text[last:m[0]])
		if v, ok := arg(args, text[m[2]:m[3]]); ok {
			out.WriteString(format(v))
		} else {
			out.WriteString(text[m[0]:m[1]])
		}
		last = m[1]
	}
	out.WriteString(text[last:])
	return out.String()
}

// findPlaceholders is placeholder.FindAllStringSubmatchIndex(text, -1)
// without the regular expression, which a mail calls dozens of times:
// each match is {start, end, name start, name end}.
func findPlaceholders(text string) [][4]int {
	var found [][4]int
	for i := 0; i < len(text); i++ {
		if text[i] != '{' || i+1 >= len(text) || text[i+1] < 'a' || text[i+1] > 'z' {
			continue
		}
		j := i + 2
		for j < len(text) && isNameByte(text[j]) {
			j++
		}
		if j < len(text) && text[j] == '}' {
			found = append(found, [4]int{i, j + 1, i + 1, j})
			i = j
		}
	}
	return found
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// lookup is the text of key for args: the plural form for n when the
// message has forms.
func (l *Locale) lookup(key string, args []any) (string, bool) {
	m, ok := l.cat.messages[key]
	if !ok {
		if m, ok = l.base.messages[key]; !ok {
			return key, false
		}
	}
	if m.forms == nil {
		return m.text, true
	}
	n, _ := arg(args, "n")
	i, isInt := toInt(n)
	if !isInt {
		return m.forms["other"], true
	}
	if text, ok := m.forms["="+strconv.Itoa(i)]; ok {
		return text, true
	}
	if text, ok := m.forms[formName(plural.Cardinal.MatchPlural(l.cat.tag, abs(i), 0, 0, 0, 0))]; ok {
		return text, true
	}
	return m.forms["other"], true
}

func formName(f plural.Form) string {
	for name, v := range formNames {
		if v == f {
			return name
		}
	}
	return "other"
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func (l *Locale) format(v any) string {
	if i, ok := toInt(v); ok {
		return l.Number(i)
	}
	return fmt.Sprint(v)
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case int32:
		return int(n), true
	}
	return 0, false
}

func arg(args []any, name string) (any, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if s, ok := args[i].(string); ok && s == name {
			return args[i+1], true
		}
	}
	return nil, false
}

// Raw is a message for a script to fill in itself: its text with the
// placeholders left, or its plural forms, English where the catalogue
// lacks it.
func (l *Locale) Raw(key string) any {
	m, ok := l.cat.messages[key]
	if !ok {
		m = l.base.messages[key]
	}
	if m.forms != nil {
		return m.forms
	}
	return m.text
}

// Keys are the keys of the catalogue.
func (l *Locale) Keys() []string {
	keys := make([]string, 0, len(l.cat.messages))
	for k := range l.cat.messages {
		keys = append(keys, k)
	}
	return keys
}

// Fragments are the literal parts of every message of the catalogue,
// placeholders cut out, for tests that look for words of one language on
// a page of another.
func (l *Locale) Fragments() []string {
	var out []string
	add := func(s string) {
		for _, part := range placeholder.Split(s, -1) {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
	}
	for _, m := range l.cat.messages {
		if m.forms == nil {
			add(m.text)
		}
		for _, text := range m.forms {
			add(text)
		}
	}
	return out
}
