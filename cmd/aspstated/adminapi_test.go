package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// call sends a request to the admin listener with a bearer token ("" for
// none).
func (s *served) call(method, path, token string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.admin+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The session API on the real gateway: the token from admin.token_file,
// read again on SIGHUP; the overview shows the effective configuration
// with secrets masked.
func TestAdminTokenFileAndTheSessionAPI(t *testing.T) {
	const secret = "redis-pa55word-never-shown"
	tokFile := writeFile(t, "token", "first-token-0123456789\n")
	s := serve(t, "--admin.listen", "127.0.0.1:0", "--admin.token_file", tokFile, "--backend.redis.password", secret)
	if code := s.do(putReq("api-session-id")); code != 200 {
		t.Fatalf("put: %d", code)
	}
	if code, body := s.call("GET", "/api/sessions", ""); code != 401 {
		t.Fatalf("no token: %d %s", code, body)
	}
	code, body := s.call("GET", "/api/sessions", "first-token-0123456789")
	if code != 200 || !strings.Contains(body, `"id":"/app/api-session-id"`) {
		t.Fatalf("with the token: %d %s", code, body)
	}
	code, body = s.call("GET", "/api/overview", "")
	if code != 200 || strings.Contains(body, secret) || strings.Contains(body, "api-session-id") {
		t.Fatalf("overview: %d %s", code, body)
	}
	var o struct {
		Config   map[string]any `json:"config"`
		Sessions *int64         `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if o.Config["backend.redis.password"] != "***" || o.Config["backend.type"] != "memory" ||
		o.Config["shutdown_timeout"] != "10s" || o.Sessions == nil || *o.Sessions != 1 {
		t.Fatalf("overview config or counts: %s", body)
	}

	os.WriteFile(tokFile, []byte("second-token-9876543210\n"), 0o600)
	s.hup <- nil
	waitFor(t, "the reload", func() bool { return strings.Contains(s.logs.String(), "configuration applied") })
	if code, _ := s.call("GET", "/api/sessions", "first-token-0123456789"); code != 401 {
		t.Fatalf("the old token after SIGHUP: %d", code)
	}
	if code, _ := s.call("GET", "/api/sessions", "second-token-9876543210"); code != 200 {
		t.Fatalf("the new token after SIGHUP: %d", code)
	}
	if strings.Contains(s.logs.String(), "second-token") || strings.Contains(s.logs.String(), secret) {
		t.Fatal("a secret is in the log")
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestAdminTokenFileErrorsNameTheKey(t *testing.T) {
	empty := writeFile(t, "empty", "\n")
	for _, f := range []string{"/nonexistent/token", empty} {
		code, out := runConfig(t, []string{"--admin.listen", "127.0.0.1:0", "--admin.token_file", f, "--print-config"})
		if code != 2 || !strings.Contains(out, "admin.token_file: ") {
			t.Errorf("%s: %d %q", f, code, out)
		}
	}
}
