package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latch-auth/latch/internal/admin"
	"github.com/latch-auth/latch/internal/auth"
)

// The operator's commands for users and sessions. They work against the
// Latch running on this machine, through its control socket (bbolt holds
// a file lock, so only the server may open the store).

const usersHelp = `latch users list [--json]            every user
latch users show EMAIL [--json]      one user, with groups and metadata
latch users add EMAIL                add a user (sign-up by invitation or closed)
latch users invite EMAIL             add a user and mail them a sign-up link
latch users disable EMAIL            sign them out everywhere; they cannot sign in
latch users enable EMAIL
latch users delete EMAIL             remove them and everything kept with them
latch users groups EMAIL [GROUP…]    set their groups (none: clear them)

Works against the Latch running on this machine with the same DATA_DIR,
through its control socket (DATA_DIR/latch.sock).`

const sessionsHelp = `latch sessions list EMAIL [--json]   where they are signed in
latch sessions revoke EMAIL          sign them out everywhere (refresh tokens too)

Works against the Latch running on this machine with the same DATA_DIR.`

// userJSON is a user as the commands print it.
type userJSON struct {
	ID           string          `json:"id"`
	Email        string          `json:"email"`
	CreatedAt    time.Time       `json:"createdAt"`
	LastSignInAt *time.Time      `json:"lastSignInAt"`
	Disabled     bool            `json:"disabled"`
	Groups       []string        `json:"groups"`
	Metadata     json.RawMessage `json:"metadata"`
}

func userBody(u *auth.User) userJSON {
	out := userJSON{ID: u.ID, Email: u.Email, CreatedAt: u.CreatedAt.UTC(), Disabled: u.Disabled, Groups: u.Groups, Metadata: json.RawMessage(u.Metadata)}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	if u.Metadata == "" {
		out.Metadata = json.RawMessage("{}")
	}
	if !u.LastSignInAt.IsZero() {
		t := u.LastSignInAt.UTC()
		out.LastSignInAt = &t
	}
	return out
}

