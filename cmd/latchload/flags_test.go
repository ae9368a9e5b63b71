package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLoopbackURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" when refused
	}{
		{"http://127.0.0.1:3000", "http://127.0.0.1:3000"},
		{"http://127.0.0.1:3000/", "http://127.0.0.1:3000"},
		{"http://127.1.2.3:8080", "http://127.1.2.3:8080"},
		{"http://[::1]:1", "http://[::1]:1"},
		{"http://localhost:1", "http://localhost:1"},
		{"http://LOCALHOST.:1", "http://LOCALHOST.:1"},
		{"https://localhost", "https://localhost"},
		{"http://[::ffff:127.0.0.1]:1", "http://[::ffff:127.0.0.1]:1"},
		{"http://10.0.0.1", ""},
		{"http://example.com", ""},
		{"https://192.168.1.1", ""},
		{"http://0.0.0.0:3000", ""},
		{"http://[::]:3000", ""},
		{"http://2130706433", ""},                // 127.0.0.1 as a number: not a literal we accept
		{"http://localhost.example.com:1", ""},   // a name that merely starts with localhost
		{"http://127.0.0.1.nip.io", ""},          // resolves to loopback, but is a name
		{"http://[fe80::1%25lo]:1", ""},          // link-local with a zone
		{"ftp://127.0.0.1", ""},                  // not http
		{"127.0.0.1:3000", ""},                   // no scheme
		{"http://user:pw@127.0.0.1:3000", ""},    // credentials
		{"http://127.0.0.1:3000/?x=1", ""},       // query
		{"http://127.0.0.1:3000/#frag", ""},      // fragment
		{"http://%zz", ""},                       // unparsable
		{"http://example.com@127.0.0.1:1/", ""},  // user info again
		{"http://127.0.0.1:1@example.com/", ""},  // host is example.com
		{"http://127.0.0.1%2f@example.com/", ""}, // same, escaped
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := loopbackURL(tt.url)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("loopbackURL(%q) = %q, want refused", tt.url, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("loopbackURL(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
			}
		})
	}
}

func TestDialLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:80", "127.9.9.9:1", "[::1]:443"} {
		if err := dialLoopbackOnly("tcp", addr, nil); err != nil {
			t.Errorf("dialLoopbackOnly(%s) = %v, want nil", addr, err)
		}
	}
	for _, addr := range []string{"10.0.0.1:80", "93.184.216.34:443", "[2001:db8::1]:80", "0.0.0.0:80", "localhost:80", "nonsense"} {
		if err := dialLoopbackOnly("tcp", addr, nil); err == nil {
			t.Errorf("dialLoopbackOnly(%s) = nil, want refused", addr)
		}
	}
}

