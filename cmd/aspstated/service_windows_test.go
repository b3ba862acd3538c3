package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
)

// These tests need no service manager (they run under Wine in CI: make
// test-windows): they drive the service handler with their own channels.

// executeService runs h.Execute in a goroutine and returns its channels and
// a channel with its result.
func executeService(h *serviceHandler) (chan svc.ChangeRequest, chan svc.Status, chan [2]any) {
	r := make(chan svc.ChangeRequest, 1)
	s := make(chan svc.Status, 16)
	res := make(chan [2]any, 1)
	go func() {
		ssec, code := h.Execute(nil, r, s)
		res <- [2]any{ssec, code}
	}()
	return r, s, res
}

func nextStatus(t *testing.T, s chan svc.Status) svc.Status {
	t.Helper()
	select {
	case st := <-s:
		return st
	case <-time.After(30 * time.Second):
		t.Fatal("no status from the service handler")
		return svc.Status{}
	}
}

// A service stop runs the SIGTERM path: Running once listening, StopPending,
// then a clean exit (code 0) with the durable store closed.
func TestServiceStopIsACleanShutdown(t *testing.T) {
	dir := t.TempDir()
	var logs lockedLog
	addrc := make(chan net.Addr, 1)
	h := &serviceHandler{run: func(ctx context.Context, ready func(net.Addr)) int {
		return run(ctx, runEnv{
			args:   []string{"--listen", "127.0.0.1:0", "--backend.type", "bbolt", "--backend.bbolt.path", filepath.Join(dir, "s.db")},
			stdout: &logs, stderr: &logs,
			ready: func(a net.Addr) { addrc <- a; ready(a) },
		})
	}}
	r, s, res := executeService(h)
	if st := nextStatus(t, s); st.State != svc.StartPending {
		t.Fatalf("first status %v, want StartPending", st.State)
	}
	st := nextStatus(t, s)
	if st.State != svc.Running || st.Accepts&svc.AcceptStop == 0 || st.Accepts&svc.AcceptShutdown == 0 {
		t.Fatalf("status %+v, want Running accepting stop and shutdown", st)
	}
	c, err := net.Dial("tcp", (<-addrc).String())
	if err != nil {
		t.Fatalf("dial the running service: %v", err)
	}
	c.Close()

	r <- svc.ChangeRequest{Cmd: svc.Interrogate, CurrentStatus: st}
	if got := nextStatus(t, s); got.State != svc.Running {
		t.Fatalf("interrogate answered %v", got.State)
	}
	r <- svc.ChangeRequest{Cmd: svc.Stop}
	if st := nextStatus(t, s); st.State != svc.StopPending {
		t.Fatalf("status after Stop %v, want StopPending", st.State)
	}
	select {
	case got := <-res:
		if got[0] != false || got[1] != uint32(0) {
			t.Fatalf("Execute returned %v, want a clean stop (false, 0); logs:\n%s", got, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Execute did not return after Stop")
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Fatalf("no clean shutdown in the logs:\n%s", logs.String())
	}
	// A clean Close leaves no log segment beside the file.
	if segs, _ := filepath.Glob(filepath.Join(dir, "s.db.wal.*")); len(segs) != 0 {
		t.Fatalf("log segments left after a clean stop: %v", segs)
	}
}

// A run that fails (here: bad configuration, exit 2) ends the service with
// that code as a service-specific error.
func TestServiceFailureIsAServiceSpecificError(t *testing.T) {
	h := &serviceHandler{run: func(ctx context.Context, ready func(net.Addr)) int {
		return run(ctx, runEnv{args: []string{"--backend.type", "nosuch"}, stdout: new(lockedLog), stderr: new(lockedLog), ready: ready})
	}}
	_, s, res := executeService(h)
	nextStatus(t, s)
	got := <-res
	if got[0] != true || got[1] != uint32(2) {
		t.Fatalf("Execute returned %v, want (true, 2)", got)
	}
}

func TestStockRegistrySettings(t *testing.T) {
	path := fmt.Sprintf(`Software\aspstate-test-%d\Parameters`, time.Now().UnixNano())
	k, _, err := registry.CreateKey(registry.CURRENT_USER, path, registry.ALL_ACCESS)
	if err != nil {
		t.Fatalf("creating a test key: %v", err)
	}
	k.Close()
	t.Cleanup(func() {
		registry.DeleteKey(registry.CURRENT_USER, path)
		registry.DeleteKey(registry.CURRENT_USER, strings.TrimSuffix(path, `\Parameters`))
	})
	set := func(vals map[string]uint32) {
		k, err := registry.OpenKey(registry.CURRENT_USER, path, registry.ALL_ACCESS)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		for _, n := range []string{"Port", "AllowRemoteConnection"} {
			k.DeleteValue(n)
		}
		for n, v := range vals {
			if err := k.SetDWordValue(n, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		vals   map[string]uint32
		listen string
		ok     bool
	}{
		{nil, "", false},
		{map[string]uint32{"Port": 42500}, "127.0.0.1:42500", true},
		{map[string]uint32{"Port": 42500, "AllowRemoteConnection": 1}, ":42500", true},
		{map[string]uint32{"Port": 42500, "AllowRemoteConnection": 0}, "127.0.0.1:42500", true},
		{map[string]uint32{"AllowRemoteConnection": 1}, ":42424", true},
		{map[string]uint32{"Port": 0}, "127.0.0.1:42424", true},
	} {
		set(c.vals)
		listen, ok := stockListen(registry.CURRENT_USER, path)
		if listen != c.listen || ok != c.ok {
			t.Errorf("%v: stockListen = %q, %v; want %q, %v", c.vals, listen, ok, c.listen, c.ok)
		}
	}
	if _, ok := stockListen(registry.CURRENT_USER, path+`\missing`); ok {
		t.Error("a missing key gave settings")
	}
}

// The Windows defaults sit below every other layer: the data paths are under
// %ProgramData%\aspstate unless a file, variable or flag says otherwise.
func TestWindowsDefaultsAreOverridable(t *testing.T) {
	pd := t.TempDir()
	t.Setenv("ProgramData", pd)
	cfg, _, _, _, err := loadConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(pd, "aspstate", "aspstate.db"); cfg.Backend.Bbolt.Path != want {
		t.Errorf("bbolt path %q, want %q", cfg.Backend.Bbolt.Path, want)
	}
	if want := filepath.Join(pd, "aspstate", "badger"); cfg.Backend.Badger.Path != want {
		t.Errorf("badger path %q, want %q", cfg.Backend.Badger.Path, want)
	}
	file := writeFile(t, "c.yaml", "backend:\n  bbolt:\n    path: D:\\data\\s.db\n")
	cfg, _, _, _, err = loadConfig([]string{"--config", file}, []string{`ASPSTATE_BACKEND__BADGER__PATH=E:\b`})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backend.Bbolt.Path != `D:\data\s.db` || cfg.Backend.Badger.Path != `E:\b` {
		t.Errorf("file and environment did not override: %q, %q", cfg.Backend.Bbolt.Path, cfg.Backend.Badger.Path)
	}
}

func TestServiceArgs(t *testing.T) {
	cfg := writeFile(t, "aspstated.yaml", "listen: 127.0.0.1:42424\n")
	got, err := serviceArgs([]string{"--config", cfg, "--log-file", "aspstated.log"})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := []string{"service", "run", "--log-file", filepath.Join(wd, "aspstated.log"), "--config", cfg}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("serviceArgs = %q, want %q", got, want)
	}
	var usage usageError
	if _, err := serviceArgs([]string{"--config", cfg + ".missing"}); !errors.As(err, &usage) {
		t.Errorf("a missing config file: %v, want a usage error", err)
	}
	if _, err := serviceArgs([]string{"--port", "1"}); !errors.As(err, &usage) {
		t.Errorf("an unknown flag: %v, want a usage error", err)
	}
}

type recordedEvent struct {
	kind string
	msg  string
}

type eventRecorder []recordedEvent

func (r *eventRecorder) Info(_ uint32, m string) error {
	*r = append(*r, recordedEvent{"info", m})
	return nil
}

func (r *eventRecorder) Warning(_ uint32, m string) error {
	*r = append(*r, recordedEvent{"warning", m})
	return nil
}

func (r *eventRecorder) Error(_ uint32, m string) error {
	*r = append(*r, recordedEvent{"error", m})
	return nil
}

func TestEventLogLevels(t *testing.T) {
	var rec eventRecorder
	w := &eventLogWriter{sink: &rec}
	for _, line := range []string{
		"time=x level=INFO msg=\"aspstated listening\"\n",
		"time=x level=WARN msg=slow\n",
		`{"time":"x","level":"ERROR","msg":"cannot listen"}` + "\n",
		"time=x level=DEBUG msg=request\n",
		"aspstated: backend.type: unknown backend \"x\"\n",
	} {
		if n, err := w.Write([]byte(line)); err != nil || n != len(line) {
			t.Fatalf("Write(%q) = %d, %v", line, n, err)
		}
	}
	want := []string{"info", "warning", "error", "info", "error"}
	if len(rec) != len(want) {
		t.Fatalf("events %v", rec)
	}
	for i, e := range rec {
		if e.kind != want[i] || strings.HasSuffix(e.msg, "\n") {
			t.Errorf("event %d: %+v, want kind %s without the newline", i, e, want[i])
		}
	}
}

// A test binary is not a service: its parent is not services.exe (under
// Wine too, where the session is not checked).
func TestStartedByServiceManagerInATest(t *testing.T) {
	is, err := startedByServiceManager()
	if err != nil || is {
		t.Fatalf("startedByServiceManager() = %v, %v; want false, nil", is, err)
	}
	name, err := parentImageName()
	if err != nil {
		t.Fatal(err)
	}
	if strings.EqualFold(name, "services.exe") {
		t.Fatalf("parent %q", name)
	}
	t.Logf("under Wine: %v; parent image %q", underWine(), name)
}
