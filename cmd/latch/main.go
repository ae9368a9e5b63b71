// Command latch is the Latch passwordless login server.
//
//	latch [serve]      serve (the default)
//	latch healthcheck  exit 0 when the local server answers ready
//	latch version      print the version (also --version, -v)
//	latch config       print the configuration reference (docs/configuration.md)
//	latch keys list|rotate  the JWT signing keys (through the running server)
//	latch events failed|replay  webhook events given up on (through the running server)
//
// Every command answers --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/joho/godotenv"
)

// Set at build time: go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
// Without them, the build information Go embeds (the module version of
// go install, the VCS revision of a build in a checkout) is used.
var (
	version = "dev"
	commit  = "none"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], envWithDotenv(os.Getenv), os.Stdout)
	if err != nil {
		writeFailure(os.Stderr, err)
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(ex.code)
		}
		os.Exit(1)
	}
}

// writeFailure tells why the program stops: "latch: …" in plain text, as
// one JSON record when the log is JSON (json), or nothing when the log
// already says it (logged).
func writeFailure(w io.Writer, err error) {
	var ex exitError
	switch isExit := errors.As(err, &ex); {
	case isExit && ex.logged:
	case isExit && ex.json:
		lines := strings.Split(err.Error(), "\n")
		args := []any{}
		if len(lines) > 1 {
			problems := make([]string, 0, len(lines)-1)
			for _, l := range lines[1:] {
				problems = append(problems, strings.TrimPrefix(strings.TrimSpace(l), "- "))
			}
			args = append(args, "problems", problems)
		}
		slog.New(slog.NewJSONHandler(w, nil)).Error("latch: "+strings.TrimSuffix(lines[0], ":"), args...)
	default:
		fmt.Fprintln(w, "latch:", err)
	}
}

// exitError carries a process exit code (2 for a bad configuration or
// command line). logged says the failure is already in the log, so main
// adds nothing; json that main reports it as a JSON record (LOG_FORMAT=json).
type exitError struct {
	code   int
	err    error
	logged bool
	json   bool
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// A command is one subcommand of latch.
type command struct {
	name, summary, help string
	// run gets the arguments after the command's flags.
	run func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "serve the app routes (the default)",
			"Serves the login page, the JSON API and, when configured, the provider API.\n" +
				"Settings come from the environment and ./.env; `latch config` lists every one.",
			func(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
				return serve(ctx, getenv, stdout)
			}},
		{"healthcheck", "exit 0 when the local server answers ready",
			"Asks http://HOST:PORT/api/health/ready of the server on this machine (HOST and PORT\n" +
				"as serve reads them). Exit 0 when ready, 1 when not (the failing checks are named).",
			func(ctx context.Context, _ []string, getenv func(string) string, _ io.Writer) error {
				return healthcheck(ctx, getenv)
			}},
		{"version", "print the version", "Prints the version, the commit and the Go version it was built with.",
			func(_ context.Context, _ []string, _ func(string) string, stdout io.Writer) error {
				v, c := buildVersion()
				fmt.Fprintf(stdout, "latch %s (commit %s, %s)\n", v, c, goVersion())
				return nil
			}},
		{"keys", "list or rotate the JWT signing keys", keysHelp, keysCommand},
		{"users", "list, add, invite, disable, enable, delete users; set their groups", usersHelp, usersCommand},
		{"sessions", "list or revoke a user's sessions", sessionsHelp, sessionsCommand},
		{"clients", "add, list or remove OpenID Connect clients (CLIENTS_FILE)", clientsHelp, clientsCommand},
		{"events", "list failed webhook events, or replay one", eventsHelp, eventsCommand},
		{"config", "print the configuration reference", "Prints every setting with its default and meaning (docs/configuration.md).",
			func(_ context.Context, _ []string, _ func(string) string, stdout io.Writer) error {
				return writeConfigReference(stdout)
			}},
	}
}

// run is the whole program; tests call it with their own environment and
// output and stop it through ctx.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	name := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "help":
			usage(stdout)
			return nil
		case "-v", "-version", "--version":
			name, args = "version", args[1:]
		default:
			if !strings.HasPrefix(args[0], "-") {
				name, args = args[0], args[1:]
			}
		}
	}
	i := slices.IndexFunc(commands(), func(c command) bool { return c.name == name })
	if i < 0 {
		usage(stdout)
		return exitError{code: 2, err: fmt.Errorf("unknown command %q (want serve, healthcheck, keys, users, sessions, clients, version or config; see latch --help)", name)}
	}
	cmd := commands()[i]
	// No command takes flags yet (settings are environment variables), but
	// each answers --help, and a flag it does not know stops it before it
	// does anything.
	if slices.Contains(withSubcommands, cmd.name) && len(args) > 0 && !slices.Contains([]string{"-h", "-help", "--help"}, args[0]) {
		// Their flags (--json, --url, --public …) are theirs to read,
		// before or after the verb.
		return cmd.run(ctx, args, getenv, stdout)
	}
	fs := flag.NewFlagSet("latch "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "usage: latch %s\n\n%s\n", cmd.name, cmd.help)
		if hasFlags(fs) {
			fmt.Fprintln(stdout, "\nflags:")
			fs.PrintDefaults()
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: 2, err: err}
	}
	if fs.NArg() > 0 && !slices.Contains(withSubcommands, cmd.name) {
		return exitError{code: 2, err: fmt.Errorf("latch %s takes no arguments, got %q", cmd.name, fs.Args())}
	}
	return cmd.run(ctx, fs.Args(), getenv, stdout)
}

// withSubcommands are the commands whose arguments name what to do
// (latch keys rotate).
var withSubcommands = []string{"keys", "users", "sessions", "clients", "events"}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: latch [command] [--help]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n--version (-v) is latch version. Settings come from the environment and ./.env;\n`latch config` lists every one.")
}

// buildVersion returns the version and commit stamped in with -ldflags,
// else what Go embedded: the module version (go install …@v1.2.3) and the
// VCS revision (a go build in a checkout; "-dirty" with local changes).
func buildVersion() (v, c string) {
	v, c = version, commit
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v, c
	}
	if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if c == "none" {
		var rev, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			c = rev[:min(12, len(rev))] + dirty
		}
	}
	return v, c
}

// envWithDotenv reads variables from the environment first and then from
// a .env file in the working directory, if there is one.
func envWithDotenv(getenv func(string) string) func(string) string {
	file, err := godotenv.Read(".env")
	if err != nil {
		return getenv
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file[k]
	}
}
