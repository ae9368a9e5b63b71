package main

import (
	"bufio"
	"cmp"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joho/godotenv"
	"go.yaml.in/yaml/v3"
)

// No Docker engine runs where the tests do, so these tests read the
// deployment files and hold them to what docs/deploy.md promises and to
// the Config struct.

// productionGo is the Go release production builds must use; the
// Dockerfile pins it and docs/deploy.md names it.
const productionGo = "1.27.3"

// repoFile reads a file at the root of the repository.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func configNames() map[string]bool {
	names := map[string]bool{}
	for _, v := range configVars() {
		names[v.Name] = true
	}
	return names
}

// composeService is the part of a Compose service these tests read. The
// fields that Compose allows in two shapes are decoded by hand.
type composeService struct {
	Image       string    `yaml:"image"`
	Build       yaml.Node `yaml:"build"`
	Environment yaml.Node `yaml:"environment"`
	EnvFile     yaml.Node `yaml:"env_file"`
	Ports       []any     `yaml:"ports"`
	Volumes     []any     `yaml:"volumes"`
	DependsOn   yaml.Node `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	StopGracePeriod string `yaml:"stop_grace_period"`
}

func loadCompose(t *testing.T) map[string]composeService {
	t.Helper()
	var f struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(repoFile(t, "compose.yaml")), &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return f.Services
}

// env decodes `environment:` as a map or as a list of KEY=VALUE.
func (s composeService) env(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch s.Environment.Kind {
	case 0:
	case yaml.MappingNode:
		if err := s.Environment.Decode(&env); err != nil {
			t.Fatal(err)
		}
	case yaml.SequenceNode:
		var list []string
		if err := s.Environment.Decode(&list); err != nil {
			t.Fatal(err)
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	default:
		t.Fatalf("environment: neither a map nor a list")
	}
	return env
}

// dependsOn decodes `depends_on:` as a list or a map of conditions.
func (s composeService) dependsOn(t *testing.T) map[string]string {
	t.Helper()
	deps := map[string]string{}
	switch s.DependsOn.Kind {
	case 0:
	case yaml.SequenceNode:
		var list []string
		if err := s.DependsOn.Decode(&list); err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			deps[d] = "service_started"
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := s.DependsOn.Decode(&m); err != nil {
			t.Fatal(err)
		}
		for d, c := range m {
			deps[d] = cmp.Or(c.Condition, "service_started")
		}
	}
	return deps
}

// publishes reports whether a `ports:` entry publishes the container port.
func (s composeService) publishes(port string) bool {
	for _, p := range s.Ports {
		switch p := p.(type) {
		case string: // [ip:]host:container[/proto]
			spec, _, _ := strings.Cut(p, "/")
			parts := strings.Split(spec, ":")
			if len(parts) >= 2 && parts[len(parts)-1] == port {
				return true
			}
		case int:
			// A bare container port gets a random host port: not published
			// where the docs say.
		case map[string]any: // long syntax
			if fmt.Sprint(p["target"]) == port && p["published"] != nil {
				return true
			}
		}
	}
	return false
}

func TestComposeFile(t *testing.T) {
	services := loadCompose(t)
	for _, name := range []string{"latch", "redis", "mailpit"} {
		if _, ok := services[name]; !ok {
			t.Fatalf("compose.yaml has no %s service", name)
		}
	}
	latch, redis, mailpit := services["latch"], services["redis"], services["mailpit"]

	var build struct {
		Context string `yaml:"context"`
	}
	if latch.Build.Kind == yaml.ScalarNode {
		build.Context = latch.Build.Value
	} else if err := latch.Build.Decode(&build); err != nil {
		t.Fatal(err)
	}
	if build.Context != "." {
		t.Errorf("latch builds from %q, want the repository (.)", build.Context)
	}

	deps := latch.dependsOn(t)
	for _, d := range []string{"redis", "mailpit"} {
		if _, ok := deps[d]; !ok {
			t.Errorf("latch does not depend on %s", d)
		}
	}
	if deps["redis"] != "service_healthy" {
		t.Errorf("latch starts when redis is %q; want service_healthy", deps["redis"])
	}

	env := latch.env(t)
	for k, want := range map[string]string{
		"APP_ENV":   "development",
		"HOST":      "0.0.0.0",
		"REDIS_URL": "redis://redis:6379/0",
		"SMTP_URL":  "smtp://mailpit:1025",
		"BASE_URL":  "http://localhost:3000",
	} {
		if env[k] != want {
			t.Errorf("latch %s = %q, want %q", k, env[k], want)
		}
	}
	names := configNames()
	for k := range env {
		if !names[k] {
			t.Errorf("latch sets %s, which Latch does not read", k)
		}
	}
	// The hosts in the URLs are services of this file.
	for _, k := range []string{"REDIS_URL", "SMTP_URL"} {
		u, err := url.Parse(env[k])
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if _, ok := services[u.Hostname()]; !ok {
			t.Errorf("%s points at %q, which is no service", k, u.Hostname())
		}
	}
	// Everything the environment sets must pass Latch's own validation.
	if _, err := loadConfig(func(k string) string { return env[k] }); err != nil {
		t.Errorf("latch's environment does not validate: %v", err)
	}

	var envFiles []struct {
		Path     string `yaml:"path"`
		Required *bool  `yaml:"required"`
	}
	if err := latch.EnvFile.Decode(&envFiles); err != nil {
		t.Fatalf("env_file should be the long form (path, required): %v", err)
	}
	if len(envFiles) != 1 || envFiles[0].Path != ".env" || envFiles[0].Required == nil || *envFiles[0].Required {
		t.Errorf("env_file = %+v, want .env with required: false", envFiles)
	}

	if !latch.publishes("3000") {
		t.Errorf("latch does not publish port 3000: %v", latch.Ports)
	}
	if !mailpit.publishes("8025") {
		t.Errorf("mailpit does not publish its web UI on 8025: %v", mailpit.Ports)
	}
	if !mountsAt(latch.Volumes, "/data") {
		t.Errorf("latch keeps no volume at /data (DATA_DIR): %v", latch.Volumes)
	}
	if d, err := time.ParseDuration(latch.StopGracePeriod); err != nil || d <= defaultShutdownTimeout(t) {
		t.Errorf("latch stop_grace_period %q should be longer than SHUTDOWN_TIMEOUT's default %s", latch.StopGracePeriod, defaultShutdownTimeout(t))
	}

	if redis.Image != "redis:7-alpine" {
		t.Errorf("redis image %q, want redis:7-alpine", redis.Image)
	}
	if redis.Healthcheck == nil || !strings.Contains(strings.Join(redis.Healthcheck.Test, " "), "ping") {
		t.Errorf("redis has no ping healthcheck")
	}
	if !strings.HasPrefix(mailpit.Image, "axllent/mailpit") {
		t.Errorf("mailpit image %q, want axllent/mailpit", mailpit.Image)
	}
	if deps["mailpit"] == "service_healthy" && mailpit.Healthcheck == nil {
		t.Errorf("latch waits for mailpit to be healthy, but mailpit has no healthcheck here")
	}
}

func mountsAt(volumes []any, target string) bool {
	for _, v := range volumes {
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == target {
				return true
			}
		case map[string]any:
			if v["target"] == target {
				return true
			}
		}
	}
	return false
}

func defaultShutdownTimeout(t *testing.T) time.Duration {
	t.Helper()
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.ShutdownTimeout
}

// dockerfile is a Dockerfile as a list of instructions, continuation
// lines joined and comments dropped, each with the stage it is in.
type instruction struct {
	stage int
	cmd   string // upper case: FROM, RUN, USER, …
	args  string
}

func parseDockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	stage := -1
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{stage: stage, cmd: cmd, args: strings.Join(strings.Fields(args), " ")})
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, repoFile(t, "Dockerfile"))
	last := ins[len(ins)-1].stage
	final := map[string][]string{} // instructions of the final stage
	var froms []string
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in.args)
		}
		if in.stage == last {
			final[in.cmd] = append(final[in.cmd], in.args)
		}
	}

	// The build stage uses the pinned Go release.
	goImage := regexp.MustCompile(`(?:^|\s)golang:(\d+\.\d+\.\d+)-(bookworm|trixie|alpine[0-9.]*)(@sha256:[0-9a-f]{64})?(\s|$)`)
	m := goImage.FindStringSubmatch(froms[0])
	if m == nil {
		t.Fatalf("the first stage is %q; want a pinned golang:X.Y.Z-bookworm (or alpine) image", froms[0])
	}
	if m[1] != productionGo {
		t.Errorf("the Dockerfile builds with Go %s; production must use Go %s", m[1], productionGo)
	}
	if !strings.Contains(repoFile(t, "docs/deploy.md"), "Go "+productionGo) {
		t.Errorf("docs/deploy.md does not name Go %s, the release the Dockerfile pins", productionGo)
	}
	if strings.Contains(froms[len(froms)-1], "golang") {
		t.Errorf("the final image %q carries the Go toolchain", froms[len(froms)-1])
	}

	var build string
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"-trimpath", "-s -w", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "./cmd/latch"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build lacks %q: %s", want, build)
		}
	}
	if !strings.Contains(repoFile(t, "Dockerfile"), "CGO_ENABLED=0") {
		t.Errorf("the build is not static (CGO_ENABLED=0)")
	}

	users := final["USER"]
	if len(users) == 0 {
		t.Errorf("the final stage sets no USER: it would run as root")
	}
	for _, u := range users {
		if name, _, _ := strings.Cut(u, ":"); name == "root" || name == "0" {
			t.Errorf("USER %s is root", u)
		}
	}
	hc := strings.Join(final["HEALTHCHECK"], "\n")
	if !regexp.MustCompile(`CMD \[.*"healthcheck"\]`).MatchString(hc) {
		t.Errorf("HEALTHCHECK is not the exec form of `latch healthcheck`: %q", hc)
	}
	if !slices.Contains(final["EXPOSE"], "3000") {
		t.Errorf("EXPOSE = %v, want 3000", final["EXPOSE"])
	}
	if v := strings.Join(final["VOLUME"], " "); !strings.Contains(v, "/data") {
		t.Errorf("VOLUME = %q, want /data", v)
	}
	for _, e := range final["ENTRYPOINT"] {
		if !strings.HasPrefix(e, "[") {
			t.Errorf("ENTRYPOINT %q is the shell form; the image has no shell", e)
		}
	}

	// ENV sets Latch variables, and DATA_DIR is the volume.
	env := map[string]string{}
	for _, e := range final["ENV"] {
		for _, kv := range strings.Fields(e) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	names := configNames()
	for k := range env {
		if !names[k] {
			t.Errorf("the image sets %s, which Latch does not read", k)
		}
	}
	if env["DATA_DIR"] != "/data" || env["APP_ENV"] != "production" || env["PORT"] != "3000" {
		t.Errorf("ENV = %v, want DATA_DIR=/data, APP_ENV=production and PORT=3000", env)
	}
}

// TestDockerignore keeps secrets and local state out of the build context.
func TestDockerignore(t *testing.T) {
	lines := strings.Split(repoFile(t, ".dockerignore"), "\n")
	for _, want := range []string{".git", ".env", "data"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, l := range lines {
		if l == "go.mod" || l == "go.sum" || l == "cmd" || l == "internal" || l == "*.go" {
			t.Errorf(".dockerignore excludes %s, which the build needs", l)
		}
	}
}

// TestEnvExample checks that .env.example names only variables Latch
// reads, and that it validates as it is and with every line uncommented.
func TestEnvExample(t *testing.T) {
	text := repoFile(t, ".env.example")
	names := configNames()
	assign := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=`)
	var uncommented []string
	for _, line := range strings.Split(text, "\n") {
		m := assign.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if !names[m[1]] {
			t.Errorf(".env.example names %s, which Latch does not read", m[1])
		}
		uncommented = append(uncommented, strings.TrimPrefix(line, "#"))
	}
	for _, variant := range []struct{ name, text string }{{"as it is", text}, {"uncommented", strings.Join(uncommented, "\n")}} {
		env, err := godotenv.Unmarshal(variant.text)
		if err != nil {
			t.Fatalf(".env.example %s: %v", variant.name, err)
		}
		env["DATA_DIR"] = t.TempDir()
		if _, err := loadConfig(func(k string) string { return env[k] }); err != nil {
			t.Errorf(".env.example %s does not validate:\n%v", variant.name, err)
		}
	}
}

