package main

import (
	"net/http"
	"testing"
)

func TestDevOutboxAbsentInProduction(t *testing.T) {
	env := testEnv(t.TempDir(), "APP_ENV", "production", "SESSION_SECRET", strongSecret, "METRICS_ADDR", "127.0.0.1:0",
		"SMTP_URL", "smtp://127.0.0.1:1", "BASE_URL", "http://localhost:3000")
	l := startLatch(t, env)
	c := newBrowser(t, l.base)
	if status, _, _ := c.do(http.MethodGet, "/dev/outbox.json", "", ""); status != 404 {
		t.Fatalf("/dev/outbox.json in production: %d", status)
	}
	if status, _, _ := c.do(http.MethodGet, "/dev/outbox", "", ""); status != 404 {
		t.Fatalf("/dev/outbox in production: %d", status)
	}
}
