package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// cli runs a latch command with env and returns what it printed.
func cli(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out)
	return out.String(), err
}

func mustCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := cli(t, env, args...)
	if err != nil {
		t.Fatalf("latch %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestUsersAndSessionsCommands drives every users and sessions command
// against a running Latch through its control socket.
func TestUsersAndSessionsCommands(t *testing.T) {
	env := testEnv(t.TempDir())
	l := startLatch(t, env)
	c := newBrowser(t, l.base)
	id := mustSignIn(t, c, "Ada@example.com")

	var list []userJSON
	if err := json.Unmarshal([]byte(mustCLI(t, env, "users", "list", "--json")), &list); err != nil || len(list) != 1 || list[0].ID != id || list[0].LastSignInAt == nil {
		t.Fatalf("users list --json: %+v, %v", list, err)
	}
	if out := mustCLI(t, env, "users", "list"); !strings.Contains(out, "Ada@example.com") || !strings.Contains(out, "active") {
		t.Fatalf("users list:\n%s", out)
	}
	var sessions []sessionJSON
	if err := json.Unmarshal([]byte(mustCLI(t, env, "sessions", "list", "ada@example.com", "--json")), &sessions); err != nil || len(sessions) != 1 || sessions[0].Method != "code" {
		t.Fatalf("sessions list: %+v, %v", sessions, err)
	}
	var u userJSON
	if err := json.Unmarshal([]byte(mustCLI(t, env, "users", "groups", "ada@example.com", "ops", "admins", "--json")), &u); err != nil || strings.Join(u.Groups, ",") != "admins,ops" {
		t.Fatalf("users groups: %+v, %v", u, err)
	}

	// Disabling ends the session at once, and sign-in no longer works.
	mustCLI(t, env, "users", "disable", "ada@example.com")
	if status, _ := c.getJSON("/api/me"); status != 401 {
		t.Fatalf("/api/me after disable: %d, want 401", status)
	}
	c2 := newBrowser(t, l.base)
	status, sent := c2.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	if status != 200 {
		t.Fatalf("send to a disabled user: %d, want the same 200 as anyone", status)
	}
	if status, _ := c2.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": "000000"}); status == 200 {
		t.Fatal("a disabled user signed in")
	}
	if out := mustCLI(t, env, "users", "show", "ada@example.com"); !strings.Contains(out, "disabled") {
		t.Fatalf("users show after disable:\n%s", out)
	}
	mustCLI(t, env, "users", "enable", "ada@example.com")

	// Add, then revoke and delete.
	mustCLI(t, env, "users", "add", "grace@example.com")
	mustSignIn(t, newBrowser(t, l.base), "grace@example.com")
	if out := mustCLI(t, env, "sessions", "revoke", "grace@example.com"); !strings.Contains(out, "1 sessions ended") {
		t.Fatalf("sessions revoke:\n%s", out)
	}
	mustCLI(t, env, "users", "delete", "grace@example.com")
	if _, err := cli(t, env, "users", "show", "grace@example.com"); err == nil || !strings.Contains(err.Error(), "no user has the address") {
		t.Fatalf("users show of a deleted user: %v", err)
	}

	var ex exitError
	for _, args := range [][]string{{"users"}, {"users", "shred", "x"}, {"users", "show"}, {"sessions", "list"}} {
		if _, err := cli(t, env, args...); !errors.As(err, &ex) || ex.code != 2 {
			t.Errorf("latch %v: %v, want exit code 2", args, err)
		}
	}
}

func TestUsersCommandWithoutARunningServer(t *testing.T) {
	env := testEnv(t.TempDir())
	if _, err := cli(t, env, "users", "list"); err == nil || !strings.Contains(err.Error(), "no Latch is running") {
		t.Fatalf("users list with nothing running: %v", err)
	}
}

// TestInviteOnlySignUp: with SIGNUP=invite an unknown address gets the
// answer a known one gets and no mail; `latch users invite` mails a
// sign-up link that works.
func TestInviteOnlySignUp(t *testing.T) {
	env := testEnv(t.TempDir(), "SIGNUP", "invite")
	l := startLatch(t, env)
	c := newBrowser(t, l.base)
	status, sent := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "stranger@example.com"})
	if status != 200 || sent["authRequestId"] == nil {
		t.Fatalf("send to an uninvited address: %d %v, want the usual 200", status, sent)
	}
	mustCLI(t, env, "users", "invite", "guest@example.com")
	if code, _ := c.lastMail("guest@example.com"); code == "" {
		t.Fatal("the invitation carried no code")
	}
	_, box := c.getJSON("/dev/outbox.json?to=stranger@example.com")
	if msgs, _ := box["messages"].([]any); len(msgs) != 0 {
		t.Fatalf("an uninvited address was mailed: %v", msgs)
	}
	var pending struct{ id string }
	status, invited := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": "guest@example.com"})
	if status != 200 {
		t.Fatalf("send to the invited address: %d %v", status, invited)
	}
	pending.id = invited["authRequestId"].(string)
	code, _ := c.lastMail("guest@example.com")
	if status, v := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": pending.id, "code": code}); status != 200 {
		t.Fatalf("the invited person's sign-in: %d %v", status, v)
	}
}
