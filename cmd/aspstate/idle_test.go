package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/recordcodec"
)

// stallingServer answers as handler says, then stalls until the test ends
// (handler may stall itself on release).
func stallingServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, release <-chan struct{})) string {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler(w, r, release)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the handlers end
	return strings.TrimPrefix(srv.URL, "http://")
}

func oneRecordStream(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := recordcodec.NewWriter(&b)
	if err := w.Write("/app/k", &backends.Record{Data: []byte("x"), Timeout: 20}, time.Hour); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.Bytes()
}

// runWithin runs the tool and fails the test if it takes longer than d.
func runWithin(t *testing.T, d time.Duration, stdin string, args ...string) runResult {
	t.Helper()
	done := make(chan runResult, 1)
	go func() { done <- runTool(t, stdin, args...) }()
	select {
	case r := <-done:
		return r
	case <-time.After(d):
		t.Fatalf("aspstate %s still running after %v", strings.Join(args, " "), d)
		return runResult{}
	}
}

// A gateway that stops sending midway through an export, or never answers
// at all, fails the export after --idle-timeout with exit 2 and nothing
// that looks like a whole export; a slow but moving one is not cut off.
func TestExportIdleTimeout(t *testing.T) {
	stream := oneRecordStream(t)
	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)

	midway := stallingServer(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		w.Write(stream) // a whole record, then silence: no end of stream
	})
	r := runWithin(t, 10*time.Second, "", "export", "--admin", midway, "--idle-timeout", "300ms")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "no data from the gateway for 300ms (--idle-timeout)") {
		t.Fatalf("export from a gateway stalled midway: exit %d %q", r.code, r.stderr)
	}

	silent := stallingServer(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {})
	r = runWithin(t, 10*time.Second, "", "export", "--admin", silent, "--idle-timeout", "300ms")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "--idle-timeout") {
		t.Fatalf("export from a gateway that never answers: exit %d %q", r.code, r.stderr)
	}

	// Bytes trickling in (every 100 ms, over 600 ms) keep it alive.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range stream {
			w.Write(stream[i : i+1])
			w.(http.Flusher).Flush()
			if i%(len(stream)/6+1) == 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}))
	defer slow.Close()
	r = runWithin(t, 10*time.Second, "", "export", "--admin", strings.TrimPrefix(slow.URL, "http://"), "--idle-timeout", "300ms")
	if r.code != exitOK || r.stdout != string(stream) {
		t.Fatalf("a slow export: exit %d %q", r.code, r.stderr)
	}
}

// A gateway that stops reading an import, or reads it all and never
// answers, fails the import after --idle-timeout with exit 2.
func TestImportIdleTimeout(t *testing.T) {
	stream := oneRecordStream(t)
	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)

	noAnswer := stallingServer(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		io.Copy(io.Discard, r.Body)
	})
	r := runWithin(t, 10*time.Second, string(stream), "import", "--admin", noAnswer, "--idle-timeout", "300ms")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "no data from the gateway for 300ms (--idle-timeout)") {
		t.Fatalf("import into a gateway that never answers: exit %d %q", r.code, r.stderr)
	}

	// 16 MiB of stream that the gateway never reads: the client's writes
	// block once the socket buffers are full.
	big := bytes.Repeat(stream[len(stream)-20:], 16<<20/20)
	notReading := stallingServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r = runWithin(t, 20*time.Second, string(big), "import", "--admin", notReading, "--idle-timeout", "300ms")
	if r.code != exitUnreachable {
		t.Fatalf("import into a gateway that does not read: exit %d %q", r.code, r.stderr)
	}
}
