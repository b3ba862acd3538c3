package rawconn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

// selfSigned returns a TLS certificate for "peer", valid for an hour.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"peer"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TLS over AsNetConn (how the peer links use it): the handshake, a 4 MiB
// transfer one way while the other side writes too (partial writes, a Read
// and a Write at once), a read deadline, and EOF after the peer closes.
func TestAsNetConnUnderTLS(t *testing.T) {
	a, b := tcpPair(t)
	ca, cb := AsNetConn(a), AsNetConn(b)
	if _, ok := ca.(netConn); ok != wantRaw() {
		t.Fatalf("AsNetConn on TCP took the raw path: %v, want %v", ok, wantRaw())
	}
	cert := selfSigned(t)
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	client := tls.Client(ca, &tls.Config{RootCAs: pool, ServerName: "peer", MinVersion: tls.VersionTLS13})
	server := tls.Server(cb, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})

	payload := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	sent := make(chan error, 1)
	go func() {
		_, err := client.Write(payload)
		sent <- err
	}()
	back := make(chan error, 1)
	go func() { // the server talks back while it is being written to
		_, err := server.Write([]byte("hello"))
		back <- err
	}()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the payload arrived changed")
	}
	if err := <-back; err != nil {
		t.Fatal(err)
	}
	hello := make([]byte, 5)
	if _, err := io.ReadFull(client, hello); err != nil || string(hello) != "hello" {
		t.Fatalf("read %q, %v", hello, err)
	}

	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := server.Read(got[:1]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	// A tls.Conn is unusable after a timeout; the raw socket is not: close
	// the client and see the EOF on the TCP side underneath.
	client.Close()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := cb.Read(buf); err != nil {
			if err != io.EOF {
				t.Fatalf("after the peer closed: %v, want io.EOF", err)
			}
			break
		}
	}
}

func TestAsNetConnWithoutRawPath(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if AsNetConn(p1) != p1 {
		t.Fatal("a net.Pipe must be returned as it is")
	}
}
