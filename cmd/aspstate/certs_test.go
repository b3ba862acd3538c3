package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/peering/pki"
)

func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "farm")
	var out, errb bytes.Buffer
	args := []string{"certs", "--dir", dir, "--members", "gw1,gw2,gw3", "--hosts", "gw1=10.0.0.1,gw1=gw1.example.com"}
	if code := run(context.Background(), args, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, id := range []string{"gw1", "gw2", "gw3"} {
		kp, err := pki.Load(filepath.Join(dir, id+".pem"), filepath.Join(dir, id+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kp.Cert.Verify(x509.VerifyOptions{DNSName: id, Roots: roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		st, err := os.Stat(filepath.Join(dir, id+"-key.pem"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s key mode: %v %v", id, st.Mode(), err)
		}
		if id == "gw1" && (!slices.Contains(kp.Cert.DNSNames, "gw1.example.com") || len(kp.Cert.IPAddresses) != 1 || kp.Cert.IPAddresses[0].String() != "10.0.0.1") {
			t.Errorf("gw1 SANs: %v %v", kp.Cert.DNSNames, kp.Cert.IPAddresses)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "ca-key.pem")); st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v", st.Mode())
	}
	before, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))

	// A second run refuses and changes nothing; --force overwrites.
	errb.Reset()
	if code := run(context.Background(), args, nil, &out, &errb); code != exitFail || !strings.Contains(errb.String(), "exists") {
		t.Fatalf("second run: exit %d: %s", code, errb.String())
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(before, after) {
		t.Fatal("a refused run changed ca.pem")
	}
	if code := run(context.Background(), append(args, "--force"), nil, &out, &errb); code != exitOK {
		t.Fatalf("--force: exit %d: %s", code, errb.String())
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); bytes.Equal(before, after) {
		t.Fatal("--force did not replace ca.pem")
	}
}

func TestCertsCommandUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"certs", "--members", "gw1"},
		{"certs", "--dir", dir},
		{"certs", "--dir", dir, "--members", "gw1", "--hosts", "nohost"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &errb); code != exitUsage {
			t.Errorf("%q: exit %d, want usage", args, code)
		}
	}
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"certs", "--dir", dir, "--members", "gw1,gw1"},
		{"certs", "--dir", dir, "--members", "gw1", "--hosts", "gw9=h"},
		{"certs", "--dir", dir, "--members", "../x"},
	} {
		if code := run(context.Background(), args, nil, &out, &errb); code != exitFail {
			t.Errorf("%q: exit %d, want failure", args, code)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused runs wrote %d files", len(entries))
	}
}
