package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// adminFlags point a command at a gateway's operators' API
// (docs/admin-api.md): --admin or ASPSTATE_ADMIN, and the token from
// --token-file or ASPSTATE_ADMIN_TOKEN.
type adminFlags struct {
	addr      string
	tokenFile string
	timeout   time.Duration
}

func (a *adminFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.addr, "admin", os.Getenv("ASPSTATE_ADMIN"), "the gateway's operators' listener (admin.listen), host:port or a URL (default from ASPSTATE_ADMIN)")
	fs.StringVar(&a.tokenFile, "token-file", "", "file whose first line is the API token (admin.token_file); default: the token in ASPSTATE_ADMIN_TOKEN")
	fs.DurationVar(&a.timeout, "network-timeout", 30*time.Second, "timeout for connecting and for each answer (not for a whole export or import)")
}

// client returns the API client, or an error for the usage message.
func (a *adminFlags) client() (*adminClient, error) {
	if a.addr == "" {
		return nil, errors.New("--admin ADDR (or ASPSTATE_ADMIN) is required: the gateway's admin.listen")
	}
	base := a.addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--admin %q: want host:port or an http(s) URL", a.addr)
	}
	token := strings.TrimSpace(os.Getenv("ASPSTATE_ADMIN_TOKEN"))
	if a.tokenFile != "" {
		b, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if token = strings.TrimSpace(line); token == "" {
			return nil, fmt.Errorf("--token-file %s: the first line is empty", a.tokenFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: a.timeout, KeepAlive: 30 * time.Second}).DialContext
	return &adminClient{base: strings.TrimRight(u.String(), "/"), token: token, timeout: a.timeout,
		hc: &http.Client{Transport: tr}}, nil
}

// adminClient calls the operators' API.
type adminClient struct {
	base  string // scheme://host[:port][/prefix]
	token string // empty: none sent
	// timeout bounds each JSON call; export and import streams have none
	// (they last as long as the store is large).
	timeout time.Duration
	hc      *http.Client
}

// apiError is a non-200 answer of the API.
type apiError struct {
	status int
	msg    string // the {"error": ...} text, or the body
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%d %s", e.status, http.StatusText(e.status))
	if e.msg != "" {
		s += ": " + e.msg
	}
	switch e.status {
	case http.StatusUnauthorized:
		s += " (give the token with --token-file F or ASPSTATE_ADMIN_TOKEN)"
	case http.StatusConflict:
		s += " (the lock changed meanwhile: look again, then retry)"
	}
	return s
}

// unreachableError is a failure to reach the API or to read its answer.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// exitCode maps an error of the API (or of reaching it) to the exit status
// docs/admin-api.md lists.
func exitCode(err error) int {
	var ae *apiError
	var ue *unreachableError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUnreachable
	case errors.As(err, &ae):
		switch ae.status {
		case http.StatusNotFound:
			return exitNotFound
		case http.StatusLocked, http.StatusConflict:
			return exitLocked
		case http.StatusUnauthorized, http.StatusForbidden:
			return exitRefused
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return exitUnreachable
		}
	}
	return exitFail
}

// do sends one request and returns the response of a 200; any other status
// is an *apiError, a transport failure an *unreachableError. The caller
// closes the body.
func (c *adminClient) do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, ctx.Err()
		}
		return nil, &unreachableError{err}
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var doc struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &doc) == nil && doc.Error != "" {
		msg = doc.Error
	}
	return nil, &apiError{status: resp.StatusCode, msg: msg}
}

// call sends a request without a body and decodes the JSON answer into out.
func (c *adminClient) call(ctx context.Context, method, path string, q url.Values, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.do(ctx, method, path, q, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := decodeJSON(resp.Body, out); err != nil {
		return &unreachableError{fmt.Errorf("reading the answer: %w", err)}
	}
	return nil
}

// decodeJSON decodes one JSON answer (at most 64 MiB) into out.
func decodeJSON(r io.Reader, out any) error {
	return json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(out)
}

// defaultWho is who the API logs for an action: user@host.
func defaultWho() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}
