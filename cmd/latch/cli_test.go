package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEveryCommandAnswersHelp: --help prints the command's usage and
// exits 0 without doing the command (serve would listen, healthcheck
// would probe).
func TestEveryCommandAnswersHelp(t *testing.T) {
	for _, c := range commands() {
		for _, flag := range []string{"--help", "-h"} {
			t.Run(c.name+" "+flag, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				var out strings.Builder
				// PORT=1: serve would fail to listen, healthcheck to connect.
				err := run(ctx, []string{c.name, flag}, func(k string) string { return map[string]string{"PORT": "1", "HOST": "127.0.0.1"}[k] }, &out)
				if err != nil {
					t.Fatalf("latch %s %s = %v, want exit 0", c.name, flag, err)
				}
				if want := "usage: latch " + c.name; !strings.Contains(out.String(), want) {
					t.Errorf("latch %s %s printed %q, want %q", c.name, flag, out.String(), want)
				}
				if strings.Contains(out.String(), "listening") {
					t.Errorf("latch %s %s started the server", c.name, flag)
				}
			})
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"--help"}, nil, &out); err != nil || !strings.Contains(out.String(), "healthcheck") {
		t.Errorf("latch --help = %v, %q; want the list of commands", err, out.String())
	}
}

func TestVersionFlags(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		var out strings.Builder
		if err := run(context.Background(), args, nil, &out); err != nil || !strings.HasPrefix(out.String(), "latch ") {
			t.Errorf("latch %s = %v, %q; want the version", strings.Join(args, " "), err, out.String())
		}
	}
}

func TestUnknownFlagsAndArguments(t *testing.T) {
	for _, args := range [][]string{{"serve", "--port", "80"}, {"healthcheck", "extra"}, {"fly"}} {
		err := run(context.Background(), args, func(string) string { return "" }, &strings.Builder{})
		var ex exitError
		if !errors.As(err, &ex) || ex.code != 2 {
			t.Errorf("latch %s = %v, want exit 2", strings.Join(args, " "), err)
		}
	}
}

func TestUnknownSettings(t *testing.T) {
	got := unknownSettings([]string{"SESION_SECRET", "PROT", "SMTP_PASSWORD", "HOME", "PATH", "PORT", "LATCH_TEST_REDIS_URL", "EDITOR", "BASE_ULR", "GOPATH", "HOSTNAME"})
	want := map[string]string{"SESION_SECRET": "SESSION_SECRET", "PROT": "PORT", "SMTP_PASSWORD": "", "BASE_ULR": "BASE_URL"}
	if len(got) != len(want) {
		t.Errorf("unknownSettings = %v, want %v", got, want)
	}
	for n, near := range want {
		if g, ok := got[n]; !ok || g != near {
			t.Errorf("%s: got %q (reported %v), want %q", n, g, ok, near)
		}
	}
}

// TestMisspeltSettingIsWarned runs the program with a typo in the
// environment: it starts (the setting keeps its default) and says so.
func TestMisspeltSettingIsWarned(t *testing.T) {
	t.Setenv("SESION_SECRET", "typo-typo-typo-typo-typo-typo-typo")
	t.Setenv("PROT", "8080")
	l := startLatch(t, testEnv(t.TempDir()))
	l.stop()
	for _, want := range []string{"SESION_SECRET is not a setting; did you mean SESSION_SECRET?", "PROT is not a setting; did you mean PORT?"} {
		if !strings.Contains(l.log(), want) {
			t.Errorf("the log lacks %q:\n%s", want, l.log())
		}
	}
	if strings.Contains(l.log(), "typo-typo") {
		t.Error("the warning shows the value, which may be a secret")
	}
}

// TestPlainBuildReportsRevision builds the binary as a newcomer does (go
// build, no -ldflags) in this checkout: the version names the commit Go
// embedded instead of "dev (commit none)".
func TestPlainBuildReportsRevision(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the binary with")
	}
	rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not in a git checkout (or no git): a plain build has no revision to report")
	}
	bin := filepath.Join(t.TempDir(), "latch")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	// Go's default, whatever this machine's GOFLAGS say (-buildvcs=false).
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := exec.Command(goTool, "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(info), "vcs.revision="+strings.TrimSpace(string(rev))) {
		t.Skip("go build embedded no revision here (Go does not read a git worktree's .git file); nothing to report")
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "commit " + string(rev[:12]); !strings.Contains(string(out), want) {
		t.Errorf("latch --version of a plain build printed %q, want %q", out, want)
	}
}
