package apidoc

import "testing"

func TestDocumentIsJSON(t *testing.T) {
	b, err := JSON()
	if err != nil || len(b) < 1000 {
		t.Fatalf("JSON() = %d bytes, %v", len(b), err)
	}
}
