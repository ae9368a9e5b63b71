package kvtest

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Golden checks one record encoding against testdata/records/NAME.golden,
// which update rewrites from enc. What this release writes must be the
// golden bytes (a new layout needs a new version and a new file); the
// golden bytes must decode to want (both passed through normalise, which
// may be nil, so that times compare as instants); and neither a truncated
// record nor one of an unknown version may decode.
func Golden(t *testing.T, name string, enc []byte, update bool, decode func([]byte) (any, error), want any, normalise func(any) any) {
	t.Helper()
	if normalise == nil {
		normalise = func(v any) any { return v }
	}
	path := filepath.Join("testdata", "records", name+".golden")
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	got, err := decode(golden)
	if err != nil {
		t.Fatalf("decode the golden bytes: %v", err)
	}
	if !reflect.DeepEqual(normalise(got), normalise(want)) {
		t.Fatalf("golden bytes decode to\n%+v\nwant\n%+v", got, want)
	}
	if !bytes.Equal(enc, golden) {
		t.Fatalf("this release writes %s differently from the golden file: a new layout needs a new version", name)
	}
	if _, err := decode(golden[:len(golden)-2]); err == nil {
		t.Fatal("a truncated record decoded")
	}
	if _, err := decode(append([]byte{99}, golden[1:]...)); err == nil {
		t.Fatal("a record of an unknown version decoded")
	}
}
