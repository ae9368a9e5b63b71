package main

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoteCommands runs every users, sessions and keys command with
// --url against a running Latch, as an admin client, from a machine
// without its control socket (another DATA_DIR), and checks that the
// answers are the ones the socket gives.
func TestRemoteCommands(t *testing.T) {
	env, secret := adminEnv(t, "RATE_LIMIT_AUTH_EMAIL_MAX", "10")
	l := startLatch(t, env)
	ada := newBrowser(t, l.base)
	adaID := mustSignIn(t, ada, "ada@example.com")
	remote := testEnv(t.TempDir(), "LATCH_CLIENT_ID", "ops", "LATCH_CLIENT_SECRET", secret)
	r := func(args ...string) string {
		t.Helper()
		return mustCLI(t, remote, append(args, "--url", l.base)...)
	}

	// What reads gives the same document both ways.
	for _, args := range [][]string{
		{"users", "list", "--json"}, {"users", "show", "ada@example.com", "--json"}, {"users", "show", adaID, "--json"},
		{"sessions", "list", "ada@example.com", "--json"}, {"keys", "list", "--json"}, {"users", "list"},
	} {
		if local, far := mustCLI(t, env, args...), r(args...); local != far {
			t.Errorf("latch %s: the socket printed\n%s\nand --url printed\n%s", strings.Join(args, " "), local, far)
		}
	}
	var list []userJSON
	if err := json.Unmarshal([]byte(r("users", "list", "--json")), &list); err != nil || len(list) != 1 || list[0].ID != adaID {
		t.Fatalf("users list --json: %v %+v", err, list)
	}

	if out := r("users", "add", "grace@example.com"); !strings.Contains(out, "grace@example.com") {
		t.Fatalf("users add:\n%s", out)
	}
	if out := r("users", "invite", "guest@example.com"); !strings.Contains(out, "invited guest@example.com") {
		t.Fatalf("users invite:\n%s", out)
	}
	if code, _ := ada.lastMail("guest@example.com"); code == "" {
		t.Fatal("the invitation sent no mail")
	}
	var u userJSON
	if err := json.Unmarshal([]byte(r("users", "groups", "ada@example.com", "ops", "admins", "--json")), &u); err != nil || strings.Join(u.Groups, ",") != "admins,ops" {
		t.Fatalf("users groups: %+v %v", u, err)
	}
	if out := r("users", "metadata", adaID, `{"plan":"pro"}`); !strings.Contains(out, `{"plan":"pro"}`) {
		t.Fatalf("users metadata:\n%s", out)
	}
	if out := r("users", "disable", "ada@example.com"); !strings.Contains(out, "disabled") {
		t.Fatalf("users disable:\n%s", out)
	}
	if status, _ := ada.getJSON("/api/me"); status != 401 {
		t.Fatalf("/api/me after a remote disable: %d, want 401", status)
	}
	r("users", "enable", "ada@example.com")
	mustSignIn(t, ada, "ada@example.com")
	if out := r("sessions", "revoke", "ada@example.com"); !strings.Contains(out, "1 sessions ended") {
		t.Fatalf("sessions revoke:\n%s", out)
	}
	if out := r("keys", "rotate"); !strings.Contains(out, "rotated: new tokens are signed by") {
		t.Fatalf("keys rotate:\n%s", out)
	}
	if out := r("users", "delete", "grace@example.com"); !strings.Contains(out, "deleted grace@example.com") {
		t.Fatalf("users delete:\n%s", out)
	}
	if _, err := cli(t, remote, "users", "show", "grace@example.com", "--url", l.base); err == nil || !strings.Contains(err.Error(), "no user has the address") {
		t.Fatalf("users show of a deleted user: %v", err)
	}
	// Flags before the verb, and the secret from a file.
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte(secret+"\n"), 0o600)
	if out := mustCLI(t, map[string]string{}, "users", "--url="+l.base, "--client-id", "ops", "--client-secret-file", file, "list"); !strings.Contains(out, "ada@example.com") {
		t.Fatalf("flags before the verb:\n%s", out)
	}
}

