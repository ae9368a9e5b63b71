package main

import (
	"os"
	"slices"
	"strings"

	"github.com/joho/godotenv"
)

// latchPrefixes start names that only Latch's settings use, so a name
// with one of them that is not a setting is most likely a typo
// (SESION_SECRET is caught by distance, SMTP_PASSWORD by prefix).
var latchPrefixes = []string{
	"APP_", "SESSION_", "REDIS_", "SMTP_", "MAIL_", "PASSWORDLESS_", "RATE_LIMIT_", "SCALEKIT_",
	"CORS_", "REDIRECT_", "COOKIE_", "TRUSTED_", "ALLOWED_EMAIL", "LATCH_",
}

// notLatchNames are set by the system, a shell or the test tools and sit
// close to a setting's name (HOME is two edits from HOST).
var notLatchNames = []string{"HOME", "HOSTNAME", "HOSTTYPE", "PWD", "OLDPWD", "PATH", "TERM", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "PS1", "PS2"}

// unknownSettings returns, for each name in names that looks like one of
// Latch's settings but is not, the setting it is closest to ("" when it
// only shares a prefix), sorted by name. A look-alike is at most one edit
// (a transposition counting as one) from a setting of up to five letters,
// or two from a longer one.
func unknownSettings(names []string) map[string]string {
	known := map[string]bool{}
	var settings []string
	for _, v := range configVars() {
		known[v.Name] = true
		settings = append(settings, v.Name)
	}
	out := map[string]string{}
	for _, n := range names {
		if known[n] || slices.Contains(notLatchNames, n) || slices.Contains(remoteVars, n) || strings.HasPrefix(n, "LATCH_TEST_") {
			continue
		}
		best, bestDist := "", 3
		for _, s := range settings {
			limit := 2
			if len(s) <= 5 {
				limit = 1
			}
			if d := editDistance(n, s); d <= limit && d < bestDist {
				best, bestDist = s, d
			}
		}
		if best != "" || slices.ContainsFunc(latchPrefixes, func(p string) bool { return strings.HasPrefix(n, p) }) {
			out[n] = best
		}
	}
	return out
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of neighbours.
func editDistance(a, b string) int {
	if d := len(a) - len(b); d > 2 || d < -2 {
		return 3 // farther than any limit, cheaply
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// environmentNames lists the variables set in the process environment and
// in ./.env: the names a getenv cannot list, for unknownSettings.
func environmentNames() []string {
	var names []string
	for _, kv := range os.Environ() {
		if k, _, ok := strings.Cut(kv, "="); ok && k != "" {
			names = append(names, k)
		}
	}
	if file, err := godotenv.Read(".env"); err == nil {
		for k := range file {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
