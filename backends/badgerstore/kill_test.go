package badgerstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// The kill -9 tests run this test binary again as a child process (the
// helper below) that writes through a Store and prints each write once Apply
// has returned for it, then kill the child with SIGKILL in the middle of that
// load, reopen the directory and check that every acknowledged write is
// there. Each key has one writer, so its last acknowledged value is known;
// the write in flight at the kill may or may not have landed.

const killHelperEnv = "BADGERSTORE_KILL_HELPER"

// TestMain runs the kill test's child process instead of the tests when the
// environment asks for it.
func TestMain(m *testing.M) {
	if spec := os.Getenv(killHelperEnv); spec != "" {
		runKillHelper(spec)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runKillHelper is the child process: it writes until it is killed,
// printing each acknowledged write.
func runKillHelper(spec string) {
	dir, policy, _ := strings.Cut(spec, "|")
	cfg := Config{Path: dir, Sync: policy, ValueLogFileSize: 4 << 20, MemTableSize: 1 << 20,
		NumMemtables: 2, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20, MaxValueSize: 1 << 20,
		SyncInterval: time.Minute} // no periodic sync before the kill: only the OS holds the writes
	s, err := Open(cfg)
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	ack := func(line string) {
		mu.Lock()
		out.WriteString(line + "\n")
		out.Flush()
		mu.Unlock()
	}
	ack("ready")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; ; i++ {
				key := fmt.Sprintf("w%d-k%d", w, i%16)
				val := fmt.Sprintf("%d", i)
				// 1 KiB records go to the value log, small ones stay in the
				// LSM tree: both paths must survive.
				data := []byte(val)
				if i%2 == 0 {
					data = append(data, make([]byte, 1024)...)
				}
				rec := backends.Record{Data: data, Timeout: 20, LockCookie: int32(i), Locked: i%3 == 0}
				var err error
				if i%4 == 1 {
					// Install (peering's hand-off) must be as durable as a Put.
					_, err = s.Install(context.Background(), key, rec, time.Now().Add(20*time.Minute), true)
				} else {
					err = backends.Put(context.Background(), s, key, rec)
				}
				if err != nil {
					ack("error " + err.Error())
					return
				}
				ack(key + " " + val)
			}
		}()
	}
	wg.Wait()
}

func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	for _, policy := range []string{SyncAlways, SyncInterval, SyncNone} {
		t.Run(policy, func(t *testing.T) {
			dir := t.TempDir()
			for round := range 3 {
				acked := killMidLoad(t, dir, policy, time.Duration(300+200*round)*time.Millisecond)
				if len(acked) == 0 {
					t.Fatal("no write acknowledged before the kill")
				}
				s := openTest(t, testConfig(dir, nil))
				for key, val := range acked {
					got, err := backends.Get(ctx, s, key)
					if err != nil {
						t.Fatalf("round %d: %s: acknowledged value %s lost: %v", round, key, val, err)
					}
					// The write in flight at the kill may have landed: the
					// stored value is the acknowledged one or the next.
					n, _ := strconv.Atoi(val)
					gotN, _ := strconv.Atoi(strings.TrimRight(string(got.Data[:min(len(got.Data), 12)]), "\x00"))
					if gotN != n && gotN != n+16 {
						t.Fatalf("round %d: %s = %d, acknowledged %d", round, key, gotN, n)
					}
					if gotN == n && (got.LockCookie != int32(n) || got.Locked != (n%3 == 0)) {
						t.Fatalf("round %d: %s: lock state %v/%d, acknowledged %v/%d", round, key, got.Locked, got.LockCookie, n%3 == 0, n)
					}
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// killMidLoad starts the helper on dir, lets it write for d, kills it with
// SIGKILL and returns the last acknowledged value of each key.
func killMidLoad(t *testing.T, dir, policy string, d time.Duration) map[string]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), killHelperEnv+"="+dir+"|"+policy)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(map[string]string)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var deadline <-chan time.Time
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				return acked
			}
			switch {
			case line == "ready":
				deadline = time.After(d)
			case strings.HasPrefix(line, "error") || strings.HasPrefix(line, "open error"):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper: %s", line)
			default:
				if k, v, ok := strings.Cut(line, " "); ok {
					acked[k] = v
				}
			}
		case <-deadline:
			deadline = nil
			cmd.Process.Kill() // SIGKILL
		}
	}
}
