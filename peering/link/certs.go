package link

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/aspstate/aspstate/internal/rawconn"
)

// certReloadEvery bounds how often the PEM files are read to look for changes.
const certReloadEvery = time.Second

// certSet is one loaded generation of the CA, certificate and key.
type certSet struct {
	pool *x509.CertPool
	cert tls.Certificate
	raw  [3][]byte // the files' bytes, to notice changes
}

// certStore holds the current certSet and reloads it when the files change.
// Files are compared by content, not mtime: coarse mtimes and same-size
// rewrites cannot hide a rotation.
type certStore struct {
	caFile, certFile, keyFile string
	every                     time.Duration
	log                       *slog.Logger

	mu        sync.Mutex // guards cur, lastCheck, lastErr
	cur       *certSet
	lastCheck time.Time
	lastErr   string // last reload failure logged, to log each one once
}

func loadCerts(caFile, certFile, keyFile string) (*certSet, error) {
	var s certSet
	for i, f := range []string{caFile, certFile, keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("link: reading %s: %w", f, err)
		}
		s.raw[i] = b
	}
	s.pool = x509.NewCertPool()
	if !s.pool.AppendCertsFromPEM(s.raw[0]) {
		return nil, fmt.Errorf("link: %s: no CA certificate found", caFile)
	}
	cert, err := tls.X509KeyPair(s.raw[1], s.raw[2])
	if err != nil {
		return nil, fmt.Errorf("link: %s / %s: %w", certFile, keyFile, err)
	}
	s.cert = cert
	return &s, nil
}

// get returns the current set, first reloading it if the files changed and
// the last check is older than every. A broken new set is logged and the
// old one kept, so a half-finished rotation does not take links down.
func (cs *certStore) get() *certSet {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if time.Since(cs.lastCheck) < cs.every {
		return cs.cur
	}
	cs.lastCheck = time.Now()
	changed := false
	for i, f := range []string{cs.caFile, cs.certFile, cs.keyFile} {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Equal(b, cs.cur.raw[i]) {
			changed = true
			break
		}
	}
	if !changed {
		return cs.cur
	}
	s, err := loadCerts(cs.caFile, cs.certFile, cs.keyFile)
	if err != nil {
		if msg := err.Error(); msg != cs.lastErr {
			cs.lastErr = msg
			cs.log.Warn("link: certificate files changed but do not load; keeping the previous ones", "err", err)
		}
		return cs.cur
	}
	cs.lastErr = ""
	cs.cur = s
	cs.log.Info("link: certificate files reloaded", "ca", cs.caFile, "cert", cs.certFile)
	return s
}

// clientTLS is the dialer's configuration: the server must present a
// certificate from our CA naming peer, the ID we dialed.
func (m *Mesh) clientTLS(peer string) *tls.Config {
	s := m.certs.get()
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      s.pool,
		Certificates: []tls.Certificate{s.cert},
		ServerName:   peer,
	}
}

// serverTLS is the acceptor's configuration: a client certificate from our
// CA is required and must name exactly one other member.
func (m *Mesh) serverTLS() *tls.Config {
	s := m.certs.get()
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.cert},
		ClientCAs:    s.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := m.memberOf(cs)
			return err
		},
	}
}

// memberOf returns the member ID a verified peer certificate names.
func (m *Mesh) memberOf(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("no certificate")
	}
	names := cs.PeerCertificates[0].DNSNames
	var found []string
	for _, n := range names {
		if _, ok := m.cfg.Members[n]; ok && !slices.Contains(found, n) {
			found = append(found, n)
		}
	}
	switch {
	case len(found) == 0:
		return "", fmt.Errorf("certificate names no configured member (DNS names %q)", names)
	case len(found) > 1:
		return "", fmt.Errorf("certificate names several members %q", found)
	case found[0] == m.cfg.Self:
		return "", fmt.Errorf("certificate names this member (%s) itself", m.cfg.Self)
	}
	return found[0], nil
}

func tlsClient(nc net.Conn, cfg *tls.Config) *tls.Conn { return tls.Client(rawconn.AsNetConn(nc), cfg) }
