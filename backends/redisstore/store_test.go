package redisstore

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

func TestValidate(t *testing.T) {
	ok := Config{Addrs: []string{"127.0.0.1:6379"}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"standalone", func(*Config) {}, ""},
		{"no addrs", func(c *Config) { c.Addrs = nil }, "redisstore: addrs: at least one address is required"},
		{"addr without port", func(c *Config) { c.Addrs = []string{"localhost"} }, "addrs:"},
		{"sentinel", func(c *Config) { c.MasterName = "mymaster"; c.Addrs = []string{"a:26379", "b:26379"}; c.DB = 3 }, ""},
		{"cluster", func(c *Config) { c.Addrs = []string{"a:7000", "b:7001"} }, ""},
		{"cluster with db", func(c *Config) { c.Addrs = []string{"a:7000", "b:7001"}; c.DB = 1 }, "db:"},
		{"negative db", func(c *Config) { c.DB = -1 }, "db:"},
		{"negative pool", func(c *Config) { c.PoolSize = -1 }, "pool_size:"},
		{"negative pipelines", func(c *Config) { c.Pipelines = -1 }, "pipelines:"},
		{"too many pipelines", func(c *Config) { c.Pipelines = MaxPipelines + 1 }, "pipelines:"},
		{"pipelines", func(c *Config) { c.Pipelines = MaxPipelines }, ""},
		{"negative timeout", func(c *Config) { c.ReadTimeout = -time.Second }, "read_timeout:"},
		{"max retries", func(c *Config) { c.MaxRetries = -2 }, "max_retries:"},
		{"negative max value", func(c *Config) { c.MaxValueSize = -1 }, "max_value_size:"},
		{"tls options without tls", func(c *Config) { c.TLS.CAFile = "ca.pem" }, "tls.enabled:"},
		{"cert without key", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CertFile: "c.pem"} }, "tls.cert_file:"},
		{"tls", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CertFile: "c.pem", KeyFile: "k.pem"} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Addrs = append([]string(nil), ok.Addrs...)
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenReportsMissingTLSFile(t *testing.T) {
	_, err := Open(Config{Addrs: []string{"127.0.0.1:1"}, TLS: TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}})
	if err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Fatalf("Open = %v, want a tls.ca_file error", err)
	}
}

// TestRoundTrip: every field, binary data and binary keys survive a round trip.
func TestRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	ld := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC)
	keys := []string{
		"/LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/kf51kjsndazux1l0vjlec5jw",
		"with space and {hash} tag",
		"\x00\xff\r\n binary \x00",
		"",
	}
	data := []byte{0, 1, 2, 0xff, '\r', '\n', 0, 'x'}
	for _, k := range keys {
		put(t, s, k, backends.Record{Data: data, Timeout: 20, Uninitialized: true, Locked: true, LockCookie: 7, LockDate: ld})
	}
	for _, k := range keys {
		got, ok := get(t, s, k)
		if !ok {
			t.Fatalf("Get(%q): not found", k)
		}
		want := backends.Record{Data: data, Timeout: 20, Uninitialized: true, Locked: true, LockCookie: 7, LockDate: ld}
		if !bytes.Equal(got.Data, want.Data) || got.Timeout != want.Timeout || got.Uninitialized != want.Uninitialized ||
			got.Locked != want.Locked || got.LockCookie != want.LockCookie || !got.LockDate.Equal(want.LockDate) {
			t.Fatalf("Get(%q) = %+v, want %+v", k, got, want)
		}
	}
	// Binary keys stay distinct: a key is never split or normalised.
	if _, ok := get(t, s, "\x00\xff\r\n binary "); ok {
		t.Fatal("prefix of a binary key found")
	}
	// Empty data and a zero lock date round-trip as such.
	put(t, s, keys[0], backends.Record{Timeout: 1})
	got, _ := get(t, s, keys[0])
	if len(got.Data) != 0 || !got.LockDate.IsZero() || got.Locked || got.LockCookie != 0 {
		t.Fatalf("Get after reset = %+v", got)
	}
	if err := backends.Remove(bg(t), s, keys[1]); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := backends.Remove(bg(t), s, keys[1]); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("second Remove = %v, want ErrNotFound", err)
	}
	if _, ok := get(t, s, keys[1]); ok {
		t.Fatal("removed key still found")
	}
}

