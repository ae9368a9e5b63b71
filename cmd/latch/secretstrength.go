package main

import (
	"fmt"
	"math"
	"strings"
	"unicode"
)

// minSecretBits is the estimated entropy SESSION_SECRET needs. A random
// 32-byte value in base64 or hex estimates at 165 bits or more; a phrase
// made of words, a repeated or sequential string, or a keyboard run
// estimates far lower.
const minSecretBits = 128

// secretAdvice says how to make a good secret; every refusal ends with it.
const secretAdvice = "generate one with `openssl rand -base64 32`"

// weakSecret reports why s looks guessable, or "" when its estimated
// entropy is at least minSecretBits.
//
// The estimate is deliberately simple and errs low for human-made strings:
// each character costs log2 of the alphabet its classes span (lower,
// upper, digits, symbols), except that a character continuing a repeat
// ("aaaa", "abab"), a sequence ("abcd", "4321") or a keyboard run
// ("qwerty", "asdf") costs one bit, and a common word costs 12 bits as a
// whole, as if drawn from a list of 4096. Fewer than 8 different
// characters is refused outright.
func weakSecret(s string) string {
	r := []rune(s)
	distinct := map[rune]bool{}
	for _, c := range r {
		distinct[c] = true
	}
	if len(distinct) < 8 {
		return fmt.Sprintf("it uses only %d different characters", len(distinct))
	}
	perChar := math.Log2(float64(alphabetSize(r)))
	bits := 0.0
	for i := 0; i < len(r); {
		if n := wordAt(r, i); n > 0 {
			bits += 12
			i += n
			continue
		}
		if predictable(r, i) {
			bits++
		} else {
			bits += perChar
		}
		i++
	}
	if bits < minSecretBits {
		return fmt.Sprintf("it is too predictable (about %.0f bits of entropy, %d needed): repeats, sequences, keyboard runs and words are easy to guess", bits, minSecretBits)
	}
	return ""
}

// alphabetSize is the size of the character classes s draws from.
func alphabetSize(s []rune) int {
	var lower, upper, digit, other bool
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= '0' && c <= '9':
			digit = true
		default:
			other = true
		}
	}
	n := 0
	for _, class := range []struct {
		on   bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if class.on {
			n += class.size
		}
	}
	return max(n, 2)
}

// predictable reports whether s[i] continues a pattern of at least two
// steps before it: a run of one character ("aaa"), a sequence ("abc",
// "321"), a keyboard run ("qwe"), or a period of two to four characters
// ("abcabc"). Single coincidences, common in random strings over a small
// alphabet such as hex, cost nothing.
func predictable(s []rune, i int) bool {
	if i < 2 {
		return false
	}
	a, b, c := unicode.ToLower(s[i-2]), unicode.ToLower(s[i-1]), unicode.ToLower(s[i])
	if d := c - b; d == b-a && d >= -1 && d <= 1 {
		return true
	}
	if adjacentKeys(a, b) && adjacentKeys(b, c) && a != c {
		return true
	}
	for p := 2; p <= 4 && p < i; p++ {
		if s[i] == s[i-p] && s[i-1] == s[i-1-p] {
			return true
		}
	}
	return false
}

// adjacentKeys reports whether x and y sit side by side on a keyboard row.
func adjacentKeys(x, y rune) bool {
	for _, row := range keyboardRows {
		if j := strings.IndexRune(row, x); j >= 0 {
			if (j+1 < len(row) && rune(row[j+1]) == y) || (j > 0 && rune(row[j-1]) == y) {
				return true
			}
		}
	}
	return false
}

var keyboardRows = []string{"1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./", "qwertzuiop", "yxcvbnm", "azertyuiop", "wxcvbn"}

// wordAt returns the length of the longest common word at s[i:], or 0.
func wordAt(s []rune, i int) int {
	best := 0
	for _, w := range commonWords {
		n := len(w)
		if n > best && i+n <= len(s) && strings.EqualFold(string(s[i:i+n]), w) {
			best = n
		}
	}
	return best
}

// commonWords are words people put in secrets they make up.
var commonWords = strings.Fields(`
	secret secrets session sessions password passwd passphrase pass1234 changeme change default
	admin administrator root latch login logon signin token tokens cookie cookies example sample
	test testing development develop production prod staging local localhost server service
	super very long random string value letmein welcome hello world qwerty monkey dragon master
	shadow sunshine princess football baseball iloveyou trustno1 abc123 password1 access
	please dont guess this that these those mine your yours company app application website
	key keys private public hidden hide safe secure security strong stronger strongest
	my-secret mysecret topsecret notsecret replace replaceme update todo fixme temp temporary
	demo foobar foo bar baz lorem ipsum dolor amet
`)
