package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated files (docs/configuration.md) from the code")

// configReferencePath is docs/configuration.md, seen from cmd/latch.
var configReferencePath = filepath.Join("..", "..", "docs", "configuration.md")

// TestConfigReference fails when docs/configuration.md is not what the
// Config struct renders. Regenerate it with
//
//	go test ./cmd/latch -run TestConfigReference -update
func TestConfigReference(t *testing.T) {
	want := configReference()
	if *update {
		if err := os.WriteFile(configReferencePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", configReferencePath)
		return
	}
	got, err := os.ReadFile(configReferencePath)
	if err != nil {
		t.Fatalf("%v\nregenerate it: go test ./cmd/latch -run TestConfigReference -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/configuration.md is out of date with Config (first difference on line %d)\n"+
			"regenerate it: go test ./cmd/latch -run TestConfigReference -update", firstDifferentLine(got, want))
	}
}

func firstDifferentLine(a, b []byte) int {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

// TestConfigTags keeps the tags the reference is made of well formed:
// every variable is named once, upper snake case, and explained.
func TestConfigTags(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	seen := map[string]bool{}
	for _, v := range configVars() {
		if !name.MatchString(v.Name) {
			t.Errorf("%s: not an UPPER_SNAKE_CASE variable name", v.Name)
		}
		if seen[v.Name] {
			t.Errorf("%s: two fields read it", v.Name)
		}
		seen[v.Name] = true
		if strings.TrimSpace(v.Help) == "" {
			t.Errorf("%s: no help tag", v.Name)
		}
		if v.Secret && v.Default != "" {
			t.Errorf("%s: a secret must not have a default", v.Name)
		}
	}
	for _, must := range []string{"SESSION_SECRET", "SESSION_SECRET_PREVIOUS", "SMTP_URL", "REDIS_URL", "SCALEKIT_CLIENT_SECRET", "API_CLIENTS"} {
		var found bool
		for _, v := range configVars() {
			if v.Name == must {
				found = true
				if !v.Secret {
					t.Errorf("%s: not marked secret:\"true\"", must)
				}
			}
		}
		if !found {
			t.Errorf("%s: not in Config", must)
		}
	}
}

func TestConfigCommandPrintsTheReference(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"config"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), configReference()) {
		t.Fatalf("latch config printed something else than the reference")
	}
	for _, want := range []string{"| `SESSION_SECRET` | — | string | secret |", "| `PORT` | `3000` | integer |", "| `SESSION_LIFETIME` | `7d` | duration |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
}
