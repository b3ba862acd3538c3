package redisstore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// The TLS tests run the store against a redis-server with a TLS port and
// throwaway certificates made here, so that they need no openssl. Every
// address is loopback.

// testCA is a throwaway certificate authority; its certificate is in file.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
	dir  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := certTemplate(t, name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := &testCA{cert: cert, key: key, dir: dir, file: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue signs a leaf certificate for usage with the given SANs and returns
// the paths of its certificate and key.
func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl := certTemplate(t, name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	tmpl.DNSNames, tmpl.IPAddresses = dns, ips
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", pkcs8)
	return certFile, keyFile
}

// serverFiles issues a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) serverFiles(t *testing.T) redistest.TLSFiles {
	t.Helper()
	cert, key := ca.issue(t, "server", x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	return redistest.TLSFiles{Cert: cert, Key: key, CA: ca.file}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func certTemplate(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// openTLS opens a Store on addr (a TLS port of srv) with tc, and the
// prefix open gives every test.
func openTLS(t *testing.T, srv *redistest.Server, addr string, tc TLSConfig, mod func(*Config)) *Store {
	t.Helper()
	return open(t, srv, func(c *Config) {
		c.Addrs, c.TLS = []string{addr}, tc
		if mod != nil {
			mod(c)
		}
	})
}

// roundTrip stores a small record (written by the store's own pipeline
// connections) and one over directBytes (written through go-redis), reads
// both back through s, and checks through the server's plain port that
// they are stored as the store's values.
func roundTrip(t *testing.T, s *Store, srv *redistest.Server) {
	t.Helper()
	plain := srv.Client()
	large := bytes.Repeat([]byte("0123456789abcdef"), directBytes/16+100)
	for key, data := range map[string][]byte{"small": []byte("small session"), "large": large} {
		put(t, s, key, backends.Record{Data: data, Timeout: 5})
		rec, ok := get(t, s, key)
		if !ok || !bytes.Equal(rec.Data, data) {
			t.Fatalf("%s: Get over TLS = %d bytes, found %v; want the %d bytes put", key, len(rec.Data), ok, len(data))
		}
		raw, err := plain.Get(bg(t), s.cfg.KeyPrefix+"s:"+key).Result()
		if err != nil {
			t.Fatalf("%s: GET on the plain port: %v", key, err)
		}
		if st, err := decodeValue(raw, false); err != nil || !bytes.Equal(st.rec.Data, data) {
			t.Fatalf("%s: the server holds %d bytes (%v), not the record put", key, len(raw), err)
		}
	}
}

// failsOverTLS checks that a read and a write on s fail with an error
// (never as an absent record or a success) that names a certificate problem
// and not the key.
func failsOverTLS(t *testing.T, s *Store, key string) {
	t.Helper()
	errs := map[string]error{}
	_, errs["Get"] = backends.Get(bg(t), s, key)
	errs["Put"] = backends.Put(bg(t), s, key, backends.Record{Data: []byte("must not be stored"), Timeout: 5})
	for op, err := range errs {
		switch {
		case err == nil:
			t.Errorf("%s succeeded without a trusted TLS connection", op)
		case errors.Is(err, backends.ErrNotFound):
			t.Errorf("%s = %v: a TLS failure reported as an absent session", op, err)
		case !strings.Contains(err.Error(), "certificate"):
			t.Errorf("%s = %v: does not say it is about a certificate", op, err)
		case strings.Contains(err.Error(), key):
			t.Errorf("%s = %v: names the session key", op, err)
		default:
			t.Logf("%s: %v", op, err)
		}
	}
}

// secretKey is a session key that must not show up in errors.
const secretKey = "/LM/W3SVC/1/ROOT(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN)/kf51kjsndazux1l0vjlec5jw"

// TestTLS: a store with tls.enabled and the server's CA reads and writes
// over TLS, through both of its connection kinds, and keeps working after
// Redis restarts under its connections.
func TestTLS(t *testing.T) {
	ca := newTestCA(t, "test")
	srv, tlsAddr := redistest.StartTLS(t, ca.serverFiles(t))
	s := openTLS(t, srv, tlsAddr, TLSConfig{Enabled: true, CAFile: ca.file}, nil)
	roundTrip(t, s, srv)

	srv.Restart() // same ports; the pipeline connection is now stale
	put(t, s, "small", backends.Record{Data: []byte("after restart"), Timeout: 5})
	if rec, ok := get(t, s, "small"); !ok || string(rec.Data) != "after restart" {
		t.Fatalf("Get after Restart = %q, %v", rec.Data, ok)
	}
}

// TestTLSClientCert: a server with tls-auth-clients yes serves a store with
// a client certificate and refuses one without.
func TestTLSClientCert(t *testing.T) {
	ca := newTestCA(t, "test")
	cert, key := ca.issue(t, "client", x509.ExtKeyUsageClientAuth, nil, nil)
	srv, tlsAddr := redistest.StartTLS(t, ca.serverFiles(t), "--tls-auth-clients", "yes")

	with := openTLS(t, srv, tlsAddr, TLSConfig{Enabled: true, CAFile: ca.file, CertFile: cert, KeyFile: key}, nil)
	roundTrip(t, with, srv)

	without := openTLS(t, srv, tlsAddr, TLSConfig{Enabled: true, CAFile: ca.file}, nil)
	errs := map[string]error{}
	_, errs["Get"] = backends.Get(bg(t), without, "small") // stored by with
	errs["Put"] = backends.Put(bg(t), without, "new", backends.Record{Data: []byte("x"), Timeout: 5})
	for op, err := range errs {
		if err == nil || errors.Is(err, backends.ErrNotFound) {
			t.Errorf("%s without a client certificate = %v, want a failure", op, err)
		} else {
			t.Logf("%s without a client certificate: %v", op, err)
		}
	}
	if n, err := srv.Client().Exists(bg(t), without.cfg.KeyPrefix+"s:new").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS after the refused Put = %d, %v; want 0", n, err)
	}
}

// TestTLSUntrustedServer: a server whose certificate the configured CA did
// not sign is an outage, logged as such, never an empty store.
func TestTLSUntrustedServer(t *testing.T) {
	ca := newTestCA(t, "test")
	srv, tlsAddr := redistest.StartTLS(t, ca.serverFiles(t))
	// The session exists, so that a read reported as absent would be a lie.
	put(t, openTLS(t, srv, tlsAddr, TLSConfig{Enabled: true, CAFile: ca.file}, nil), secretKey, backends.Record{Data: []byte("x"), Timeout: 5})

	var logs logBuffer
	other := newTestCA(t, "other")
	s := openTLS(t, srv, tlsAddr, TLSConfig{Enabled: true, CAFile: other.file}, func(c *Config) { c.Logger = newLogger(&logs) })
	failsOverTLS(t, s, secretKey)
	eventually(t, 3*time.Second, "outage logged", func() bool { return logs.contains("redis is not answering") })
	if !logs.contains("certificate") {
		t.Errorf("the log does not say why: %s", logs.String())
	}
}

// TestTLSServerName: the name checked in the server's certificate is the
// address's host, or TLSConfig.ServerName when set, on both connection kinds.
func TestTLSServerName(t *testing.T) {
	ca := newTestCA(t, "test")
	// DNS names only: 127.0.0.1 is not in this certificate.
	cert, key := ca.issue(t, "named", x509.ExtKeyUsageServerAuth, []string{"localhost", "redis.test"}, nil)
	srv, tlsAddr := redistest.StartTLS(t, redistest.TLSFiles{Cert: cert, Key: key, CA: ca.file})
	_, port, _ := net.SplitHostPort(tlsAddr)
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("StartTLS returned %q", tlsAddr)
	}

	t.Run("host", func(t *testing.T) {
		roundTrip(t, openTLS(t, srv, net.JoinHostPort("localhost", port), TLSConfig{Enabled: true, CAFile: ca.file}, nil), srv)
	})
	t.Run("server_name", func(t *testing.T) {
		roundTrip(t, openTLS(t, srv, tlsAddr, TLSConfig{Enabled: true, CAFile: ca.file, ServerName: "redis.test"}, nil), srv)
	})
	t.Run("mismatch", func(t *testing.T) {
		failsOverTLS(t, openTLS(t, srv, tlsAddr, TLSConfig{Enabled: true, CAFile: ca.file}, nil), secretKey)
	})
}