// TestKeyLayout pins the layout doc.go promises to operators.
func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	const start = 1_900_000_000_000 // 2030, ahead of Redis's own clock
	clock := backendtest.NewClock(time.UnixMilli(start).UTC())
	s := open(t, srv, func(c *Config) { c.KeyPrefix = "app1:"; c.Now = clock.Now })
	ld := time.Unix(0, 1_700_000_000_123_456_789).UTC()
	put(t, s, "k/1", backends.Record{Data: []byte("blob\x00\n"), Timeout: 2, Locked: true, LockCookie: 5, LockDate: ld})
	rc := srv.Client()
	ctx := bg(t)
	val, err := rc.Get(ctx, "app1:s:k/1").Result()
	if err != nil {
		t.Fatal(err)
	}
	wid, rest, _ := strings.Cut(val, " ")
	if len(wid) != 16 || strings.Trim(wid, "0123456789abcdef") != "" {
		t.Errorf("value %q does not start with a 16-digit write id", val)
	}
	if want := "1 2 0 5 1 1700000000123456789\nblob\x00\n"; rest != want {
		t.Errorf("value after the write id = %q, want %q", rest, want)
	}
	if x := rc.PExpireTime(ctx, "app1:s:k/1").Val(); x != start*time.Millisecond+2*time.Minute {
		t.Errorf("PEXPIRETIME = %d ms, want %d (the gateway's time + 2 min)", x.Milliseconds(), start+120000)
	}
	// A read one minute later slides the deadline, in one round trip.
	clock.Advance(time.Minute)
	get(t, s, "k/1")
	if x := rc.PExpireTime(ctx, "app1:s:k/1").Val(); x != start*time.Millisecond+3*time.Minute {
		t.Errorf("after a read PEXPIRETIME = %d ms, want %d", x.Milliseconds(), start+180000)
	}
	// A second write counts, and a record without lock date says "-".
	put(t, s, "k/1", backends.Record{Data: []byte("b"), Timeout: 2})
	if val := rc.Get(ctx, "app1:s:k/1").Val(); !strings.HasSuffix(val, " 2 2 0 0 0 -\nb") {
		t.Errorf("after a second write the value is %q, want write count 2 and no lock date", val)
	}
}

func TestExpiryFollowsGatewayClock(t *testing.T) {
	srv := redistest.Start(t)
	clock := backendtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, srv, func(c *Config) { c.Now = clock.Now })
	put(t, s, "k", backends.Record{Data: []byte("x"), Timeout: 1})
	clock.Advance(59 * time.Second)
	if _, ok := get(t, s, "k"); !ok { // slides to +1 min from here
		t.Fatal("live record not found")
	}
	clock.Advance(59 * time.Second)
	if _, ok := get(t, s, "k"); !ok {
		t.Fatal("record not found after its deadline was slid")
	}
	clock.Advance(61 * time.Second)
	if _, ok := get(t, s, "k"); ok {
		t.Fatal("expired record visible")
	}
	// An expired record is replaced by a store and is not resurrected.
	calls := 0
	err := s.Apply(bg(t), "k", func(cur *backends.Record) backends.Change {
		calls++
		if cur != nil {
			t.Errorf("transition saw an expired record %+v", cur)
		}
		return backends.Change{Action: backends.Store, Record: backends.Record{Data: []byte("new"), Timeout: 5}}
	})
	if err != nil || calls != 1 {
		t.Fatalf("Apply = %v after %d calls", err, calls)
	}
	if got, ok := get(t, s, "k"); !ok || string(got.Data) != "new" {
		t.Fatalf("Get = %q, %v", got.Data, ok)
	}
}

