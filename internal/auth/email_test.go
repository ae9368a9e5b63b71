package auth_test

import (
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"ada@example.com", "ada@example.com"},
		{"  Ada.Lovelace+latch@Example.COM\t", "Ada.Lovelace+latch@example.com"},
		{"o'brien@sub.example.co.uk", "o'brien@sub.example.co.uk"},
		{"user@bücher.example", "user@bücher.example"},
	} {
		got, err := auth.NormalizeEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"", "   ", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com",
		"Ada <ada@example.com>", "<ada@example.com>", "ada@example.com\r\nBcc: eve@evil.com",
		"ada@exa mple.com", "ada@[127.0.0.1]", "ada@-example.com", "ada@example..com",
		"ada(comment)@example.com", strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 320) + ".com", "ada\x00@example.com",
		"ada\u200b@example.com", "ad\u202ea@example.com", "\ufeffada@example.com", "ada@exam\u00adple.com", "ada@example.com\u2066",
	} {
		if got, err := auth.NormalizeEmail(bad); auth.ErrorCode(err) != auth.CodeInvalidEmail {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want invalid_email", bad, got, err)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	if got := auth.MaskEmail("ada@example.com"); got != "a***@example.com" {
		t.Fatalf("MaskEmail = %q", got)
	}
}
