package redistest

import (
	"net"
	"strconv"
	"testing"
)

// TLSFiles are the PEM files of a TLS server: its certificate and key, and
// the CA it checks client certificates against (redis-server wants one even
// when it does not ask clients for a certificate).
type TLSFiles struct {
	Cert, Key, CA string
}

// StartTLS is Start with a TLS port as well, on a second free port, and
// returns the TLS address. The plain port stays open so that the readiness
// PING, Client and Restart (which keeps both ports) work as for Start, and
// a test can look at the data without TLS. Clients need no certificate
// unless args say "--tls-auth-clients", "yes" (later arguments win).
func StartTLS(t testing.TB, files TLSFiles, args ...string) (*Server, string) {
	t.Helper()
	s := start(t, func() ([]string, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		return append([]string{"--tls-port", strconv.Itoa(port),
			"--tls-cert-file", files.Cert, "--tls-key-file", files.Key,
			"--tls-ca-cert-file", files.CA, "--tls-auth-clients", "no"}, args...), nil
	})
	return s, net.JoinHostPort("127.0.0.1", s.arg("--tls-port"))
}
