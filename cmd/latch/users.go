package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latch-auth/latch/internal/admin"
	"github.com/latch-auth/latch/internal/auth"
)

// The operator's commands for users and sessions. They work against the
// Latch running on this machine, through its control socket (bbolt holds
// a file lock, so only the server may open the store).

const usersHelp = `latch users list                   every user
latch users show USER              one user, with groups and metadata
latch users add EMAIL              add a user (sign-up by invitation or closed)
latch users invite EMAIL           add a user and mail them a sign-up link
latch users disable USER           sign them out everywhere; they cannot sign in
latch users enable USER
latch users delete USER            remove them and everything kept with them
latch users groups USER [GROUP…]   set their groups (none: clear them)
latch users metadata USER JSON     set their metadata (a JSON object)

USER is an address or a user id. --json prints one JSON document.

Works against the Latch running on this machine with the same DATA_DIR,
through its control socket (DATA_DIR/latch.sock), or a remote one:` + remoteHelp

const sessionsHelp = `latch sessions list USER     where they are signed in
latch sessions revoke USER   sign them out everywhere (refresh tokens too)

USER is an address or a user id. --json prints one JSON document.

Works against the Latch running on this machine with the same DATA_DIR, or a
remote one:` + remoteHelp

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

// The arguments of the users and sessions commands, as both transports
// send them: user is an address or a user id (the REST paths' {user}).
type (
	userArgs struct {
		User string `json:"user"`
	}
	newUserArgs struct {
		Email string `json:"email"`
	}
	groupsArgs struct {
		User   string   `json:"user"`
		Groups []string `json:"groups"`
	}
	metadataArgs struct {
		User     string          `json:"user"`
		Metadata json.RawMessage `json:"metadata"`
	}
)

// findUser finds a user by address, or by id for anything without an @.
func findUser(ctx context.Context, svc *auth.Service, ref string) (*auth.User, error) {
	if ref == "" {
		return nil, auth.FieldError("user", "is required (an address or a user id)")
	}
	var u *auth.User
	var err error
	if strings.Contains(ref, "@") {
		u, err = svc.UserByEmail(ctx, ref)
	} else {
		u, err = svc.User(ctx, ref)
	}
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return nil, auth.Errorf(auth.CodeNotFound, "no user has the address or id %s", ref)
	case err != nil && auth.ErrorCode(err) == auth.CodeInternal:
		return nil, auth.Unavailable("find user", err)
	}
	return u, err
}

