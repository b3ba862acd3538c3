package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Default validity periods.
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	MemberValidity = 2 * 365 * 24 * time.Hour
	// backdate absorbs clock skew between members.
	backdate = time.Hour
)

// Options adjust a certificate. The zero value gives the defaults.
type Options struct {
	// Hosts are extra SANs: IP addresses become IP SANs, anything else a DNS SAN.
	Hosts []string
	// NotBefore and NotAfter override the validity window (tests use them
	// to make expired certificates).
	NotBefore, NotAfter time.Time
}

// KeyPair is a certificate with its private key, parsed and as PEM.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	KeyPEM  []byte
}

// CA is a key pair that signs member certificates.
type CA struct{ KeyPair }

// NewCA creates a self-signed farm CA named name.
func NewCA(name string, o Options) (*CA, error) {
	kp, err := create(name, o, CAValidity, true, nil)
	if err != nil {
		return nil, err
	}
	return &CA{*kp}, nil
}

// LoadCA reads a CA written by NewCA (or any ECDSA CA in PEM).
func LoadCA(certFile, keyFile string) (*CA, error) {
	kp, err := Load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if !kp.Cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certFile)
	}
	return &CA{*kp}, nil
}

// Issue creates a certificate for member id, signed by ca.
func (ca *CA) Issue(id string, o Options) (*KeyPair, error) {
	if id == "" {
		return nil, errors.New("pki: empty member ID")
	}
	return create(id, o, MemberValidity, false, &ca.KeyPair)
}

// SelfSigned creates a member-style certificate for id signed by its own
// key: not trusted by any farm (tests use it to check it is refused).
func SelfSigned(id string, o Options) (*KeyPair, error) {
	return create(id, o, MemberValidity, false, nil)
}

func create(name string, o Options, validity time.Duration, isCA bool, parent *KeyPair) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"aspstate"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(validity),
	}
	if !o.NotBefore.IsZero() {
		tmpl.NotBefore = o.NotBefore
	}
	if !o.NotAfter.IsZero() {
		tmpl.NotAfter = o.NotAfter
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.MaxPathLenZero = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames = []string{name}
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" && h != name {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("pki: create certificate for %q: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Load reads a certificate and its ECDSA key from PEM files.
func Load(certFile, keyFile string) (*KeyPair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("pki: %s: no CERTIFICATE block", certFile)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("pki: %s: no PEM block", keyFile)
	}
	var key *ecdsa.PrivateKey
	switch kb.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: %s: %w", keyFile, err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("pki: %s: not an ECDSA key", keyFile)
		}
		key = ek
	case "EC PRIVATE KEY":
		if key, err = x509.ParseECPrivateKey(kb.Bytes); err != nil {
			return nil, fmt.Errorf("pki: %s: %w", keyFile, err)
		}
	default:
		return nil, fmt.Errorf("pki: %s: unexpected PEM block %q", keyFile, kb.Type)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("pki: %s does not match %s", keyFile, certFile)
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Write writes the certificate (0644) and key (0600). Existing files are
// refused unless force is set.
func (kp *KeyPair) Write(certFile, keyFile string, force bool) error {
	if !force {
		if err := refuseExisting(certFile, keyFile); err != nil {
			return err
		}
	}
	if err := writeFile(keyFile, kp.KeyPEM, 0o600, force); err != nil {
		return err
	}
	return writeFile(certFile, kp.CertPEM, 0o644, force)
}

// ErrExists is returned (wrapped, naming the file) when a target file exists
// and overwriting was not asked for.
var ErrExists = errors.New("file exists (use force to overwrite)")

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("pki: %s: %w", p, ErrExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pki: %w", err)
		}
	}
	return nil
}

// writeFile writes via a temporary file and a rename, so a reader (a peer
// link reloading its certificates) never sees half a file.
func writeFile(path string, data []byte, perm os.FileMode, force bool) error {
	if !force {
		if err := refuseExisting(path); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

// FarmFiles names the files WriteFarm writes in dir.
func FarmFiles(dir string, members []string) []string {
	files := []string{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")}
	for _, m := range members {
		files = append(files, filepath.Join(dir, m+".pem"), filepath.Join(dir, m+"-key.pem"))
	}
	return files
}

// WriteFarm creates a CA and one certificate per member in dir: ca.pem,
// ca-key.pem, <id>.pem and <id>-key.pem. hosts gives extra SANs per member.
// Without force, it refuses (before writing anything) if any file exists.
func WriteFarm(dir string, members []string, hosts map[string][]string, force bool) error {
	if len(members) == 0 {
		return errors.New("pki: no members")
	}
	seen := map[string]bool{}
	for _, m := range members {
		if m == "" || m == "ca" || m != filepath.Base(m) || m == "." || m == ".." {
			return fmt.Errorf("pki: bad member ID %q", m)
		}
		if seen[m] {
			return fmt.Errorf("pki: member %q listed twice", m)
		}
		seen[m] = true
	}
	for h := range hosts {
		if !seen[h] {
			return fmt.Errorf("pki: hosts given for %q, which is not a member", h)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if !force {
		if err := refuseExisting(FarmFiles(dir, members)...); err != nil {
			return err
		}
	}
	ca, err := NewCA("aspstate farm CA", Options{})
	if err != nil {
		return err
	}
	if err := ca.Write(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"), force); err != nil {
		return err
	}
	for _, m := range members {
		kp, err := ca.Issue(m, Options{Hosts: hosts[m]})
		if err != nil {
			return err
		}
		if err := kp.Write(filepath.Join(dir, m+".pem"), filepath.Join(dir, m+"-key.pem"), force); err != nil {
			return err
		}
	}
	return nil
}