// TestReadSlidesByTheRecordsTimeout: a read slides the deadline by the
// timeout this gateway saw last before it sees the record; a record with
// another timeout (or none) must end up with its own deadline.
func TestReadSlidesByTheRecordsTimeout(t *testing.T) {
	srv := redistest.Start(t)
	const start = 1_900_000_000_000 // 2030, ahead of Redis's own clock
	clock := backendtest.NewClock(time.UnixMilli(start).UTC())
	shared := func(c *Config) { c.KeyPrefix = "shared:"; c.Now = clock.Now }
	writer, reader := open(t, srv, shared), open(t, srv, shared)
	rc := srv.Client()
	put(t, reader, "k20", backends.Record{Data: []byte("x"), Timeout: 20})
	put(t, writer, "k5", backends.Record{Data: []byte("x"), Timeout: 5})
	put(t, writer, "forever", backends.Record{Data: []byte("x")})
	for _, tc := range []struct {
		key  string
		want time.Duration // deadline after a read one minute on; -1 for none
	}{
		{"k5", start*time.Millisecond + 6*time.Minute},
		{"k20", start*time.Millisecond + 21*time.Minute},
		{"forever", -1},
		{"k20", start*time.Millisecond + 21*time.Minute},
		{"k5", start*time.Millisecond + 6*time.Minute},
	} {
		clock := backendtest.NewClock(time.UnixMilli(start + 60000).UTC())
		reader.cfg.Now = clock.Now
		if _, ok := get(t, reader, tc.key); !ok {
			t.Fatalf("%s not found", tc.key)
		}
		if got := rc.PExpireTime(bg(t), "shared:s:"+tc.key).Val(); got != tc.want {
			t.Errorf("after a read of %s the deadline is %v, want %v", tc.key, got, tc.want)
		}
	}
}

// roundTrips counts the reads Redis made from its clients' sockets: one
// per round trip of a small request or pipeline. The count includes the
// INFO that asks for it.
func roundTrips(t *testing.T, rc *redis.Client) int64 {
	t.Helper()
	return infoStat(t, rc, "total_reads_processed")
}

// infoStat reads one counter of Redis's INFO stats.
func infoStat(t *testing.T, rc *redis.Client, name string) int64 {
	t.Helper()
	info, err := rc.Info(bg(t), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(info, name+":")
	line, _, _ := strings.Cut(after, "\r\n")
	n, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		t.Fatalf("%s: %q", name, line)
	}
	return n
}

func TestRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	put(t, s, "k", backends.Record{Data: []byte("x"), Timeout: 20}) // loads both scripts
	get(t, s, "k")
	// The startup probe (PING, then INFO memory for the eviction policy)
	// runs on its own goroutine; on a slow machine it would land inside the
	// first measurement. Its last step records the policy.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.policy.mu.Lock()
		seen := len(s.policy.lastSeen) > 0
		s.policy.mu.Unlock()
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the startup probe did not read the eviction policy in 10s")
		}
	}
	rc := srv.Client()
	lock := func(cur *backends.Record) backends.Change {
		r := *cur
		r.Locked, r.LockCookie = true, r.LockCookie+1
		return backends.Change{Action: backends.Store, Record: r}
	}
	for _, tc := range []struct {
		name string
		fn   backends.Transition
		want int64
	}{
		{"read and slide", func(*backends.Record) backends.Change { return backends.Change{} }, 1},
		// Not written by this gateway since its last read: read, then CAS.
		{"write", lock, 2},
		// Written by this gateway: the CAS alone, on the record it wrote.
		{"write after write", lock, 1},
		// A read after a write reads (the cached record is only for writes).
		{"read after write", func(*backends.Record) backends.Change { return backends.Change{} }, 1},
		{"write after read", lock, 2},
		// Delete straight after the write, then a read that finds nothing.
		{"delete absent", func(*backends.Record) backends.Change { return backends.Change{Action: backends.Delete} }, 2},
	} {
		before := roundTrips(t, rc)
		if err := s.Apply(bg(t), "k", tc.fn); err != nil {
			t.Fatal(err)
		}
		if tc.name == "delete absent" {
			_ = s.Apply(bg(t), "k", tc.fn)
		}
		if got := roundTrips(t, rc) - before - 1; got != tc.want {
			t.Errorf("%s: %d round trips, want %d", tc.name, got, tc.want)
		}
	}
}

func TestMaxValueSize(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, func(c *Config) { c.MaxValueSize = 10 })
	put(t, s, "k", backends.Record{Data: make([]byte, 10), Timeout: 1})
	err := backends.Put(bg(t), s, "k", backends.Record{Data: make([]byte, 11), Timeout: 1})
	if !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Put of 11 bytes = %v, want ErrTooLarge", err)
	}
	if got, _ := get(t, s, "k"); len(got.Data) != 10 {
		t.Fatalf("stored %d bytes, want the earlier 10", len(got.Data))
	}
}

