package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestNoSecretsInLogs signs in every way with debug logging on and then
// scans everything the process wrote for the secrets it handled.
func TestNoSecretsInLogs(t *testing.T) {
	secret := "log-scan-secret-log-scan-secret-0123456789"
	env := testEnv(t.TempDir(), "APP_ENV", "test", "LOG_LEVEL", "debug", "LOG_FORMAT", "json", "AUDIT_LOG", "stdout", "SESSION_SECRET", secret)
	l := startLatch(t, env)
	c := newBrowser(t, l.base)
	var secrets []string

	// By code, with a wrong code first.
	_, sent := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	code, link := c.lastMail("ada@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": wrong})
	if status, _ := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code}); status != 200 {
		t.Fatalf("verify: %d", status)
	}
	u, _ := url.Parse(link)
	secrets = append(secrets, u.Query().Get("link_token"))
	base, _ := url.Parse(l.base)
	for _, ck := range c.http.Jar.Cookies(base) {
		secrets = append(secrets, ck.Value)
	}

	// By link, in a second browser.
	phone := newBrowser(t, l.base)
	phone.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "grace@example.com"})
	for _, ck := range phone.http.Jar.Cookies(base) {
		if _, binding, ok := strings.Cut(ck.Value, "."); ok {
			secrets = append(secrets, binding)
		}
	}
	code2, link2 := phone.lastMail("grace@example.com")
	u2, _ := url.Parse(link2)
	phone.do(http.MethodGet, strings.TrimPrefix(link2, l.base), "", "")
	if status, _, _ := phone.do(http.MethodPost, "/api/auth/passwordless/verify", "application/x-www-form-urlencoded", u2.RawQuery); status != 303 {
		t.Fatalf("link: %d", status)
	}
	secrets = append(secrets, u2.Query().Get("link_token"))
	for _, ck := range phone.http.Jar.Cookies(base) {
		secrets = append(secrets, ck.Value)
	}
	phone.postJSON("/api/auth/logout?scope=global", nil)
	c.postJSON("/api/auth/logout", nil)
	l.stop()

	logs := l.out.String()
	if !strings.Contains(logs, `"event":"login_succeeded"`) || !strings.Contains(logs, `"route":"POST /api/auth/passwordless/email/verify/code"`) {
		t.Fatalf("the logs lack the audit and access lines this test expects:\n%s", logs)
	}
	if strings.Contains(logs, "ada@example.com") || strings.Contains(logs, "grace@example.com") {
		t.Errorf("a full email address is in the logs")
	}
	secrets = append(secrets, secret)
	for _, s := range secrets {
		if len(s) >= 6 && strings.Contains(logs, s) {
			t.Errorf("a secret (%d characters, starting %q) appears in the logs", len(s), s[:3])
		}
	}
	// Codes are short digits: look for them as whole numbers, so that a
	// timestamp's nanoseconds cannot match by chance.
	for _, code := range []string{code, code2} {
		if regexp.MustCompile(`(^|[^0-9])` + code + `([^0-9]|$)`).MatchString(logs) {
			t.Errorf("a code appears in the logs")
		}
	}
}
