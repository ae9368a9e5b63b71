package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleWatchCatchesProblems proves the watch that every test relies
// on: a page that breaks its CSP, logs an error and throws is caught, while
// the 4xx answers that the login page expects are not held against it.
func TestConsoleWatchCatchesProblems(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'")
		// #done comes before the scripts, so it exists whenever the fetch answers.
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>t</title><link rel="icon" href="data:,"><h1 style="color:red">Broken</h1>`+
			`<p id="done"></p><script>console.log("inline, blocked")</script><script src="/page.js"></script>`)
	})
	mux.HandleFunc("GET /page.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `console.error("boom");
			fetch("/api/auth/passwordless/email/verify/code", {method: "POST"}).then(function () {
				document.getElementById("done").textContent = "done";
				setTimeout(function () { throw new Error("thrown"); }, 0);
			});`)
	})
	mux.HandleFunc("POST /api/auth/passwordless/email/verify/code", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":"invalid_code"}`, http.StatusBadRequest)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	b := mustBrowser(t, &server{URL: ts.URL}, browserOptions{})
	b.mustDo(chromedp.Navigate(ts.URL), waitText("#done", "done"), chromedp.Sleep(200*time.Millisecond))

	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	all := strings.Join(b.log.problems, "\n")
	for _, want := range []string{"Applying inline style violates", "Executing inline script violates", "CSP violation: style-src", "console.error: \"boom\"", "Uncaught Error: thrown"} {
		if !strings.Contains(all, want) {
			t.Errorf("the watch missed %q; it caught:\n%s", want, all)
		}
	}
	if strings.Contains(all, "status of 400") {
		t.Errorf("the watch counts an expected 400 of the API as a problem:\n%s", all)
	}
	b.log.problems = nil // caught as intended; not this test's failure
}