// TestSystemdUnit holds deploy/latch.service to docs/deploy.md.
func TestSystemdUnit(t *testing.T) {
	unit := map[string][]string{}
	for _, line := range strings.Split(repoFile(t, "deploy/latch.service"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("not a key=value line: %q", line)
		}
		unit[k] = append(unit[k], v)
	}
	for k, want := range map[string]string{
		"EnvironmentFile": "/etc/latch/latch.env",
		"StateDirectory":  "latch",
		"NoNewPrivileges": "yes",
		"ProtectSystem":   "strict",
		"DynamicUser":     "yes",
		"KillSignal":      "SIGTERM",
	} {
		if !slices.Contains(unit[k], want) {
			t.Errorf("%s = %v, want %s", k, unit[k], want)
		}
	}
	if len(unit["ExecStart"]) != 1 || !strings.HasSuffix(unit["ExecStart"][0], "latch serve") {
		t.Errorf("ExecStart = %v", unit["ExecStart"])
	}
	if d, err := time.ParseDuration(strings.Join(unit["TimeoutStopSec"], "")); err != nil || d <= defaultShutdownTimeout(t) {
		t.Errorf("TimeoutStopSec %v should be longer than SHUTDOWN_TIMEOUT's default %s", unit["TimeoutStopSec"], defaultShutdownTimeout(t))
	}
	for _, e := range unit["Environment"] {
		for _, kv := range strings.Fields(e) {
			if k, _, _ := strings.Cut(kv, "="); !configNames()[k] {
				t.Errorf("Environment sets %s, which Latch does not read", k)
			}
		}
	}
}
