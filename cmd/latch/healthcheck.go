package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// healthcheck asks the local server whether it is ready; for container
// health checks, which need an exit code and have no curl. It reads HOST
// and PORT as serve does and exits 1 when the server is not ready (the
// failing checks are named) or does not answer, 2 for a bad PORT.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	port := 3000
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return exitError{code: 2, err: fmt.Errorf("PORT: %q is not a TCP port", p)}
		}
		port = n
	}
	host := getenv("HOST")
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/api/health/ready"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return exitError{code: 1, err: err}
	}
	// No proxy from the environment: the probe is for this machine only.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return exitError{code: 1, err: fmt.Errorf("not ready: %w", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return exitError{code: 1, err: fmt.Errorf("not ready: %s answered %d%s", url, resp.StatusCode, failingChecks(resp.Body))}
	}
	return nil
}

// failingChecks names the checks a readiness answer reports as failing,
// as " (store: unavailable, …)", or "" when the body says nothing useful.
func failingChecks(body io.Reader) string {
	var v struct {
		Checks map[string]string `json:"checks"`
	}
	if json.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&v) != nil {
		return ""
	}
	var bad []string
	for name, state := range v.Checks {
		if state != "ok" {
			bad = append(bad, name+": "+state)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	slices.Sort(bad)
	return " (" + strings.Join(bad, ", ") + ")"
}
