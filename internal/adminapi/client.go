package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client runs admin commands on a remote Latch over the admin API, as
// the control socket runs them on the local one: `latch users … --url`.
// It gets an admin token with the client-credentials grant first.
type Client struct {
	// BaseURL is the Latch to call (its BASE_URL).
	BaseURL string
	// ClientID and ClientSecret are an admin client's credentials.
	ClientID, ClientSecret string
	// HTTP makes the requests (a client with a 30 s timeout when nil).
	HTTP *http.Client

	token string
}

// ErrUnreachable means nothing answered at the URL.
var ErrUnreachable = errors.New("adminapi: no Latch answers")

// ErrCredentials means the token endpoint refused the admin client.
var ErrCredentials = errors.New("adminapi: the admin client credentials were refused")

// Error is a failed call: the server's sentence and stable code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Call runs command with args (any JSON-encodable object, or nil) and
// decodes its result into result (which may be nil), as admin.Call does
// on the socket.
func (c *Client) Call(ctx context.Context, command string, args, result any) error {
	rt, ok := RouteOf(command)
	if !ok {
		return fmt.Errorf("adminapi: the admin API has no route for %s", command)
	}
	fields := map[string]json.RawMessage{}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("adminapi: encode the arguments: %w", err)
		}
		if err := json.Unmarshal(b, &fields); err != nil {
			return fmt.Errorf("adminapi: the arguments of %s are not an object: %w", command, err)
		}
	}
	path := rt.Path()
	for _, name := range rt.Wildcards() {
		var v string
		if raw, ok := fields[name]; ok {
			json.Unmarshal(raw, &v)
			delete(fields, name)
		}
		if v == "" {
			return fmt.Errorf("adminapi: %s needs %s", command, name)
		}
		path = strings.Replace(path, "{"+name+"}", url.PathEscape(v), 1)
	}
	var body []byte
	if rt.Body {
		body, _ = json.Marshal(fields)
	} else if len(fields) > 0 {
		return fmt.Errorf("adminapi: %s takes no arguments beyond its path", command)
	}
	if c.token == "" {
		if err := c.fetchToken(ctx); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, rt.Method(), strings.TrimSuffix(c.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("adminapi: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	res, err := c.http().Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("adminapi: %s: read the answer: %w", command, err)
	}
	if res.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Code == "" {
			return fmt.Errorf("adminapi: %s: %s from %s, not Latch's admin API (is the URL right?)", command, res.Status, c.BaseURL)
		}
		return &Error{Status: res.StatusCode, Code: e.Code, Message: e.Error}
	}
	if result != nil {
		if err := json.Unmarshal(raw, result); err != nil {
			return fmt.Errorf("adminapi: %s: decode the result: %w", command, err)
		}
	}
	return nil
}

// fetchToken gets an admin token with the client-credentials grant.
func (c *Client) fetchToken(ctx context.Context) error {
	if c.ClientID == "" || c.ClientSecret == "" {
		return fmt.Errorf("%w: an admin client id and secret are needed", ErrCredentials)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("adminapi: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	res, err := c.http().Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&tok); err != nil {
		return fmt.Errorf("adminapi: %s/oauth/token answered %s, not a token (is the URL a Latch?)", c.BaseURL, res.Status)
	}
	switch {
	case res.StatusCode == http.StatusOK && tok.AccessToken != "":
		c.token = tok.AccessToken
		return nil
	case tok.Error == "invalid_client" || tok.Error == "unsupported_grant_type":
		return ErrCredentials
	}
	return fmt.Errorf("adminapi: the token endpoint answered %s: %s %s", res.Status, tok.Error, tok.Description)
}

func (c *Client) unreachable(err error) error {
	return fmt.Errorf("%w at %s: %v", ErrUnreachable, c.BaseURL, err)
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: callTimeout + 5*time.Second}
}
