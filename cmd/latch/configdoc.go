package main

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// configVar is one documented setting: a field of Config with an env tag.
type configVar struct {
	Name    string // the environment variable
	Default string // as written in the default tag; "" for none
	Kind    string // string, integer, boolean, duration or list
	Secret  bool
	Help    string
}

// configVars lists Config's settings in struct order, which is the order
// of the reference.
func configVars() []configVar {
	var vars []configVar
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		vars = append(vars, configVar{
			Name:    name,
			Default: f.Tag.Get("default"),
			Kind:    kindOf(f.Type),
			Secret:  f.Tag.Get("secret") == "true",
			Help:    f.Tag.Get("help"),
		})
	}
	return vars
}

func kindOf(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "duration"
	case reflect.TypeFor[[]string]():
		return "list"
	}
	switch t.Kind() {
	case reflect.Int:
		return "integer"
	case reflect.Bool:
		return "boolean"
	}
	return "string"
}

// configReference renders docs/configuration.md from Config's tags.
// TestConfigReference keeps the file equal to it; `latch config` prints it.
func configReference() []byte {
	var b bytes.Buffer
	b.WriteString(`# Configuration reference

<!-- Generated from the Config struct in cmd/latch/config.go; do not edit.
     Regenerate: go test ./cmd/latch -run TestConfigReference -update -->

Latch reads these variables from the environment and, if there is one, from a
` + "`.env`" + ` file in the working directory; the environment wins. A bad
configuration stops Latch at start with every problem listed at once on
stderr (exit code 2). A variable that looks like one of these but is not (a
typo such as ` + "`SESION_SECRET`" + ` or ` + "`PROT`" + `, or an unknown name with a prefix of
theirs such as ` + "`SMTP_PASSWORD`" + `) is warned about in the log at start.
` + "`latch config`" + ` prints this page.

- **duration**: Go syntax (` + "`30s`, `5m`, `4h`" + `) or whole days (` + "`7d`" + `).
- **list**: comma-separated; spaces around items are ignored.
- **boolean**: ` + "`true` or `false`" + `.
- **secret**: keep it out of version control, logs and process listings; put
  it in a file only the service can read (see [deploy.md](deploy.md)).

| Variable | Default | Type | Secret | Meaning |
|---|---|---|---|---|
`)
	for _, v := range configVars() {
		def := "—"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		secret := ""
		if v.Secret {
			secret = "secret"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", v.Name, def, v.Kind, secret, markdownCell(v.Help))
	}
	return b.Bytes()
}

// markdownCell escapes text for one cell of a Markdown table.
func markdownCell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}

func writeConfigReference(w io.Writer) error {
	_, err := w.Write(configReference())
	return err
}
