package i18n

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dutch writes a catalogue for a language Latch does not ship into dir:
// the English one under another tag, one sentence translated.
func dutch(t *testing.T, dir string) {
	t.Helper()
	b, err := localeFS.ReadFile("locales/en.json")
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	f["language"], f["name"] = "nl", "Nederlands"
	f["messages"].(map[string]any)["title.sign_in"] = "Inloggen"
	out, _ := json.Marshal(f)
	if err := os.WriteFile(filepath.Join(dir, "nl.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestALanguageIsAddedByDroppingAFile: LOCALES_DIR's catalogues join the
// embedded ones, checked the same way.
func TestALanguageIsAddedByDroppingAFile(t *testing.T) {
	dir := t.TempDir()
	dutch(t, dir)
	if err := CheckDirectory(dir); err != nil {
		t.Fatal(err)
	}
	UseDirectory(dir)
	t.Cleanup(func() { extraDir.Store(nil) })
	b, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	l, ok := b.Match("nl-BE")
	if !ok || l.Tag() != "nl" || l.T("title.sign_in") != "Inloggen" {
		t.Fatalf("nl-BE matched %v %v", ok, l)
	}
	if l, _ := b.Match("de"); l == nil || l.Tag() != "de" {
		t.Fatal("the embedded languages are still there")
	}

	// A broken file is named at the check, and so is a missing directory.
	os.WriteFile(filepath.Join(dir, "sv.json"), []byte(`{"language":"sv","name":"Svenska","direction":"ltr","messages":{}}`), 0o644)
	if err := CheckDirectory(dir); err == nil || !strings.Contains(err.Error(), "sv.json") {
		t.Fatalf("an incomplete catalogue: %v", err)
	}
	if err := CheckDirectory(filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("a directory that does not exist passed the check")
	}
}