// TestRemoteCommandsRefused: what the command line says when the URL
// refuses, the credentials are wrong or missing, or a secret is given on
// the command line.
func TestRemoteCommandsRefused(t *testing.T) {
	env, secret := adminEnv(t)
	l := startLatch(t, env)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()
	creds := map[string]string{"LATCH_CLIENT_ID": "ops", "LATCH_CLIENT_SECRET": secret}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
		exit int
	}{
		{"nothing at the URL", creds, []string{"users", "list", "--url", closed}, "nothing answers at " + closed, 1},
		{"wrong secret", map[string]string{"LATCH_CLIENT_ID": "ops", "LATCH_CLIENT_SECRET": "not-the-secret"}, []string{"users", "list", "--url", l.base}, `refused the admin client "ops"`, 1},
		{"not an admin client", map[string]string{"LATCH_CLIENT_ID": "someone", "LATCH_CLIENT_SECRET": secret}, []string{"keys", "rotate", "--url", l.base}, `refused the admin client "someone"`, 1},
		{"no secret", map[string]string{"LATCH_CLIENT_ID": "ops"}, []string{"sessions", "list", "ada@example.com", "--url", l.base}, "needs an admin client", 2},
		{"secret on the command line", creds, []string{"users", "list", "--url", l.base, "--client-secret", secret}, "LATCH_CLIENT_SECRET", 2},
		{"plain http to another machine", creds, []string{"users", "list", "--url", "http://login.example.com"}, "use https", 2},
		{"not a URL", creds, []string{"users", "list", "--url", "login.example.com"}, "want the Latch's base URL", 2},
		{"not a Latch", creds, []string{"users", "list", "--url", l.base + "/static"}, "not a token", 1},
	} {
		_, err := cli(t, tc.env, tc.args...)
		var ex exitError
		code := 1
		if errors.As(err, &ex) {
			code = ex.code
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || code != tc.exit {
			t.Errorf("%s: latch %s = %v (exit %d), want %q and exit %d", tc.name, strings.Join(tc.args, " "), err, code, tc.want, tc.exit)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the message shows the secret: %v", tc.name, err)
		}
	}
}

// TestRemoteCommandsThroughTheBinary: the built program reads the admin
// client from its real environment, prints the same document as the
// socket, and exits 1 on a refusal and 2 on a secret on the command line.
func TestRemoteCommandsThroughTheBinary(t *testing.T) {
	bin := buildLatch(t)
	env, secret := adminEnv(t)
	l := startLatch(t, env)
	mustSignIn(t, newBrowser(t, l.base), "ada@example.com")
	remote := map[string]string{"LATCH_URL": l.base, "LATCH_CLIENT_ID": "ops", "LATCH_CLIENT_SECRET": secret, "DATA_DIR": t.TempDir()}
	if local, far := mustCLI(t, env, "users", "list", "--json"), mustBinary(t, bin, remote, "users", "list", "--json"); local != far {
		t.Errorf("users list --json: the socket printed\n%s\nthe binary over the URL printed\n%s", local, far)
	}
	out, err := runBinary(t, bin, remote, "users", "show", "nobody@example.com")
	if procExit(err) != 1 || !strings.Contains(out, "latch: no user has the address or id nobody@example.com") {
		t.Errorf("users show of nobody: exit %d\n%s", procExit(err), out)
	}
	out, err = runBinary(t, bin, remote, "keys", "rotate", "--client-secret", secret)
	if procExit(err) != 2 || !strings.Contains(out, "LATCH_CLIENT_SECRET") {
		t.Errorf("a secret on the command line: exit %d\n%s", procExit(err), out)
	}
	wrong := map[string]string{"LATCH_URL": l.base, "LATCH_CLIENT_ID": "ops", "LATCH_CLIENT_SECRET": "wrong"}
	if out, err := runBinary(t, bin, wrong, "users", "list"); procExit(err) != 1 || !strings.Contains(out, `refused the admin client "ops"`) {
		t.Errorf("wrong secret: exit %d\n%s", procExit(err), out)
	}
}

// procExit is the exit status of a finished process (0 when err is nil).
func procExit(err error) int {
	var ex *exec.ExitError
	if errors.As(err, &ex) {
		return ex.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
