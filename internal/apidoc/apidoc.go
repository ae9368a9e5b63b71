// Package apidoc serves the OpenAPI 3.1 document of Latch's own HTTP API
// at GET /api/openapi.json. The document is written by hand in
// openapi.yaml beside this file (embedded, served as JSON); the tests in
// cmd/latch prove that it names exactly the /api routes the server
// serves and that it is valid OpenAPI.
package apidoc

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var source []byte

// JSON returns the document as JSON.
var JSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(source, &doc); err != nil {
		return nil, fmt.Errorf("apidoc: openapi.yaml: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("apidoc: openapi.yaml as JSON: %w", err)
	}
	return b, nil
})

// Handler serves the document.
func Handler(w http.ResponseWriter, _ *http.Request) {
	b, err := JSON()
	if err != nil {
		http.Error(w, "the API document is broken", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "public, max-age=3600")
	w.Write(b)
}
