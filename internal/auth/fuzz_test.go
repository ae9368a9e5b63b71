package auth_test

import (
	"net/mail"
	"strings"
	"testing"
	"unicode"

	"github.com/latch-auth/latch/internal/auth"
)

// FuzzNormalizeEmail checks that whatever NormalizeEmail accepts is safe
// for a mail header and stable under a second normalization.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", " Ada@EXAMPLE.com ", "a\r\nBcc: x@y.z@example.com", "\"a b\"@example.com", "Name <a@b.co>", "a@b", "a@[1.2.3.4]", "ü@bücher.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := auth.NormalizeEmail(in)
		if err != nil {
			if auth.ErrorCode(err) != auth.CodeInvalidEmail {
				t.Fatalf("NormalizeEmail(%q) failed with %v, want invalid_email", in, err)
			}
			return
		}
		if len(out) > auth.MaxEmailLength || strings.ContainsFunc(out, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			t.Fatalf("NormalizeEmail(%q) = %q: too long or has space/control characters", in, out)
		}
		if strings.ContainsAny(out, "<>,;\"") && !strings.HasPrefix(out, "\"") {
			t.Fatalf("NormalizeEmail(%q) = %q: header-significant characters", in, out)
		}
		again, err := auth.NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
		a, err := mail.ParseAddress(out)
		if err != nil || a.Name != "" || a.Address != out {
			t.Fatalf("NormalizeEmail(%q) = %q, which net/mail reads as %v, %v", in, out, a, err)
		}
		if d := auth.EmailDomain(out); d != strings.ToLower(d) {
			t.Fatalf("domain %q not lowercased", d)
		}
	})
}
