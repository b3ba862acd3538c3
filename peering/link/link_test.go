package link

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/peering/link/linktest"
	"github.com/aspstate/aspstate/peering/pki"
)

func TestCallAndConcurrentCalls(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2", "gw3")
	var hellos sync.Map
	mod := func(c *Config) {
		self := c.Self
		c.Hello = func() []byte { return []byte("view of " + self) }
		c.OnHello = func(peer string, p []byte) { hellos.Store(self+"<"+peer, string(p)) }
	}
	a := f.start(t, lns["gw1"], members, "gw1", nil, mod)
	b := f.start(t, lns["gw2"], members, "gw2", nil, mod)
	c := f.start(t, lns["gw3"], members, "gw3", nil, mod)
	callOK(t, a, "gw2", "hello")
	callOK(t, b, "gw1", "")
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := []*node{a, b, c}[i%3], []string{"gw2", "gw3", "gw1"}[i%3]
			callOK(t, from, to, fmt.Sprint("payload ", i))
		}()
	}
	wg.Wait()
	if v, _ := hellos.Load("gw1<gw2"); v != "view of gw2" {
		t.Errorf("gw1's OnHello from gw2 = %v", v)
	}
	if v, _ := hellos.Load("gw2<gw1"); v != "view of gw1" {
		t.Errorf("gw2's OnHello from gw1 = %v", v)
	}
	ls := a.Links()
	if len(ls) != 2 || ls[0].Peer != "gw2" || !ls[0].Up || ls[0].Calls != 68 || ls[0].Failures != 0 || ls[0].Addr != members["gw2"] {
		t.Errorf("gw1 links = %+v", ls)
	}
	_, _, err := a.Call(context.Background(), time.Time{}, "nobody", 1, nil)
	mustFail(t, err, ErrNotSent)
	_, _, err = a.Call(context.Background(), time.Time{}, "gw1", 1, nil)
	mustFail(t, err, ErrNotSent)
}

