package redisstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"+OK\r\n", "OK"},
		{"-OOM command not allowed\r\n", replyError("OOM command not allowed")},
		{":-2\r\n", int64(-2)},
		{"$3\r\na\r\n\r\n", "a\r\n"},
		{"$0\r\n\r\n", ""},
		{"$-1\r\n", nil},
		{"*-1\r\n", nil},
		{"*3\r\n:1\r\n$-1\r\n*1\r\n-ERR x\r\n", []any{int64(1), nil, []any{replyError("ERR x")}}},
	} {
		got, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("readReply(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	// A bulk longer than the first allocation is read in growing pieces.
	long := strings.Repeat("0123456789abcdef", (3<<20+5)/16)
	if got, err := readReply(bufio.NewReader(strings.NewReader("$" + strconv.Itoa(len(long)) + "\r\n" + long + "\r\n"))); err != nil || got != long {
		t.Errorf("readReply of a %d-byte bulk: %d bytes, %v", len(long), len(fmt.Sprint(got)), err)
	}
	// Malformed or cut short: an error, never a value or a panic.
	for _, in := range []string{"", "+OK", "+OK\n", "?x\r\n", ":\r\n", ":12a\r\n", "$5\r\nab\r\n", "$2\r\nabcd", "*2\r\n:1\r\n", "*99999999\r\n",
		// Lengths that promise more than arrives, or more than memory holds:
		// the reader must not allocate what the header claims up front.
		"$9223372036854775807\r\n", "$9223372036854775806\r\n", "$4000000000\r\nab",
		"*1048576\r\n*1048576\r\n*1048576\r\n*1048576\r\n",
		strings.Repeat("*1\r\n", 100) + ":1\r\n"} {
		if got, err := readReply(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("readReply(%q) = %#v, want an error", in, got)
		}
	}
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\nx\r\n:5\r\n", "$-1\r\n", "-ERR\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = readReply(bufio.NewReader(strings.NewReader(string(in))))
	})
}

// TestPipeConnsSelectDB: the store's own connections log in and select the
// configured database just as go-redis's do.
func TestPipeConnsSelectDB(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, func(c *Config) { c.DB = 3; c.KeyPrefix = "db:" })
	if s.batch.pipes == nil {
		t.Fatal("a standalone Store does not use its own pipeline connections")
	}
	put(t, s, "k", backends.Record{Data: []byte("x"), Timeout: 1})
	if _, ok := get(t, s, "k"); !ok {
		t.Fatal("record not found")
	}
	db3 := redis.NewClient(&redis.Options{Addr: srv.Addr(), DB: 3})
	defer db3.Close()
	if n := db3.Exists(bg(t), "db:s:k").Val(); n != 1 {
		t.Errorf("key not in database 3")
	}
	if n := srv.Client().Exists(bg(t), "db:s:k").Val(); n != 0 {
		t.Errorf("key in database 0")
	}
	list := db3.ClientList(bg(t)).Val()
	if strings.Count(list, "name=aspstated") < 2 {
		t.Errorf("the store's connections are not named aspstated:\n%s", list)
	}
}

// TestPipeConnsReplyErrors: an error reply fails its own call as a
// redis.Error (not an outage), and the connection stays usable.
func TestPipeConnsReplyErrors(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	if err := srv.Client().HSet(bg(t), s.cfg.KeyPrefix+"s:hash", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := backends.Get(bg(t), s, "hash")
	var re redis.Error
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Get of a hash = %v, want a WRONGTYPE redis.Error", err)
	}
	put(t, s, "k", backends.Record{Data: []byte("x"), Timeout: 1})
	if _, ok := get(t, s, "k"); !ok {
		t.Fatal("record not found after an error reply")
	}
}

// TestReadDataIsItsOwn: a record read through the store's own connections
// uses the reply's memory without a copy. That memory must be the record's
// alone: later reads on the same connection, of other sessions, must not
// change a record already returned.
func TestReadDataIsItsOwn(t *testing.T) {
	srv := redistest.Start(t)
	writer := open(t, srv, nil)
	reader := open(t, srv, nil) // no write cache: every Get reads Redis
	want := map[string][]byte{}
	for i := range 8 {
		key := "k" + strconv.Itoa(i)
		want[key] = bytes.Repeat([]byte{byte('a' + i)}, 3000+i)
		put(t, writer, key, backends.Record{Data: want[key], Timeout: 5})
	}
	got := map[string][]byte{}
	for range 3 {
		for key := range want {
			// Keep Data as seen, as StableData allows (backends.Get
			// would copy it).
			var data []byte
			err := reader.Apply(bg(t), key, func(cur *backends.Record) backends.Change {
				if cur != nil {
					data = cur.Data
				}
				return backends.Change{Action: backends.Keep}
			})
			if err != nil || len(data) == 0 {
				t.Fatalf("read %s: %v, %d bytes", key, err, len(data))
			}
			if prev, seen := got[key]; seen && &prev[0] == &data[0] {
				t.Fatalf("two reads of %s returned the same memory", key)
			}
			got[key] = data
		}
	}
	for key, data := range got {
		if !bytes.Equal(data, want[key]) {
			t.Errorf("%s changed after later reads: %.20q…, want %.20q…", key, data, want[key])
		}
	}
}

// TestReadExec: EXEC's reply goes straight into the reads; a reply of the
// wrong shape fails every read of the batch but is read to its end, so
// that the connection stays in step.
func TestReadExec(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr string // "" for success
	}{
		{"*4\r\n:1700000000000\r\n$2\r\nv1\r\n:-2\r\n$-1\r\n", ""},
		{"*2\r\n:1\r\n$1\r\nx\r\n", "EXEC returned 2 replies for 2 reads"},
		{"-EXECABORT Transaction discarded\r\n", "EXECABORT"},
		{"*-1\r\n", "EXEC returned <nil> for 2 reads"},
		{"*4\r\n-WRONGTYPE x\r\n$1\r\nx\r\n:-2\r\n$-1\r\n", ""},
	} {
		pc := &pipeConn{br: bufio.NewReader(strings.NewReader(tc.in + "+NEXT\r\n"))}
		a, b := &call{}, &call{}
		script := &call{cmd: redis.NewCmd(bg(t), "evalsha")}
		if err := pc.readExec([]*call{a, script, b}, 2, nil); err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if next, err := readReply(pc.br); next != "NEXT" {
			t.Errorf("%q: next reply %v, %v: the reply was not read to its end", tc.in, next, err)
		}
		if tc.wantErr != "" {
			for _, c := range []*call{a, b} {
				if c.err == nil || !strings.Contains(c.err.Error(), tc.wantErr) {
					t.Errorf("%q: read error %v, want %q", tc.in, c.err, tc.wantErr)
				}
			}
			continue
		}
		if strings.Contains(tc.in, "WRONGTYPE") {
			if a.err == nil || b.err != nil || b.has || b.exp != -2 {
				t.Errorf("%q: first read %v, second %+v", tc.in, a.err, b)
			}
			continue
		}
		if a.err != nil || !a.has || a.val != "v1" || a.exp != 1700000000000 {
			t.Errorf("%q: first read %+v", tc.in, a)
		}
		if b.err != nil || b.has || b.exp != -2 {
			t.Errorf("%q: second read %+v", tc.in, b)
		}
	}
}
