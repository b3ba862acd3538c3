package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
)

// Who may call what (docs/admin-api.md):
//
//	endpoint                             loopback, no token  other, no token  token
//	/metrics, /healthz, /readyz          yes                 yes              yes
//	/ and its files (static, no data)    yes                 yes              yes
//	/api/overview, GET /peers            yes                 401              yes
//	the rest of /api/, POST /peers/down  401                 401              yes
//
// Without admin.token_file, whatever would need the token answers 403 and
// says so. A wrong token is a 401 everywhere it is looked at.

// access is an endpoint's rule.
type access int

const (
	overviewAccess access = iota // free on a loopback listener
	tokenAccess                  // always the token
)

// decide is the rule: the status to answer (0: go on) for an endpoint of
// kind a, on a loopback listener or not, with the token configured or not,
// and the Authorization header sent (sent) and right (ok).
func decide(a access, loopback, configured, sent, ok bool) (int, string) {
	switch {
	case sent && ok:
		return 0, ""
	case a == overviewAccess && loopback && !sent:
		return 0, ""
	case !configured:
		return http.StatusForbidden, "admin.token_file is not set: this endpoint needs the operators' token, and none is configured"
	case sent:
		return http.StatusUnauthorized, "wrong token"
	}
	return http.StatusUnauthorized, "this endpoint needs the operators' token (Authorization: Bearer <the first line of admin.token_file>)"
}

// guard applies the rule of a to h.
func (s *Server) guard(a access, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		want := s.token.Load()
		sent, ok := false, false
		if v := r.Header.Get("Authorization"); v != "" {
			sent = true
			tok, isBearer := cutBearer(v)
			if isBearer && want != nil {
				got := sha256.Sum256([]byte(tok))
				// Both sides hashed: equal lengths, so the compare takes
				// the same time whatever was sent.
				ok = subtle.ConstantTimeCompare(got[:], want[:]) == 1
			}
		}
		if code, msg := decide(a, s.loopback.Load(), want != nil, sent, ok); code != 0 {
			w.Header().Set("Cache-Control", "no-store")
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="aspstated"`)
			}
			writeError(w, code, msg)
			return
		}
		h(w, r)
	}
}

// cutBearer returns the token of an "Authorization: Bearer <token>" value.
func cutBearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// SetTokenFile reads the token from path ("" for none) and uses it from now
// on; on error the token in use stays. The gateway calls it at start and on
// SIGHUP.
func (s *Server) SetTokenFile(path string) error {
	if path == "" {
		s.token.Store(nil)
		return nil
	}
	tok, err := readToken(path)
	if err != nil {
		return fmt.Errorf("admin: token_file: %v", err)
	}
	sum := sha256.Sum256([]byte(tok))
	s.token.Store(&sum)
	return nil
}

// readToken returns the first line of the file at path, surrounding
// whitespace trimmed; an empty one is an error.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	tok := strings.TrimSpace(string(line))
	if tok == "" {
		return "", errors.New(path + ": the first line is empty")
	}
	return tok, nil
}

// isLoopback tells whether the listen address addr (host:port) is on a
// loopback address: 127.0.0.0/8, ::1 or localhost. An empty host (every
// interface) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
