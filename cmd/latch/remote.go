package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/latch-auth/latch/internal/admin"
	"github.com/latch-auth/latch/internal/adminapi"
)

// The admin commands (users, sessions, keys) reach a Latch one of two
// ways: the control socket of the one running on this machine, or with
// --url a remote one's admin HTTP API, as an admin client of its
// CLIENTS_FILE. The client id comes from --client-id or LATCH_CLIENT_ID;
// the secret from LATCH_CLIENT_SECRET or the file --client-secret-file
// names, never from the command line, where other users of the machine
// see it (ps, /proc) and the shell's history keeps it.

// remoteVars are the environment variables of the commands' remote mode:
// the command line's, not settings of the server.
var remoteVars = []string{"LATCH_URL", "LATCH_CLIENT_ID", "LATCH_CLIENT_SECRET"}

const remoteHelp = `
Against a remote Latch, over its admin HTTP API:
  --url URL                  the Latch to manage (or LATCH_URL)
  --client-id ID             an admin client of its CLIENTS_FILE (or LATCH_CLIENT_ID);
                             create one with: latch clients add ID --admin
  --client-secret-file FILE  a file holding the client's secret (or LATCH_CLIENT_SECRET);
                             the secret is never taken on the command line`

// adminOptions are the flags every admin command takes.
type adminOptions struct {
	json                            bool
	url, clientID, clientSecretFile string
}

// adminFlags takes the admin commands' flags out of args, wherever they
// stand, and returns the rest.
func adminFlags(args []string) ([]string, adminOptions, error) {
	var o adminOptions
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		var dest *string
		switch name {
		case "--json":
			if hasValue {
				return nil, o, fmt.Errorf("--json takes no value")
			}
			o.json = true
			continue
		case "--url":
			dest = &o.url
		case "--client-id":
			dest = &o.clientID
		case "--client-secret-file":
			dest = &o.clientSecretFile
		case "--client-secret":
			return nil, o, errors.New("--client-secret would put the secret on the command line, where other users see it: set LATCH_CLIENT_SECRET or use --client-secret-file FILE")
		default:
			if strings.HasPrefix(a, "--") {
				return nil, o, fmt.Errorf("unknown flag %s", name)
			}
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, o, fmt.Errorf("%s needs a value", name)
			}
			i++
			value = args[i]
		}
		*dest = value
	}
	return rest, o, nil
}

// remote returns the admin API client the options and environment ask
// for, or nil to use the local control socket.
func (o adminOptions) remote(getenv func(string) string) (*adminapi.Client, error) {
	base := o.url
	if base == "" {
		base = getenv("LATCH_URL")
	}
	if base == "" {
		return nil, nil
	}
	if err := checkRemoteURL(base); err != nil {
		return nil, exitError{code: 2, err: err}
	}
	c := &adminapi.Client{BaseURL: base, ClientID: o.clientID, ClientSecret: getenv("LATCH_CLIENT_SECRET")}
	if c.ClientID == "" {
		c.ClientID = getenv("LATCH_CLIENT_ID")
	}
	if o.clientSecretFile != "" {
		b, err := os.ReadFile(o.clientSecretFile)
		if err != nil {
			return nil, exitError{code: 2, err: fmt.Errorf("--client-secret-file: %w", err)}
		}
		c.ClientSecret = strings.TrimSpace(string(b))
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return nil, exitError{code: 2, err: fmt.Errorf("--url %s needs an admin client: --client-id (or LATCH_CLIENT_ID) and its secret in LATCH_CLIENT_SECRET or --client-secret-file", base)}
	}
	return c, nil
}

// checkRemoteURL wants an absolute http(s) URL, and https unless the
// host is this machine: the admin secret and token must not cross a
// network in the clear.
func checkRemoteURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("--url %q: want the Latch's base URL, https://host[:port]", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("--url %s: use https; over http the admin client's secret and token would cross the network in the clear", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// callAdmin runs one admin command: over the admin API with --url, else
// on the local server's control socket.
func callAdmin(ctx context.Context, getenv func(string) string, o adminOptions, command string, args, result any) error {
	c, err := o.remote(getenv)
	if err != nil {
		return err
	}
	if c == nil {
		return callServer(ctx, getenv, command, args, result)
	}
	err = c.Call(ctx, command, args, result)
	var apiErr *adminapi.Error
	switch {
	case errors.Is(err, adminapi.ErrUnreachable):
		return fmt.Errorf("nothing answers at %s (is Latch running there, and is the URL right?): %v", c.BaseURL, errors.Unwrap(err))
	case errors.Is(err, adminapi.ErrCredentials):
		return fmt.Errorf("%s refused the admin client %q: check its id and secret, that CLIENTS_FILE marks it \"admin\": true, and that the server has re-read the file (SIGHUP)", c.BaseURL, c.ClientID)
	case errors.As(err, &apiErr) && apiErr.Status == 401:
		return fmt.Errorf("%s refused the admin token: %s", c.BaseURL, apiErr.Message)
	}
	return err
}

// callServer runs one command on the local server's control socket.
func callServer(ctx context.Context, getenv func(string) string, command string, args, result any) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return exitError{code: 2, err: configError(err)}
	}
	err = admin.Call(ctx, controlSocket(cfg), command, args, result)
	if errors.Is(err, admin.ErrNotRunning) {
		return fmt.Errorf("no Latch is running with DATA_DIR=%s (nothing answers on %s); start it (latch serve) and run this again, or reach a remote one with --url", cfg.DataDir, controlSocket(cfg))
	}
	return err
}
