package web

import (
	"strings"

	"github.com/latch-auth/latch/internal/i18n"
)

// deviceName names a browser for the account page's list of sessions,
// from its User-Agent: "Firefox on Linux", "Safari on iPhone". It is a
// hint for a person, never used for a decision, so a rough reading is
// enough and an unknown agent is "A browser".
func deviceName(ua string) string {
	browser := "A browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Chromium/", "Chromium"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}

// deviceWords is a stored device name (deviceName's, kept in English in
// the session record) in the page's language: "Chrome على Linux".
func deviceWords(l *i18n.Locale, stored string) string {
	browser, os, found := strings.Cut(stored, " on ")
	if browser == "" || browser == "A browser" {
		browser = l.T("account.a_browser")
	}
	if !found {
		return browser
	}
	return l.T("account.device_on", "browser", browser, "os", os)
}
