package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The snippets of docs/tokens.md, run against a running Latch: the Node
// one (jose's createRemoteJWKSet) and the Python one (PyJWT's PyJWKClient).
func TestOtherLanguagesVerifyALatchToken(t *testing.T) {
	node, nodeErr := exec.LookPath("node")
	nodeDir, _ := filepath.Abs(filepath.Join("..", "..", "compat", "jwt-node"))
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "jose")); nodeErr == nil && err != nil {
		nodeErr = err
	}
	python := pythonWithPyJWT()
	if nodeErr != nil && python == "" {
		t.Skip("neither node with compat/jwt-node's npm dependencies (npm ci there; .ci/run does) nor python3 with PyJWT is here")
	}
	const base = "http://localhost:1" // a fixed issuer on loopback, where the dev outbox exists
	l := startLatch(t, testEnv(t.TempDir(), "BASE_URL", base, "JWT_AUDIENCE", "https://api.example.test"))
	c := newBrowser(t, l.base)
	userID := mustSignIn(t, c, "ada@example.com")
	raw := mustToken(t, c)
	env := append(os.Environ(), "LATCH_URL="+l.base, "ISSUER="+base, "AUDIENCE=https://api.example.test")

	verify := func(name string, cmd *exec.Cmd) {
		t.Helper()
		cmd.Env = append(env, "TOKEN="+raw)
		out, err := cmd.Output()
		var claims map[string]any
		if err != nil || json.Unmarshal(out, &claims) != nil || claims["sub"] != userID || claims["email"] != "ada@example.com" {
			t.Fatalf("%s refuses a Latch token: %v %s", name, err, out)
		}
		// The same script refuses a token for another audience.
		cmd = exec.Command(cmd.Args[0], cmd.Args[1:]...)
		cmd.Dir = nodeDir
		cmd.Env = append(env, "TOKEN="+raw, "AUDIENCE=https://other.example.test")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "refused") {
			t.Fatalf("%s accepts a token for another audience: %s", name, out)
		}
	}
	if nodeErr == nil {
		cmd := exec.Command(node, "verify.mjs")
		cmd.Dir = nodeDir
		verify("node jose", cmd)
	} else {
		t.Logf("node check skipped: %v", nodeErr)
	}
	if python != "" {
		script, _ := filepath.Abs(filepath.Join("..", "..", "compat", "jwt-python", "verify.py"))
		verify("python PyJWT", exec.Command(python, script))
	} else {
		t.Log("python check skipped: no python3 with PyJWT and cryptography (Debian: apt-get install python3-jwt)")
	}
}

// pythonWithPyJWT returns a python3 that imports jwt and cryptography, or "".
func pythonWithPyJWT() string {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import jwt, cryptography").Run() == nil {
			return path
		}
	}
	return ""
}
