// Command latch is the Latch passwordless login server.
//
//	latch [serve]      serve (the default)
//	latch healthcheck  exit 0 when the local server answers ready
//	latch version      print the version
//	latch config       print the configuration reference (docs/configuration.md)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/joho/godotenv"
)

// Set at build time: go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = "none"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], envWithDotenv(os.Getenv), os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "latch:", err)
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(ex.code)
		}
		os.Exit(1)
	}
}

// exitError carries a process exit code (2 for a bad configuration).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// run is the whole program; tests call it with their own environment and
// output and stop it through ctx.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "version":
		fmt.Fprintf(stdout, "latch %s (commit %s, %s)\n", version, commit, goVersion())
		return nil
	case "config":
		return writeConfigReference(stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "usage: latch [serve|healthcheck|version|config]\nConfiguration comes from the environment and ./.env; `latch config` lists every variable.")
		return nil
	}
	return exitError{code: 2, err: fmt.Errorf("unknown command %q (want serve, healthcheck, version or config)", cmd)}
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
