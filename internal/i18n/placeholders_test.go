package i18n

import (
	"slices"
	"testing"
)

// findPlaceholders agrees with the placeholder pattern the catalogues
// are checked against, on every message of every catalogue and on edges.
func TestFindPlaceholdersMatchesThePattern(t *testing.T) {
	texts := []string{"", "{", "}", "{}", "{n}", "{{n}}", "a {n} b {app}", "{N}", "{n", "n}", "{a-b}", "{x_1Y}", "{é}", "{n}{m}", "x{ab}y{", "{1a}"}
	b, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.cats {
		for _, m := range c.messages {
			texts = append(texts, m.text)
			for _, f := range m.forms {
				texts = append(texts, f)
			}
		}
	}
	for _, s := range texts {
		var want [][4]int
		for _, m := range placeholder.FindAllStringSubmatchIndex(s, -1) {
			want = append(want, [4]int{m[0], m[1], m[2], m[3]})
		}
		if got := findPlaceholders(s); !slices.Equal(got, want) {
			t.Fatalf("%q: %v, want %v", s, got, want)
		}
	}
}