type sessionJSON struct {
	ID         string    `json:"id"`
	Device     string    `json:"device"`
	Network    string    `json:"network"`
	Method     string    `json:"method"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// userArgs are the arguments of a users or sessions command on the socket.
type userArgs struct {
	Email  string   `json:"email"`
	Groups []string `json:"groups,omitempty"`
}

// userCommands are the socket's handlers for users and sessions.
func userCommands(svc *auth.Service) map[string]admin.Handler {
	one := func(ctx context.Context, raw json.RawMessage) (*auth.User, userArgs, error) {
		var a userArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, a, err
		}
		u, err := svc.UserByEmail(ctx, a.Email)
		if errors.Is(err, auth.ErrNotFound) {
			return nil, a, fmt.Errorf("no user has the address %s", a.Email)
		}
		return u, a, err
	}
	operator := auth.Caller{Requester: "operator"}
	return map[string]admin.Handler{
		"users.list": func(ctx context.Context, _ json.RawMessage) (any, error) {
			list, err := svc.Users(ctx)
			out := make([]userJSON, 0, len(list))
			for _, u := range list {
				out = append(out, userBody(u))
			}
			return out, err
		},
		"users.show": func(ctx context.Context, raw json.RawMessage) (any, error) {
			u, _, err := one(ctx, raw)
			if err != nil {
				return nil, err
			}
			return userBody(u), nil
		},
		"users.add": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a userArgs
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, err
			}
			u, err := svc.CreateUser(ctx, a.Email)
			if err != nil {
				return nil, err
			}
			return userBody(u), nil
		},
		"users.invite": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a userArgs
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, err
			}
			u, _, err := svc.Invite(ctx, a.Email, operator)
			if err != nil {
				return nil, err
			}
			return userBody(u), nil
		},
		"users.disable": func(ctx context.Context, raw json.RawMessage) (any, error) {
			u, _, err := one(ctx, raw)
			if err != nil {
				return nil, err
			}
			u, err = svc.SetDisabled(ctx, u.ID, true)
			if err != nil {
				return nil, err
			}
			return userBody(u), nil
		},
		"users.enable": func(ctx context.Context, raw json.RawMessage) (any, error) {
			u, _, err := one(ctx, raw)
			if err != nil {
				return nil, err
			}
			u, err = svc.SetDisabled(ctx, u.ID, false)
			if err != nil {
				return nil, err
			}
			return userBody(u), nil
		},
		"users.delete": func(ctx context.Context, raw json.RawMessage) (any, error) {
			u, _, err := one(ctx, raw)
			if err != nil {
				return nil, err
			}
			return userBody(u), svc.DeleteUser(ctx, u.ID)
		},
		"users.groups": func(ctx context.Context, raw json.RawMessage) (any, error) {
			u, a, err := one(ctx, raw)
			if err != nil {
				return nil, err
			}
			u, err = svc.SetGroups(ctx, u.ID, a.Groups)
			if err != nil {
				return nil, err
			}
			return userBody(u), nil
		},
		"sessions.list": func(ctx context.Context, raw json.RawMessage) (any, error) {
			u, _, err := one(ctx, raw)
			if err != nil {
				return nil, err
			}
			list, err := svc.Sessions(ctx, u.ID)
			out := make([]sessionJSON, 0, len(list))
			for _, s := range list {
				out = append(out, sessionJSON{ID: s.ID, Device: s.Device, Network: s.Network, Method: s.Method,
					CreatedAt: s.CreatedAt.UTC(), LastSeenAt: s.LastSeenAt.UTC(), ExpiresAt: s.Deadline().UTC()})
			}
			return out, err
		},
		"sessions.revoke": func(ctx context.Context, raw json.RawMessage) (any, error) {
			u, _, err := one(ctx, raw)
			if err != nil {
				return nil, err
			}
			n, err := svc.RevokeSessions(ctx, u.ID)
			return map[string]int{"revoked": n}, err
		},
	}
}

// usersCommand runs `latch users …`.
func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	args, asJSON := jsonFlag(args)
	verbs := map[string]int{"list": 0, "show": 1, "add": 1, "invite": 1, "disable": 1, "enable": 1, "delete": 1, "groups": -1}
	if len(args) == 0 {
		return exitError{code: 2, err: errors.New("usage: latch users list|show|add|invite|disable|enable|delete|groups … (latch users --help)")}
	}
	want, ok := verbs[args[0]]
	if !ok || (want >= 0 && len(args)-1 != want) || (want < 0 && len(args) < 2) {
		return exitError{code: 2, err: fmt.Errorf("usage: latch users %s (latch users --help)", usageOf(args[0]))}
	}
	var a userArgs
	if len(args) > 1 {
		a.Email = args[1]
		a.Groups = append([]string{}, args[2:]...)
	}
	if args[0] == "list" {
		var list []userJSON
		if err := callServer(ctx, getenv, "users.list", nil, &list); err != nil {
			return err
		}
		if asJSON {
			return writeJSONDoc(stdout, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tID\tCREATED\tLAST SIGN-IN\tSTATE\tGROUPS")
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, u.ID, u.CreatedAt.Format(time.DateOnly), lastSignIn(u), state(u), strings.Join(u.Groups, ","))
		}
		return tw.Flush()
	}
	var u userJSON
	if err := callServer(ctx, getenv, "users."+args[0], a, &u); err != nil {
		return err
	}
	if asJSON {
		return writeJSONDoc(stdout, u)
	}
	switch args[0] {
	case "delete":
		fmt.Fprintf(stdout, "deleted %s (%s) and everything kept with them\n", u.Email, u.ID)
	case "invite":
		fmt.Fprintf(stdout, "invited %s (%s): a sign-up link is on its way\n", u.Email, u.ID)
	default:
		fmt.Fprintf(stdout, "%s\nid:           %s\ncreated:      %s\nlast sign-in: %s\nstate:        %s\ngroups:       %s\nmetadata:     %s\n",
			u.Email, u.ID, u.CreatedAt.Format(time.RFC3339), lastSignIn(u), state(u), strings.Join(u.Groups, ", "), u.Metadata)
	}
	return nil
}

// sessionsCommand runs `latch sessions list|revoke EMAIL`.
func sessionsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	args, asJSON := jsonFlag(args)
	if len(args) != 2 || (args[0] != "list" && args[0] != "revoke") {
		return exitError{code: 2, err: errors.New("usage: latch sessions list|revoke EMAIL")}
	}
	a := userArgs{Email: args[1]}
	if args[0] == "revoke" {
		var r map[string]int
		if err := callServer(ctx, getenv, "sessions.revoke", a, &r); err != nil {
			return err
		}
		if asJSON {
			return writeJSONDoc(stdout, r)
		}
		fmt.Fprintf(stdout, "signed %s out everywhere: %d sessions ended\n", a.Email, r["revoked"])
		return nil
	}
	var list []sessionJSON
	if err := callServer(ctx, getenv, "sessions.list", a, &list); err != nil {
		return err
	}
	if asJSON {
		return writeJSONDoc(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tNETWORK\tMETHOD\tSIGNED IN\tLAST SEEN")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Device, s.Network, s.Method, s.CreatedAt.Format(time.RFC3339), s.LastSeenAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// callServer runs one command on the local server's control socket.
func callServer(ctx context.Context, getenv func(string) string, command string, args, result any) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return exitError{code: 2, err: configError(err)}
	}
	err = admin.Call(ctx, controlSocket(cfg), command, args, result)
	if errors.Is(err, admin.ErrNotRunning) {
		return fmt.Errorf("no Latch is running with DATA_DIR=%s (nothing answers on %s); start it (latch serve) and run this again", cfg.DataDir, controlSocket(cfg))
	}
	return err
}

func jsonFlag(args []string) ([]string, bool) {
	i := slices.Index(args, "--json")
	if i < 0 {
		return args, false
	}
	return slices.Delete(slices.Clone(args), i, i+1), true
}

func writeJSONDoc(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func usageOf(verb string) string {
	switch verb {
	case "list":
		return "list [--json]"
	case "groups":
		return "groups EMAIL [GROUP…]"
	}
	return verb + " EMAIL"
}

func lastSignIn(u userJSON) string {
	if u.LastSignInAt == nil {
		return "never"
	}
	return u.LastSignInAt.Format(time.RFC3339)
}

func state(u userJSON) string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}
