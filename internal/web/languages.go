package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/i18n"
)

// The language of a page (API.md, "Languages"): an OpenID client's
// ui_locales on /login, then the locale the page's forms carry (the login
// page passes on a language chosen so), then the signed-in user's stored
// choice, then Accept-Language. <html lang> and dir follow. The send API
// takes a locale field; a sign-in mail is written in the request's choice,
// else the user's stored one, else the browser's (package auth decides,
// since only it knows the user).

// Languages keeps the language a user chose; *auth.Service implements
// it. Nil leaves the account page without a language picker.
type Languages interface {
	UserLocale(ctx context.Context, userID string) (string, error)
	SetUserLocale(ctx context.Context, userID, locale string) error
}

// pageLocale is one language of the pages: the catalogue, and the login
// page's sentences made for the configured kind of email.
type pageLocale struct {
	*i18n.Locale
	// messages are the login page's sentences by the keys of problem
	// and the script, {send} filled in.
	messages map[string]string
	// script is the same for static/app.js, plural forms left for the
	// script to choose with Intl.PluralRules.
	script string
}

// scriptPlurals are the page messages with plural forms, by the
// catalogue key they come from.
var scriptPlurals = map[string]string{
	"code_missing":      "msg.code_missing",
	"code_format":       "msg.code_format",
	"invalid_code_left": "msg.invalid_code_left",
	"wait_seconds":      "wait.seconds",
	"wait_minutes":      "wait.minutes",
}

// pageMessageKeys are the keys of the login page's sentences (problem's
// and the script's); each maps to a catalogue key by messageKey.
var pageMessageKeys = []string{
	"email_missing", "invalid_email", "invalid_code", "locked", "locked_wait", "expired", "expired_resend",
	"rate_limited", "send_limited", "resend_wait", "link_other_browser", "different_browser", "expired_link",
	"link_incomplete", "cross_origin_request", "invalid_redirect", "forbidden", "unavailable", "internal",
	"invalid_request", "network", "resent", "resend", "resend_in", "signing_in", "signed_out", "deleted",
	"signed_in_elsewhere", "gone_elsewhere", "wait_moment",
}

// messageKey is the catalogue key of a page message for the kind of
// email: some sentences speak of a code or a link, some have a version
// for a link-only email.
func messageKey(key string, t auth.PasswordlessType) string {
	thing := "link"
	if t.HasCode() {
		thing = "code"
	}
	switch key {
	case "expired_resend", "resend_wait", "resent", "resend", "resend_in":
		return "msg." + key + "." + thing
	case "different_browser", "expired", "locked_wait":
		if !t.HasCode() {
			return "msg." + key + ".link"
		}
	case "link_incomplete":
		if t.HasCode() {
			return "msg." + key + ".code"
		}
	case "wait_moment":
		return "wait.moment"
	}
	return "msg." + key
}

func newPageLocale(l *i18n.Locale, t auth.PasswordlessType) (*pageLocale, error) {
	send := l.T("login.send.link")
	if t.HasCode() {
		send = l.T("login.send.code")
	}
	pl := &pageLocale{Locale: l, messages: map[string]string{}}
	script := map[string]any{}
	for _, key := range pageMessageKeys {
		text := strings.ReplaceAll(l.T(messageKey(key, t), "send", send), "{send}", send)
		pl.messages[key] = text
		script[key] = text
	}
	for key, from := range scriptPlurals {
		script[key] = l.Raw(from)
	}
	b, err := json.Marshal(script)
	if err != nil {
		return nil, fmt.Errorf("web: page messages: %w", err)
	}
	pl.script = string(b)
	return pl, nil
}

// lang is the language of r's page, decided once per request.
func (s *Server) lang(r *http.Request) *pageLocale {
	st := stateOf(r.Context())
	if st.lang == nil {
		st.lang = s.negotiate(r, "")
	}
	return st.lang
}

// useStoredLocale decides r's language again now that the signed-in
// user, and the language they chose, are known.
func (s *Server) useStoredLocale(r *http.Request, userID string) {
	if s.languages == nil {
		return
	}
	stored, err := s.languages.UserLocale(r.Context(), userID)
	if err != nil {
		return // the page still works in the browser's language
	}
	stateOf(r.Context()).lang = s.negotiate(r, stored)
}

// useMailLocale decides r's language again for a page about a sign-in
// mail (the magic link's confirm page): the language the mail was
// written in comes before the browser's.
func (s *Server) useMailLocale(r *http.Request, locale string) {
	stateOf(r.Context()).lang = s.pages.locales[s.pages.bundle.Negotiate(locale, r.Header.Get("Accept-Language")).Tag()]
}

func (s *Server) negotiate(r *http.Request, stored string) *pageLocale {
	l := s.pages.bundle.Negotiate(append(explicitLocales(r), stored, r.Header.Get("Accept-Language"))...)
	return s.pages.locales[l.Tag()]
}

// explicitLocales are the languages r names itself, in API.md's order:
// ui_locales (an OpenID client's, on /login), then the locale of the
// login page's forms (or of a URL). Each is only a preference: one that
// names no language Latch has gives way to the next.
func explicitLocales(r *http.Request) []string {
	var prefs []string
	q := r.URL.Query()
	for _, v := range []string{q.Get("ui_locales"), q.Get("locale")} {
		if v != "" {
			prefs = append(prefs, v)
		}
	}
	// Only a form its handler has read: a request a middleware refused
	// keeps its body unread.
	if r.PostForm != nil {
		if v := r.PostForm.Get("locale"); v != "" {
			prefs = append(prefs, v)
		}
	}
	return prefs
}

// chosenLocale is the tag of the first supported language among the
// preferences a request named itself (ui_locales, a locale field), or "".
func (s *Server) chosenLocale(preferences ...string) string {
	for _, p := range preferences {
		if l, ok := s.pages.bundle.Match(p); ok {
			return l.Tag()
		}
	}
	return ""
}

// browserLocale is the tag of the supported language of Accept-Language,
// or "".
func (s *Server) browserLocale(r *http.Request) string {
	return s.chosenLocale(r.Header.Get("Accept-Language"))
}

// msg is a login-page sentence in r's language.
func (s *Server) msg(r *http.Request, key string) string { return s.lang(r).messages[key] }

// waitWords says a wait in words: "1 second", "45 seconds", "2 minutes".
func waitWords(l *i18n.Locale, sec int) string {
	switch {
	case sec <= 0:
		return l.T("wait.moment")
	case sec < 90:
		return l.T("wait.seconds", "n", sec)
	}
	return l.T("wait.minutes", "n", (sec+59)/60)
}

// checkLocaleField refuses a locale field that is no language tag at all;
// a well-formed one Latch lacks is a preference it cannot meet, and the
// next one in order applies.
func checkLocaleField(v string) error {
	if v == "" {
		return nil
	}
	if len(v) > 100 || !i18n.WellFormed(v) {
		return auth.FieldError("locale", "must be a BCP 47 language tag such as de or pt-BR")
	}
	return nil
}

// dateWords says a day in the page's language: "2 Dec 2026", "2. Dez.
// 2026", "٢ ديسمبر ٢٠٢٦".
func dateWords(l *i18n.Locale, t time.Time) string {
	return l.T("date.short", "day", t.Day(), "month", l.T("month."+strconv.Itoa(int(t.Month()))), "year", l.Numerals(strconv.Itoa(t.Year())))
}
