package auth

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxEmailLength is the longest address accepted, as in the contract.
const MaxEmailLength = 320

// NormalizeEmail trims an address, checks it, and lowercases its domain
// (the local part keeps its case: it may matter to the receiving server).
// It accepts only a bare addr-spec: no display name, no angle brackets, no
// comments, no control characters, and no invisible ones (zero-width,
// bidi controls and the other format characters, Cf), which would make
// two addresses that look alike differ; so a normalized address is safe
// to put in a mail header and reads as what it is.
func NormalizeEmail(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return "", Errorf(CodeInvalidEmail, "Enter your email address.")
	case len(s) > MaxEmailLength || !utf8.ValidString(s):
		return "", Errorf(CodeInvalidEmail, "That email address is not valid.")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return "", Errorf(CodeInvalidEmail, "That email address is not valid.")
		}
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", Errorf(CodeInvalidEmail, "That email address is not valid.")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if len(local) > 64 || !validDomain(domain) {
		return "", Errorf(CodeInvalidEmail, "That email address is not valid.")
	}
	return local + "@" + domain, nil
}

// validDomain wants at least two dot-separated labels of letters, digits
// and inner hyphens, each at most 63 bytes; address literals are refused.
func validDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-') {
				return false
			}
		}
	}
	return true
}

// EmailDomain returns the domain of a normalized address.
func EmailDomain(email string) string {
	return email[strings.LastIndexByte(email, '@')+1:]
}

// MaskEmail shortens an address for logs: "ada@example.com" → "a***@example.com".
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(email)
	return string(first) + "***" + email[at:]
}
