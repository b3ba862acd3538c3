// Command loadtest measures the badger store with many sessions: load time,
// process RSS with all sessions stored, and restart time. Run by hand:
//
//	go run ./backends/badgerstore/internal/loadtest -dir /tmp/bl -phase load
//	go run ./backends/badgerstore/internal/loadtest -dir /tmp/bl -phase restart
//
// It prints figures; it asserts nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/badgerstore"
)

func main() {
	dir := flag.String("dir", "", "data directory")
	phase := flag.String("phase", "load", "load: store -n sessions; restart: reopen and read")
	n := flag.Int("n", 1_000_000, "sessions")
	size := flag.Int("size", 1024, "session bytes")
	syncPolicy := flag.String("sync", "always", "sync policy")
	workers := flag.Int("workers", 8, "concurrent writers")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	ctx := context.Background()
	key := func(i int) string { return fmt.Sprintf("/W3SVC/1/ROOT/app/%082d", i) } // 100 bytes

	t0 := time.Now()
	s, err := badgerstore.Open(badgerstore.Config{Path: *dir, Sync: *syncPolicy})
	if err != nil {
		log.Fatal(err)
	}
	report("open", time.Since(t0), s)

	switch *phase {
	case "load":
		t0 = time.Now()
		var wg sync.WaitGroup
		per := (*n + *workers - 1) / *workers
		for w := range *workers {
			wg.Go(func() {
				data := make([]byte, *size)
				r := rand.New(rand.NewPCG(uint64(w), 1))
				for i := w * per; i < min(*n, (w+1)*per); i++ {
					for j := range data {
						data[j] = byte(r.Uint32())
					}
					if err := backends.Put(ctx, s, key(i), backends.Record{Data: data, Timeout: 20, LockCookie: 1}); err != nil {
						log.Fatal(err)
					}
				}
			})
		}
		wg.Wait()
		report(fmt.Sprintf("stored %d sessions", *n), time.Since(t0), s)
	case "restart":
		t0 = time.Now()
		for range 100_000 {
			if _, err := backends.Get(ctx, s, key(rand.IntN(*n))); err != nil {
				log.Fatal(err)
			}
		}
		report("100000 random reads", time.Since(t0), s)
	default:
		log.Fatalf("unknown phase %q", *phase)
	}
	t0 = time.Now()
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	report("close", time.Since(t0), nil)
}

func report(what string, d time.Duration, s *badgerstore.Store) {
	runtime.GC() // count live memory, not garbage awaiting collection
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	var rss []string
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") || strings.HasPrefix(l, "RssAnon") || strings.HasPrefix(l, "RssFile") {
			rss = append(rss, strings.Join(strings.Fields(l), " "))
		}
	}
	ln := -1
	if s != nil {
		ln = s.Len()
	}
	fmt.Printf("%-28s %10s  len=%d  go-heap=%dMiB go-sys=%dMiB  %s\n", what, d.Round(time.Millisecond), ln,
		ms.HeapAlloc>>20, ms.Sys>>20, strings.Join(rss, "  "))
}
