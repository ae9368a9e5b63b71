package main

import (
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/mail/smtpmail/smtptest"
)

// TestMailRelayDownIsDegradedNotUnready: with the SMTP relay down, a
// replica still serves (sign-ins are queued durably), so readiness stays
// 200 and says the mail relay is degraded, and when; the metric says it
// too. A delivery that fails is noticed at once, not after the probe's
// cache runs out; one that succeeds again clears it.
func TestMailRelayDownIsDegradedNotUnready(t *testing.T) {
	relay := smtptest.Start(t, smtptest.Options{})
	l := startLatch(t, testEnv(t.TempDir(), "SMTP_URL", relay.URL(""),
		"MAIL_RETRY_BASE_DELAY", "200ms", "MAIL_RETRY_MAX_DELAY", "200ms", "SMTP_TIMEOUT", "2s"))
	c := newBrowser(t, l.base)

	status, body := c.getJSON("/api/health/ready")
	if checks, _ := body["checks"].(map[string]any); status != 200 || checks["mail"] != "ok" || body["status"] != "ok" {
		t.Fatalf("ready with the relay up: %d %v", status, body)
	}
	if m := metric(t, c, "latch_mail_relay_up"); m != "1" {
		t.Errorf("latch_mail_relay_up = %q with the relay up, want 1", m)
	}

	relay.Stop()
	if s, _ := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"}); s != 200 {
		t.Fatalf("send with the relay down: %d, want 200 (the mail is queued)", s)
	}
	var mail string
	waitFor(t, "readiness to report the failed delivery", 15*time.Second, func() bool {
		status, body = c.getJSON("/api/health/ready")
		checks, _ := body["checks"].(map[string]any)
		mail, _ = checks["mail"].(string)
		return strings.HasPrefix(mail, "degraded: ")
	})
	if status != 200 || body["status"] != "degraded" {
		t.Errorf("ready with the relay down: %d %v; want 200 and status degraded", status, body)
	}
	if !strings.Contains(mail, "failed") || !strings.Contains(mail, "ago") || strings.Contains(mail, relay.Addr()) {
		t.Errorf("mail check %q: want what failed and when, and not the relay's address", mail)
	}
	if checks, _ := body["checks"].(map[string]any); checks["store"] != "ok" {
		t.Errorf("store check %v", checks["store"])
	}
	if m := metric(t, c, "latch_mail_relay_up"); m != "0" {
		t.Errorf("latch_mail_relay_up = %q with the relay down, want 0", m)
	}

	relay.Restart(t)
	relay.WaitMessages(t, 1, 20*time.Second)
	waitFor(t, "readiness to see the relay back", 15*time.Second, func() bool {
		_, body = c.getJSON("/api/health/ready")
		checks, _ := body["checks"].(map[string]any)
		return checks["mail"] == "ok" && body["status"] == "ok"
	})
}

// metric returns the value of a metric without labels from /metrics.
func metric(t *testing.T, c *client, name string) string {
	t.Helper()
	_, _, b := c.do("GET", "/metrics", "", "")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return ""
}
