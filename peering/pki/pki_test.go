package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestIssueAndVerify(t *testing.T) {
	ca, err := NewCA("farm", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Cert.NotAfter.Before(time.Now().Add(9*365*24*time.Hour)) {
		t.Errorf("CA: IsCA %v, NotAfter %v", ca.Cert.IsCA, ca.Cert.NotAfter)
	}
	kp, err := ca.Issue("gw1", Options{Hosts: []string{"10.0.0.1", "gw1.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		for _, name := range []string{"gw1", "gw1.example.com", "10.0.0.1"} {
			if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s usage %v: %v", name, usage, err)
			}
		}
	}
	if d := time.Until(kp.Cert.NotAfter); d < 700*24*time.Hour || d > 740*24*time.Hour {
		t.Errorf("member validity %v", d)
	}
	self, err := SelfSigned("gw1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := self.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "gw1"}); err == nil {
		t.Error("a self-signed certificate verified against the farm CA")
	}
}

func TestWriteLoadAndRefuse(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("farm", Options{})
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := ca.Write(cert, key, false); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode())
	}
	if err := ca.Write(cert, key, false); !errors.Is(err, ErrExists) {
		t.Errorf("second write: %v", err)
	}
	got, err := LoadCA(cert, key)
	if err != nil || !got.Cert.Equal(ca.Cert) {
		t.Fatalf("LoadCA: %v", err)
	}
	other, _ := NewCA("other", Options{})
	if err := os.WriteFile(key, other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(cert, key); err == nil {
		t.Error("a key that does not match its certificate loaded")
	}
}