func TestClose(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	put(t, s, "k", backends.Record{Data: []byte("x"), Timeout: 1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := backends.Get(bg(t), s, "k"); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
}

func TestApplyRespectsContext(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	// Written by another gateway, so that s has no cached copy to run the
	// transition on: with nothing from Redis, it must not run at all.
	put(t, open(t, srv, nil), "k", backends.Record{Data: []byte("x"), Timeout: 1})
	srv.Pause()
	defer srv.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Apply(ctx, "k", func(*backends.Record) backends.Change {
		t.Error("transition ran while Redis was paused")
		return backends.Change{}
	})
	if took := time.Since(start); err == nil || took > time.Second {
		t.Fatalf("Apply = %v after %v, want an error near the 200ms deadline", err, took)
	}
}

// TestOpenUnreachable: the gateway starts without Redis, says so in its log,
// fails requests, and serves as soon as Redis is there.
func TestOpenUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop() // keeps the port, now closed
	var logs logBuffer
	s := open(t, srv, func(c *Config) { c.Logger = newLogger(&logs) })
	eventually(t, 5*time.Second, "startup probe logs the outage", func() bool {
		return logs.contains("redis is not answering")
	})
	if !logs.contains(srv.Addr()) {
		t.Errorf("log does not name the address: %s", logs.String())
	}
	err := backends.Put(bg(t), s, "k", backends.Record{Data: []byte("x"), Timeout: 1})
	if err == nil || errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Put with Redis down = %v, want a failure", err)
	}
	var ne net.Error
	if _, err := backends.Get(bg(t), s, "k"); err == nil || errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Get with Redis down = %v, want a failure (not absent)", err)
	} else if !errors.As(err, &ne) && !strings.Contains(err.Error(), "connect") {
		t.Logf("Get error (for the record): %v", err)
	}
	srv.Restart()
	took := eventually(t, 2*time.Second, "Put succeeds after Redis starts", func() bool {
		return backends.Put(bg(t), s, "k", backends.Record{Data: []byte("x"), Timeout: 1}) == nil
	})
	t.Logf("first success %v after redis-server answered", took)
	eventually(t, 3*time.Second, "recovery logged", func() bool { return logs.contains("redis is answering again") })
}

// TestRedisFull: a Redis at maxmemory with noeviction refuses writes; that is
// ErrFull (the gateway answers 400), and nothing stored is lost.
func TestRedisFull(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	var logs logBuffer
	s := open(t, srv, func(c *Config) { c.Logger = newLogger(&logs) })
	blob := make([]byte, 64<<10)
	var err error
	n := 0
	for ; n < 1000 && err == nil; n++ {
		err = backends.Put(bg(t), s, "k"+strconv.Itoa(n), backends.Record{Data: blob, Timeout: 20})
	}
	if !errors.Is(err, backends.ErrFull) {
		t.Fatalf("after %d puts of 64 KiB into a 4 MiB Redis: %v, want ErrFull", n, err)
	}
	// Reads still answer, and slide, however far over maxmemory Redis is:
	// it then refuses every MULTI block, and reads go by script.
	rc := srv.Client()
	if err := rc.ConfigSet(bg(t), "maxmemory", "1mb").Err(); err != nil {
		t.Fatal(err)
	}
	before := rc.PExpireTime(bg(t), s.cfg.KeyPrefix+"s:k0").Val()
	time.Sleep(2 * time.Millisecond)
	if _, ok := get(t, s, "k0"); !ok {
		t.Fatal("a stored record was lost")
	}
	if after := rc.PExpireTime(bg(t), s.cfg.KeyPrefix+"s:k0").Val(); after <= before {
		t.Errorf("a read at maxmemory left the deadline at %v (was %v), want it slid", after, before)
	}
	if err := rc.ConfigSet(bg(t), "maxmemory", "4mb").Err(); err != nil {
		t.Fatal(err)
	}
	if !logs.contains("maxmemory") {
		t.Errorf("the full Redis is not in the log: %s", logs.String())
	}
	// Deleting frees memory, and writes work again.
	for i := range n / 2 {
		if err := backends.Remove(bg(t), s, "k"+strconv.Itoa(i)); err != nil && !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Remove under maxmemory: %v", err)
		}
	}
	put(t, s, "again", backends.Record{Data: blob, Timeout: 20})
	if !logs.contains("accepts writes again") {
		t.Errorf("recovery from maxmemory is not in the log: %s", logs.String())
	}
}