// userCommands are the admin handlers for users and sessions.
func userCommands(svc *auth.Service) map[string]admin.Handler {
	one := func(ctx context.Context, raw json.RawMessage, a any, ref func() string) (*auth.User, error) {
		if err := admin.DecodeArgs(raw, a); err != nil {
			return nil, err
		}
		return findUser(ctx, svc, ref())
	}
	onUser := func(change func(ctx context.Context, u *auth.User) (*auth.User, error)) admin.Handler {
		return func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a userArgs
			u, err := one(ctx, raw, &a, func() string { return a.User })
			if err != nil {
				return nil, err
			}
			if u, err = change(ctx, u); err != nil {
				return nil, err
			}
			return userBody(u), nil
		}
	}
	create := func(invite bool) admin.Handler {
		return func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a newUserArgs
			if err := admin.DecodeArgs(raw, &a); err != nil {
				return nil, err
			}
			if a.Email == "" {
				return nil, auth.FieldError("email", "is required")
			}
			var u *auth.User
			var err error
			if invite {
				// The mail counts against the address's send limit, and
				// against the admin client's (or the operator's) own.
				caller := auth.Caller{Requester: "admin:" + admin.Actor(ctx)}
				u, _, err = svc.Invite(ctx, a.Email, caller)
			} else {
				u, err = svc.CreateUser(ctx, a.Email)
			}
			if err != nil {
				return nil, err
			}
			return userBody(u), nil
		}
	}
	return map[string]admin.Handler{
		"users.list": func(ctx context.Context, raw json.RawMessage) (any, error) {
			if err := admin.DecodeArgs(raw, &struct{}{}); err != nil {
				return nil, err
			}
			list, err := svc.Users(ctx)
			out := make([]userJSON, 0, len(list))
			for _, u := range list {
				out = append(out, userBody(u))
			}
			return out, err
		},
		"users.show":   onUser(func(_ context.Context, u *auth.User) (*auth.User, error) { return u, nil }),
		"users.add":    create(false),
		"users.invite": create(true),
		"users.disable": onUser(func(ctx context.Context, u *auth.User) (*auth.User, error) {
			return svc.SetDisabled(ctx, u.ID, true)
		}),
		"users.enable": onUser(func(ctx context.Context, u *auth.User) (*auth.User, error) {
			return svc.SetDisabled(ctx, u.ID, false)
		}),
		"users.delete": onUser(func(ctx context.Context, u *auth.User) (*auth.User, error) {
			return u, svc.DeleteUser(ctx, u.ID)
		}),
		"users.groups": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a groupsArgs
			u, err := one(ctx, raw, &a, func() string { return a.User })
			if err != nil {
				return nil, err
			}
			if u, err = svc.SetGroups(ctx, u.ID, a.Groups); err != nil {
				return nil, err
			}
			return userBody(u), nil
		},
		"users.metadata": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a metadataArgs
			u, err := one(ctx, raw, &a, func() string { return a.User })
			if err != nil {
				return nil, err
			}
			if u, err = svc.SetMetadata(ctx, u.ID, a.Metadata); err != nil {
				return nil, err
			}
			return userBody(u), nil
		},
		"sessions.list": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a userArgs
			u, err := one(ctx, raw, &a, func() string { return a.User })
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
			var a userArgs
			u, err := one(ctx, raw, &a, func() string { return a.User })
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
	args, o, err := adminFlags(args)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	verbs := map[string]int{"list": 0, "show": 1, "add": 1, "invite": 1, "disable": 1, "enable": 1, "delete": 1, "groups": -1, "metadata": 2}
	if len(args) == 0 {
		return exitError{code: 2, err: errors.New("usage: latch users list|show|add|invite|disable|enable|delete|groups|metadata … (latch users --help)")}
	}
	want, ok := verbs[args[0]]
	if !ok || (want >= 0 && len(args)-1 != want) || (want < 0 && len(args) < 2) {
		return exitError{code: 2, err: fmt.Errorf("usage: latch users %s (latch users --help)", usageOf(args[0]))}
	}
	verb := args[0]
	if verb == "list" {
		var list []userJSON
		if err := callAdmin(ctx, getenv, o, "users.list", nil, &list); err != nil {
			return err
		}
		if o.json {
			return writeJSONDoc(stdout, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tID\tCREATED\tLAST SIGN-IN\tSTATE\tGROUPS")
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, u.ID, u.CreatedAt.Format(time.DateOnly), lastSignIn(u), state(u), strings.Join(u.Groups, ","))
		}
		return tw.Flush()
	}
	var a any = userArgs{User: args[1]}
	switch verb {
	case "add", "invite":
		a = newUserArgs{Email: args[1]}
	case "groups":
		a = groupsArgs{User: args[1], Groups: append([]string{}, args[2:]...)}
	case "metadata":
		if !json.Valid([]byte(args[2])) {
			return exitError{code: 2, err: errors.New(`usage: latch users metadata USER '{"key":"value"}' (a JSON object)`)}
		}
		a = metadataArgs{User: args[1], Metadata: json.RawMessage(args[2])}
	}
	var u userJSON
	if err := callAdmin(ctx, getenv, o, "users."+verb, a, &u); err != nil {
		return err
	}
	if o.json {
		return writeJSONDoc(stdout, u)
	}
	switch verb {
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

// sessionsCommand runs `latch sessions list|revoke USER`.
func sessionsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	args, o, err := adminFlags(args)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	if len(args) != 2 || (args[0] != "list" && args[0] != "revoke") {
		return exitError{code: 2, err: errors.New("usage: latch sessions list|revoke USER")}
	}
	a := userArgs{User: args[1]}
	if args[0] == "revoke" {
		var r map[string]int
		if err := callAdmin(ctx, getenv, o, "sessions.revoke", a, &r); err != nil {
			return err
		}
		if o.json {
			return writeJSONDoc(stdout, r)
		}
		fmt.Fprintf(stdout, "signed %s out everywhere: %d sessions ended\n", a.User, r["revoked"])
		return nil
	}
	var list []sessionJSON
	if err := callAdmin(ctx, getenv, o, "sessions.list", a, &list); err != nil {
		return err
	}
	if o.json {
		return writeJSONDoc(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tNETWORK\tMETHOD\tSIGNED IN\tLAST SEEN")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Device, s.Network, s.Method, s.CreatedAt.Format(time.RFC3339), s.LastSeenAt.Format(time.RFC3339))
	}
	return tw.Flush()
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
		return "groups USER [GROUP…]"
	case "metadata":
		return "metadata USER JSON"
	}
	return verb + " USER"
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
