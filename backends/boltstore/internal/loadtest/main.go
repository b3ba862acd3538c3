//go:build linux

// Command loadtest measures boltstore at scale: it fills a file with N
// sessions (~100-byte keys, 1 KiB blobs), then, in a fresh process, times
// Open and reports the process's memory. Run it by hand; it takes minutes:
//
//	go build -o /tmp/boltload ./backends/boltstore/internal/loadtest
//	/tmp/boltload -phase fill -path /tmp/bolt1m.db -n 1000000
//	/tmp/boltload -phase open -path /tmp/bolt1m.db -cold
//
// -cold evicts the file from the page cache first (posix_fadvise DONTNEED on
// this file only), so Open reads from disk as after a reboot.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/boltstore"
)

func main() {
	path := flag.String("path", "/tmp/bolt1m.db", "data file")
	n := flag.Int("n", 1_000_000, "sessions")
	phase := flag.String("phase", "open", "fill or open")
	cold := flag.Bool("cold", false, "evict the file from the page cache before Open")
	reads := flag.Int("reads", 100_000, "random reads after Open (open phase)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the phase to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	switch *phase {
	case "fill":
		fill(*path, *n)
	case "open":
		open(*path, *n, *cold, *reads)
	default:
		log.Fatalf("unknown phase %q", *phase)
	}
}

// key i is an ASP.NET 4.x style key: app path, hash, 24-char session id.
func key(i int) string {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	const alphabet = "abcdefghijklmnopqrstuvwxyz012345"
	var id [24]byte
	for j := range id {
		id[j] = alphabet[r.IntN(len(alphabet))]
	}
	return "/LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/" + string(id[:]) + "-pad"
}

func fill(path string, n int) {
	_ = os.Remove(path)
	s, err := boltstore.Open(boltstore.Config{Path: path, Sync: boltstore.SyncNone, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	blob := []byte(strings.Repeat("x", 1024))
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := backends.Put(context.Background(), s, key(i), backends.Record{Data: blob, Timeout: 60 * 24}); err != nil {
					log.Fatal(err)
				}
				if i%100_000 == 0 {
					log.Printf("%d written, %s", i, time.Since(start).Round(time.Second))
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	fi, _ := os.Stat(path)
	fmt.Printf("fill: %d sessions (key %d B, blob 1024 B) in %s; file %d MiB\n",
		n, len(key(0)), time.Since(start).Round(time.Millisecond), fi.Size()>>20)
}

func open(path string, n int, cold bool, reads int) {
	if cold {
		evict(path)
	}
	report("before Open")
	start := time.Now()
	s, err := boltstore.Open(boltstore.Config{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	took := time.Since(start)
	fmt.Printf("open: %s (cold page cache: %t), %d live sessions\n", took.Round(time.Millisecond), cold, s.Len())
	runtime.GC()
	report("after Open + GC")

	start = time.Now()
	r := rand.New(rand.NewPCG(7, 7))
	for range reads {
		if _, err := backends.Get(context.Background(), s, key(r.IntN(n))); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("%d random reads: %s\n", reads, time.Since(start).Round(time.Millisecond))
	runtime.GC()
	report(fmt.Sprintf("after %d random reads + GC", reads))

	start = time.Now()
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("close (flushes %d slid deadlines): %s\n", reads, time.Since(start).Round(time.Millisecond))
}

// evict drops this file's pages from the page cache.
func evict(path string) {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		log.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		log.Fatal(err)
	}
}

// report prints the process's resident memory by kind and the Go heap.
func report(when string) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		log.Fatal(err)
	}
	var fields []string
	for _, line := range strings.Split(string(status), "\n") {
		for _, k := range []string{"VmRSS", "RssAnon", "RssFile", "VmHWM"} {
			if strings.HasPrefix(line, k+":") {
				fields = append(fields, k+"="+strings.Join(strings.Fields(line)[1:], " "))
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("%-32s %s HeapInuse=%d MiB Sys=%d MiB\n", when+":", strings.Join(fields, " "), ms.HeapInuse>>20, ms.Sys>>20)
}
