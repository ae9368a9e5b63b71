package main

import (
	"net/url"

	"github.com/latch-auth/latch/internal/events"
)

// validateWebhooks checks WEBHOOK_*: both the URL and the secret or
// neither, an absolute http(s) URL (https in production unless on
// loopback), a well-formed secret (its value is never quoted), and
// delivery settings the worker accepts.
func (c *Config) validateWebhooks(bad func(string, ...any)) {
	switch {
	case c.WebhookURL == "" && c.WebhookSecret == "":
	case c.WebhookURL == "":
		bad("WEBHOOK_URL: required with WEBHOOK_SECRET (where should the events go?)")
	case c.WebhookSecret == "":
		bad("WEBHOOK_SECRET: required with WEBHOOK_URL; make one with: echo whsec_$(openssl rand -base64 32)")
	}
	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("WEBHOOK_URL: not an absolute http or https URL")
		case c.production() && u.Scheme == "http" && !isLocalhost(u.Hostname()):
			bad("WEBHOOK_URL: production needs an https URL (http is allowed only for localhost): events carry addresses")
		}
	}
	if c.WebhookSecret != "" {
		s, err := events.ParseSecret(c.WebhookSecret)
		if err != nil {
			bad("WEBHOOK_SECRET: %v", err)
		}
		c.webhookSecret = s
	}
	if c.WebhookTimeout <= 0 || c.WebhookWorkers < 1 || c.WebhookRetryMaxAttempts < 1 || c.WebhookRetryBaseDelay <= 0 || c.WebhookRetryMaxDelay < c.WebhookRetryBaseDelay {
		bad("WEBHOOK_TIMEOUT, WEBHOOK_WORKERS, WEBHOOK_RETRY_*: need a positive timeout and base delay, at least one worker and one attempt, and a max delay no shorter than the base delay")
	}
}