func TestRepliesOutOfOrder(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	release := make(chan struct{})
	h := func(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
		if kind == 1 {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return kind + 1, p
	}
	a := f.start(t, lns["gw1"], members, "gw1", nil, nil)
	f.start(t, lns["gw2"], members, "gw2", h, nil)
	callOK(t, a, "gw2", "warm up")
	slow := make(chan error, 1)
	go func() {
		_, r, err := a.Call(context.Background(), time.Time{}, "gw2", 1, []byte("slow"))
		if err == nil && string(r) != "slow" {
			err = fmt.Errorf("reply %q", r)
		}
		slow <- err
	}()
	for i := range 20 { // each answered while the slow one waits
		k, r, err := a.Call(context.Background(), time.Time{}, "gw2", 2, []byte{byte(i)})
		if err != nil || k != 3 || !bytes.Equal(r, []byte{byte(i)}) {
			t.Fatalf("fast call %d: %v %d %v", i, err, k, r)
		}
	}
	select {
	case err := <-slow:
		t.Fatalf("slow call returned before release: %v", err)
	default:
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

func TestContextEndsCall(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	h := func(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
		<-ctx.Done()
		return 0, nil
	}
	a := f.start(t, lns["gw1"], members, "gw1", nil, nil)
	f.start(t, lns["gw2"], members, "gw2", h, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := a.Call(ctx, time.Time{}, "gw2", 1, nil)
	mustFail(t, err, ErrNotSent)
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err = a.Call(ctx, time.Time{}, "gw2", 1, nil) // the handler never answers
	mustFail(t, err, ErrLost)
	if !strings.Contains(err.Error(), "gw2") || !errorsIsDeadline(err) {
		t.Errorf("err = %v, want the peer and the deadline", err)
	}
}

// A deadline ends a call without a context timer (deadline.go): within
// sweepEvery before it and never after, as ErrLost once the request left;
// a later call on the same link is not held up by the sweep; and once no
// call with a deadline is pending, the sweep stops.
func TestDeadlineEndsCall(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	h := func(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
		if kind == 1 {
			<-ctx.Done() // never answers
		}
		return kind + 1, p
	}
	a := f.start(t, lns["gw1"], members, "gw1", nil, nil)
	f.start(t, lns["gw2"], members, "gw2", h, nil)
	callOK(t, a, "gw2", "up")
	for _, wait := range []time.Duration{3 * time.Millisecond, 150 * time.Millisecond} {
		// The context is only a backstop, should the deadline not work.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		deadline := start.Add(wait)
		_, _, err := a.Call(ctx, deadline, "gw2", 1, nil)
		ended := time.Now()
		cancel()
		mustFail(t, err, ErrLost)
		if !errorsIsDeadline(err) {
			t.Errorf("err = %v, want the deadline", err)
		}
		// Never before deadline - sweepEvery; after it only by a late
		// timer, which a loaded machine (the race detector) may make.
		if ended.After(deadline.Add(100*time.Millisecond)) || ended.Before(deadline.Add(-sweepEvery)) {
			t.Errorf("a call with a deadline %v away ended after %v", wait, ended.Sub(start))
		}
		// The link is fine: a call with a far deadline is answered.
		if k, r, err := a.Call(context.Background(), time.Now().Add(5*time.Second), "gw2", 2, []byte("x")); err != nil || k != 3 || string(r) != "x" {
			t.Fatalf("after a deadline: %d %q %v", k, r, err)
		}
	}
	c := a.peers["gw2"].c
	deadline := time.Now().Add(time.Second)
	for {
		c.pmu.Lock()
		sweeping := c.sweeping
		c.pmu.Unlock()
		if !sweeping {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep still runs with no call pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func errorsIsDeadline(err error) bool {
	return err != nil && strings.Contains(err.Error(), context.DeadlineExceeded.Error())
}

func TestBadCertificatesRefused(t *testing.T) {
	f := newFarm(t)
	other, err := pki.NewCA("another farm", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := f.ca.Issue("gw2", pki.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	selfSigned, err := pki.SelfSigned("gw2", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := other.Issue("gw2", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		kp   *pki.KeyPair
	}{
		{"another member's name", f.issue("gw3")},
		{"a name not in the list", f.issue("intruder")},
		{"the acceptor's own name", f.issue("gw1")},
		{"another CA", otherCA},
		{"expired", expired},
		{"self-signed", selfSigned},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lns, members := listeners(t, "gw1", "gw2", "gw3")
			good := f.start(t, lns["gw1"], members, "gw1", nil, nil)
			cert, key := f.write("bad-"+strings.ReplaceAll(tc.name, " ", "-"), tc.kp)
			bad := f.start(t, lns["gw2"], members, "gw2", nil, func(c *Config) { c.CertFile, c.KeyFile = cert, key })
			// The dialer refuses the bad server...
			_, _, err := good.Call(context.Background(), time.Time{}, "gw2", 1, nil)
			mustFail(t, err, ErrNotSent)
			waitLog(t, good, "cannot link to peer")
			// ...and the acceptor refuses the bad client.
			_, _, err = bad.Call(context.Background(), time.Time{}, "gw1", 1, nil)
			mustFail(t, err, ErrNotSent)
			line := waitLog(t, good, "refused peer")
			if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "addr=127.0.0.1:") || strings.Contains(line, "PRIVATE") {
				t.Errorf("refusal log line: %s", line)
			}
			t.Log(line)
		})
	}
	t.Run("no certificate", func(t *testing.T) {
		lns, members := listeners(t, "gw1", "gw2")
		good := f.start(t, lns["gw1"], members, "gw1", nil, nil)
		conn, err := tls.Dial("tcp", members["gw1"], &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		if err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Fatal("a client without a certificate got a byte")
		}
		t.Log(waitLog(t, good, "refused peer"))
	})
}

func TestMemberListsDiffer(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	a := f.start(t, lns["gw1"], members, "gw1", nil, nil)
	theirs := map[string]string{"gw1": members["gw1"], "gw2": members["gw2"], "gw9": "10.9.9.9:42425"}
	f.start(t, lns["gw2"], theirs, "gw2", nil, nil)
	_, _, err := a.Call(context.Background(), time.Time{}, "gw2", 1, nil)
	mustFail(t, err, ErrNotSent)
	line := waitLog(t, a, "member lists differ")
	if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "gw9=10.9.9.9:42425") {
		t.Errorf("log line: %s", line)
	}
}

func TestCertificateRotation(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	faults := linktest.New()
	// Each member has its own copy of the CA file, so one can move first.
	caFile := func(id string) string { return f.dir + "/ca-" + id + ".pem" }
	for _, id := range []string{"gw1", "gw2"} {
		if err := f.ca.Write(caFile(id), f.dir+"/ca-key-"+id+".pem", true); err != nil {
			t.Fatal(err)
		}
	}
	a := f.start(t, lns["gw1"], members, "gw1", nil, func(c *Config) { c.CAFile = caFile("gw1"); c.Dial = faults.Dial(nil) })
	b := f.start(t, lns["gw2"], members, "gw2", nil, func(c *Config) { c.CAFile = caFile("gw2") })
	callOK(t, a, "gw2", "before")

	newCA, err := pki.NewCA("rotated CA", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rotate := func(id string) {
		kp, err := newCA.Issue(id, pki.Options{})
		if err != nil {
			t.Fatal(err)
		}
		f.write(id, kp)
		if err := newCA.Write(caFile(id), f.dir+"/ca-key-"+id+".pem", true); err != nil {
			t.Fatal(err)
		}
	}
	// gw2 moves to the new CA first: gw1 must now refuse it (proof that
	// gw2 presents the new certificate without a restart).
	rotate("gw2")
	faults.Drop()
	_, _, err = a.Call(context.Background(), time.Time{}, "gw2", 1, nil)
	for err == nil { // a call may still find the old link before the drop is noticed
		time.Sleep(20 * time.Millisecond)
		_, _, err = a.Call(context.Background(), time.Time{}, "gw2", 1, nil)
	}
	mustFail(t, err, ErrNotSent)
	rotate("gw1")
	eventually(t, a, "gw2")
	eventually(t, b, "gw1")
	waitLog(t, a, "certificate files reloaded")
	waitLog(t, b, "certificate files reloaded")
}

func TestPeerKilledFailsPendingCalls(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	// Heartbeats far apart: only the reset can explain a prompt failure.
	a := f.start(t, lns["gw1"], members, "gw1", nil, func(c *Config) {
		c.HeartbeatInterval, c.DeadAfter = 20*time.Second, time.Minute
	})
	started := make(chan struct{}, 1)
	h := func(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
		if kind == 1 {
			started <- struct{}{}
			<-ctx.Done()
		}
		return kind + 1, p
	}
	faults := linktest.New()
	b := f.start(t, faults.Listen(lns["gw2"]), members, "gw2", h, nil)
	callOK(t, a, "gw2", "up")
	errc := make(chan error, 1)
	go func() {
		_, _, err := a.Call(context.Background(), time.Time{}, "gw2", 1, nil)
		errc <- err
	}()
	<-started
	begin := time.Now()
	lns["gw2"].Close()
	faults.Drop()
	select {
	case err := <-errc:
		mustFail(t, err, ErrLost)
		t.Logf("failed after %v: %v", time.Since(begin), err)
	case <-time.After(10 * time.Second):
		t.Fatal("pending call still waiting 10 s after the peer died")
	}
	_, _, err := a.Call(context.Background(), time.Time{}, "gw2", 7, nil)
	mustFail(t, err, ErrNotSent)
	b.Close()
	<-b.done // Serve reports the listener closed under it; expected here
	b.done <- nil

	// The peer comes back on the same address: the link is redialled.
	ln, err := net.Listen("tcp", members["gw2"])
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", members["gw2"], err)
	}
	f.start(t, ln, members, "gw2", nil, nil)
	eventually(t, a, "gw2")
}

func TestSilentPeer(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	faults := linktest.New()
	var ups []bool
	var mu sync.Mutex
	a := f.start(t, lns["gw1"], members, "gw1", nil, func(c *Config) {
		c.Dial = faults.Dial(nil)
		c.OnLink = func(peer string, up bool) { mu.Lock(); ups = append(ups, up); mu.Unlock() }
	})
	started := make(chan struct{}, 1)
	h := func(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
		if kind == 1 {
			started <- struct{}{}
			<-ctx.Done()
		}
		return kind + 1, p
	}
	// gw2 waits longer than gw1 before giving up, so gw1 notices the silence
	// itself rather than gw2 closing first.
	f.start(t, lns["gw2"], members, "gw2", h, func(c *Config) { c.DeadAfter = 5 * time.Second })
	callOK(t, a, "gw2", "up")
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a web client's deadline
		defer cancel()
		_, _, err := a.Call(ctx, time.Time{}, "gw2", 1, nil)
		errc <- err
	}()
	<-started
	faults.Pause(true)
	err := <-errc
	mustFail(t, err, ErrLost)
	if !strings.Contains(err.Error(), "nothing received") {
		t.Errorf("err = %v, want the silence as cause", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err = a.Call(ctx, time.Time{}, "gw2", 7, nil)
	mustFail(t, err, ErrNotSent)
	if ctx.Err() != nil {
		t.Fatal("a call on a dead link waited for its whole deadline")
	}
	if ls := a.Links(); ls[0].Up || ls[0].LastError == "" {
		t.Errorf("links = %+v", ls)
	}
	faults.Pause(false)
	eventually(t, a, "gw2")
	// OnLink runs just after the link is usable: give it a moment.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(ups)
		mu.Unlock()
		if n >= 3 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ups) < 3 || !ups[0] || ups[1] || !ups[len(ups)-1] {
		t.Errorf("OnLink saw %v, want up, down, ..., up", ups)
	}
}

func TestLargePayloadDoesNotBlockSmallCalls(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	// Slow every write a little so the 20 MiB transfers last long enough to
	// overtake on any machine.
	// Under the race detector on a loaded machine a ping can sit behind
	// megabytes of chunks in the socket buffers for longer than the default
	// silence limit; this test is about fairness, so that limit is raised.
	fa, fb := linktest.New(), linktest.New()
	slow := func(c *Config) { c.HeartbeatInterval, c.DeadAfter = time.Second, 30*time.Second }
	a := f.start(t, lns["gw1"], members, "gw1", nil, func(c *Config) { c.Dial = fa.Dial(nil); slow(c) })
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
	h := func(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
		switch kind {
		case 1: // a big request, a small reply
			if !bytes.Equal(p, big) {
				return 0, []byte("corrupt")
			}
			return 1, []byte("ok")
		case 3: // a small request, a big reply
			return 3, big
		}
		return kind + 1, p
	}
	f.start(t, fb.Listen(lns["gw2"]), members, "gw2", h, slow)
	callOK(t, a, "gw2", "up")
	fa.Delay(time.Millisecond)
	fb.Delay(time.Millisecond)
	for _, kind := range []byte{1, 3} {
		bigDone := make(chan error, 1)
		go func() {
			var payload []byte
			if kind == 1 {
				payload = big
			}
			k, r, err := a.Call(context.Background(), time.Time{}, "gw2", kind, payload)
			if err == nil && (k != kind || kind == 1 && string(r) != "ok" || kind == 3 && !bytes.Equal(r, big)) {
				err = fmt.Errorf("big call %d: bad reply kind %d, %d bytes", kind, k, len(r))
			}
			bigDone <- err
		}()
		time.Sleep(100 * time.Millisecond) // let the big transfer begin
		callOK(t, a, "gw2", "small")
		select {
		case err := <-bigDone:
			t.Fatalf("kind %d: the big call finished before the small one (%v)", kind, err)
		default:
		}
		if err := <-bigDone; err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2", "gw3")
	var nodes []*node
	for _, id := range []string{"gw1", "gw2", "gw3"} {
		nodes = append(nodes, f.start(t, lns[id], members, id, func(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
			if kind == 1 {
				<-ctx.Done()
			}
			return kind + 1, p
		}, nil))
	}
	callOK(t, nodes[0], "gw2", "x")
	callOK(t, nodes[1], "gw3", "x")
	callOK(t, nodes[2], "gw1", "x")
	errc := make(chan error, 1)
	go func() {
		_, _, err := nodes[0].Call(context.Background(), time.Time{}, "gw3", 1, nil)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	for _, n := range nodes {
		n.Close()
		if err := <-n.done; err != nil {
			t.Fatal(err)
		}
		n.done <- nil // for the cleanup
	}
	if err := <-errc; err == nil {
		t.Fatal("pending call succeeded across Close")
	}
	_, _, err := nodes[0].Call(context.Background(), time.Time{}, "gw2", 1, nil)
	mustFail(t, err, ErrNotSent)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewValidates(t *testing.T) {
	f := newFarm(t)
	base := func() Config {
		return Config{Self: "gw1", Members: map[string]string{"gw1": "127.0.0.1:1"}, CAFile: f.caFile(),
			CertFile: f.dir + "/gw1.pem", KeyFile: f.dir + "/gw1-key.pem", Handler: echo}
	}
	f.write("gw1", f.issue("gw1"))
	if _, err := New(base()); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"self not a member": func(c *Config) { c.Self = "gw2" },
		"no handler":        func(c *Config) { c.Handler = nil },
		"bad address":       func(c *Config) { c.Members["gw1"] = "nowhere" },
		"missing file":      func(c *Config) { c.KeyFile = f.dir + "/missing-key.pem" },
	} {
		cfg := base()
		mod(&cfg)
		m, err := New(cfg)
		if err == nil {
			m.Close()
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if name == "missing file" && !strings.Contains(err.Error(), "missing-key.pem") {
			t.Errorf("error does not name the file: %v", err)
		}
	}
}

// BenchmarkCall measures a 1 KiB round trip over loopback TLS.
func BenchmarkCall(b *testing.B) {
	f := newFarm(b)
	lns, members := listeners(b, "gw1", "gw2")
	a := f.start(b, lns["gw1"], members, "gw1", nil, nil)
	f.start(b, lns["gw2"], members, "gw2", nil, nil)
	payload := bytes.Repeat([]byte("x"), 1024)
	ctx := context.Background()
	if _, _, err := a.Call(ctx, time.Time{}, "gw2", 1, payload); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.SetBytes(1024)
		for b.Loop() {
			if _, _, err := a.Call(ctx, time.Time{}, "gw2", 1, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(1024)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := a.Call(ctx, time.Time{}, "gw2", 1, payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestIdleHandlersBounded: handler goroutines wait to be reused after a
// burst, but no more than maxIdleReaders of them per link.
func TestIdleHandlersBounded(t *testing.T) {
	f := newFarm(t)
	lns, members := listeners(t, "gw1", "gw2")
	release := make(chan struct{})
	hold := func(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
		if kind == 1 {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return kind + 1, p
	}
	a := f.start(t, lns["gw1"], members, "gw1", hold, nil)
	f.start(t, lns["gw2"], members, "gw2", hold, nil)
	callOK(t, a, "gw2", "up")
	before := runtime.NumGoroutine()
	const burst = 100
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := a.Call(context.Background(), time.Time{}, "gw2", 1, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	// All handlers running at once: one goroutine each on gw2's side
	// (one of them the goroutine left idle by the first call).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() < before+2*burst-1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want at least %d", runtime.NumGoroutine(), before+2*burst-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for range 50 {
		callOK(t, a, "gw2", "after")
	}
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+maxIdleReaders {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before the burst, %d after: more than %d kept idle", before, runtime.NumGoroutine(), maxIdleReaders)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
