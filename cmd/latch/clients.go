package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/latch-auth/latch/internal/oidc"
)

const clientsHelp = `latch clients list                         the clients of CLIENTS_FILE
latch clients add ID REDIRECT_URI… [--public] [--name NAME] [--consent] [--passwordless-api]
                                           register a client; a confidential one gets a
                                           generated secret, printed once (the file keeps
                                           its bcrypt hash)
latch clients add ID --admin [--name NAME] register an admin client: its client-credentials
                                           tokens reach the admin API (/api/admin/, latch …
                                           --url) and nothing else
latch clients remove ID                    unregister a client

These edit the file named by CLIENTS_FILE (JSON, or YAML when it ends in .yaml or
.yml; comments are not kept) and need no running server: send the server SIGHUP
(systemctl reload latch) to read the file again.`

// clientsCommand runs `latch clients add|list|remove`.
func clientsCommand(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	usage := exitError{code: 2, err: errors.New("usage: latch clients list | add ID REDIRECT_URI… [--public] [--name NAME] [--consent] [--passwordless-api] | add ID --admin [--name NAME] | remove ID")}
	if len(args) == 0 {
		return usage
	}
	file := getenv("CLIENTS_FILE")
	if file == "" {
		return exitError{code: 2, err: errors.New("CLIENTS_FILE is not set: name the file that holds the clients (it is created by latch clients add)")}
	}
	list, err := readClients(file)
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTYPE\tREDIRECT URIS")
		for _, c := range list {
			kind := "confidential"
			if c.Public {
				kind = "public"
			}
			if c.Admin {
				kind = "admin"
			}
			if c.Disabled {
				kind += " (disabled)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.RedirectURIs, " "))
		}
		return tw.Flush()
	case "remove":
		if len(args) != 2 {
			return usage
		}
		i := slices.IndexFunc(list, func(c oidc.Client) bool { return c.ID == args[1] })
		if i < 0 {
			return fmt.Errorf("no client %q in %s", args[1], file)
		}
		if err := writeClients(file, slices.Delete(list, i, i+1)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s from %s; reload the server (SIGHUP) to apply\n", args[1], file)
		return nil
	case "add":
		c := oidc.Client{}
		for i := 1; i < len(args); i++ {
			switch a := args[i]; a {
			case "--public":
				c.Public = true
			case "--consent":
				c.Consent = true
			case "--passwordless-api":
				c.PasswordlessAPI = true
			case "--admin":
				c.Admin = true
			case "--name":
				if i+1 >= len(args) {
					return usage
				}
				i++
				c.Name = args[i]
			default:
				if strings.HasPrefix(a, "--") {
					return usage
				}
				if c.ID == "" {
					c.ID = a
				} else {
					c.RedirectURIs = append(c.RedirectURIs, a)
				}
			}
		}
		if slices.ContainsFunc(list, func(o oidc.Client) bool { return o.ID == c.ID }) {
			return fmt.Errorf("client %q is already in %s (remove it first)", c.ID, file)
		}
		var secret string
		if !c.Public {
			b := make([]byte, 32)
			rand.Read(b)
			secret = base64.RawURLEncoding.EncodeToString(b)
			hash, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.DefaultCost)
			if err != nil {
				return fmt.Errorf("hash the secret: %w", err)
			}
			c.Secret = string(hash)
		}
		list = append(list, c)
		if _, err := oidc.ParseClients(mustMarshal(list)); err != nil {
			return exitError{code: 2, err: err}
		}
		if err := writeClients(file, list); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s to %s; reload the server (SIGHUP) to apply\n", c.ID, file)
		if secret != "" {
			fmt.Fprintf(stdout, "client secret (shown once, only its hash is kept): %s\n", secret)
		}
		return nil
	}
	return usage
}

func readClients(file string) ([]oidc.Client, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("CLIENTS_FILE: %w", err)
	}
	list, err := oidc.ParseClients(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return list, nil
}

func mustMarshal(list []oidc.Client) []byte {
	b, _ := json.Marshal(list)
	return b
}

// writeClients replaces the file at once (a reload never reads half).
func writeClients(file string, list []oidc.Client) error {
	if list == nil {
		list = []oidc.Client{}
	}
	var b []byte
	var err error
	if ext := filepath.Ext(file); ext == ".yaml" || ext == ".yml" {
		b, err = yaml.Marshal(list)
	} else {
		b, err = json.MarshalIndent(list, "", "  ")
		b = append(b, '\n')
	}
	if err != nil {
		return fmt.Errorf("encode the clients: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".clients-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
