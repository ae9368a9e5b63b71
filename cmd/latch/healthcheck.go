package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// healthcheck asks the local server whether it is ready; for container
// health checks, which need an exit code and have no curl.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	port := 3000
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return exitError{code: 2, err: fmt.Errorf("PORT: %q is not a number", p)}
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return exitError{code: 1, err: fmt.Errorf("not ready: %w", err)}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return exitError{code: 1, err: fmt.Errorf("not ready: %s answered %d", url, resp.StatusCode)}
	}
	return nil
}