// A refused URL ends the program with exit code 2 before anything is
// sent: the address is unroutable here, so a connection attempt would
// hang until the timeout instead of failing at once.
func TestRunRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1", "http://example.com", "https://192.168.1.1"} {
		var stdout, stderr bytes.Buffer
		start := time.Now()
		err := run(context.Background(), []string{"-url", u, "-timeout", "30s"}, nil, &stdout, &stderr)
		var ex exitError
		if !errors.As(err, &ex) || ex.code != 2 {
			t.Fatalf("%s: run = %v, want exit code 2", u, err)
		}
		if !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("%s: error %q does not say why", u, err)
		}
		// A connection attempt would wait out the 30s timeout; anything
		// well under it proves none was made (a bound, not a speed target).
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: refusal took %s; it must not connect", u, d)
		}
		if stdout.Len() > 0 {
			t.Errorf("%s: printed %q on stdout", u, stdout.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if o.base != "http://127.0.0.1:3000" || o.mode != modeMe || o.conc != 16 || o.dur != 10*time.Second || o.baseline || o.pids != nil {
		t.Errorf("defaults = %+v", o)
	}

	o, err = parseFlags([]string{"-url", "http://[::1]:8080/", "-mode", "link", "-c", "32", "-d", "20s",
		"-warmup", "0", "-timeout", "3s", "-pids", "12, 34", "-baseline"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := options{base: "http://[::1]:8080", mode: modeLink, conc: 32, dur: 20 * time.Second, warmup: 0,
		timeout: 3 * time.Second, pids: []int{12, 34}, baseline: true}
	if o.base != want.base || o.mode != want.mode || o.conc != want.conc || o.dur != want.dur || o.warmup != want.warmup ||
		o.timeout != want.timeout || len(o.pids) != 2 || o.pids[0] != 12 || o.pids[1] != 34 || !o.baseline {
		t.Errorf("parseFlags = %+v, want %+v", o, want)
	}

	bad := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"mode", []string{"-mode", "spin"}, "-mode"},
		{"zero workers", []string{"-c", "0"}, "-c"},
		{"negative workers", []string{"-c", "-3"}, "-c"},
		{"too many workers", []string{"-c", "100000"}, "-c"},
		{"not a number", []string{"-c", "many"}, "invalid value"},
		{"zero duration", []string{"-d", "0s"}, "-d"},
		{"over the cap", []string{"-d", "11m"}, "-d"},
		{"not a duration", []string{"-d", "10"}, "invalid value"},
		{"negative warm-up", []string{"-warmup", "-1s"}, "-warmup"},
		{"long warm-up", []string{"-warmup", "5m"}, "-warmup"},
		{"zero timeout", []string{"-timeout", "0"}, "-timeout"},
		{"pid word", []string{"-pids", "latch"}, "-pids"},
		{"pid zero", []string{"-pids", "0"}, "-pids"},
		{"pid negative", []string{"-pids", "12,-1"}, "-pids"},
		{"pid empty item", []string{"-pids", "12,,13"}, "-pids"},
		{"remote url", []string{"-url", "http://10.0.0.1:3000"}, "loopback"},
		{"stray argument", []string{"login"}, "unexpected arguments"},
		{"unknown flag", []string{"-people", "100"}, "not defined"},
		{"crowd flag in another mode", []string{"-n", "100"}, "crowd and burst"},
		{"many servers in another mode", []string{"-url", "http://127.0.0.1:1,http://127.0.0.1:2"}, "only crowd and burst"},
		{"too many people", []string{"-mode", "crowd", "-n", "30000"}, "-n"},
		{"remote sink", []string{"-mode", "burst", "-smtp-addr", "10.0.0.1:25"}, "-smtp-addr"},
		{"long relay delay", []string{"-mode", "burst", "-smtp-delay", "1m"}, "-smtp-delay"},
		{"wrong share", []string{"-mode", "crowd", "-wrong", "2"}, "-wrong"},
		{"baseline of a crowd", []string{"-mode", "crowd", "-baseline"}, "-baseline"},
		{"one remote replica", []string{"-mode", "burst", "-url", "http://127.0.0.1:1,http://10.0.0.1:2"}, "loopback"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseFlags(%q) = %v, want an error about %s", tt.args, err, tt.want)
			}
		})
	}

	// Every problem is reported at once.
	_, err = parseFlags([]string{"-c", "0", "-d", "0", "-mode", "x", "-url", "http://example.com"}, io.Discard)
	for _, w := range []string{"-c", "-d", "-mode", "loopback"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("combined error %v does not mention %s", err, w)
		}
	}

	o, err = parseFlags([]string{"-mode", "burst", "-url", "http://127.0.0.1:1, http://127.0.0.1:2/"}, io.Discard)
	if err != nil || o.n != 2000 || o.smtpAddr != "127.0.0.1:2525" || len(o.bases) != 2 || o.bases[1] != "http://127.0.0.1:2" {
		t.Errorf("burst defaults = %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-mode", "crowd"}, io.Discard)
	if err != nil || o.n != 500 || o.smtpAddr != "" || o.wrong != 0.1 {
		t.Errorf("crowd defaults = %+v, %v", o, err)
	}

	var usage bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, w := range []string{"RATE_LIMIT_MAX=0", "RATE_LIMIT_AUTH_IP_MAX=0", "APP_ENV=development", "-baseline", "-pids"} {
		if !strings.Contains(usage.String(), w) {
			t.Errorf("usage does not mention %s", w)
		}
	}
}

// Bad flags end the program with exit code 2; -h with 0.
func TestRunExitCodes(t *testing.T) {
	var ex exitError
	if err := run(context.Background(), []string{"-c", "0"}, nil, io.Discard, io.Discard); !errors.As(err, &ex) || ex.code != 2 {
		t.Errorf("-c 0: %v, want exit code 2", err)
	}
	if err := run(context.Background(), []string{"-pids", "999999999"}, nil, io.Discard, io.Discard); !errors.As(err, &ex) || ex.code != 2 {
		t.Errorf("-pids of no process: %v, want exit code 2", err)
	}
	if err := run(context.Background(), []string{"-h"}, nil, io.Discard, io.Discard); err != nil {
		t.Errorf("-h: %v", err)
	}
}
