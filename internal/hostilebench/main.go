// Command hostilebench measures a running aspstated under the hostile clients
// of issue 17 and prints one JSON line: the server's peak RSS while the attack
// ran, and the latency of a well-behaved client (one connection, one 1 KiB
// Get at a time) meanwhile.
//
//	go run ./internal/hostilebench -addr 127.0.0.1:42424 -pid PID -attack pipeline
//	go run ./internal/hostilebench -addr 127.0.0.1:42424 -pid PID -attack bodies
//	go run ./internal/hostilebench -addr 127.0.0.1:42424 -pid PID -attack writer -hold 60s -dir DATADIR
//
// pipeline: one connection sends -n (100) Gets of a -size (20 MiB) session in
// one write and reads the answers. bodies: -conns (250) connections each
// send a head declaring -size and then the body but its last byte, and hold.
// writer: one connection rewrites the -size session back to back for -hold;
// with -dir, the disk space used by the files in that directory is sampled
// every second (start, peak, end and the series, in MiB).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:42424", "aspstated address")
	pid := flag.Int("pid", 0, "aspstated's process id (for RSS)")
	attack := flag.String("attack", "pipeline", "pipeline, bodies or writer")
	dir := flag.String("dir", "", "data directory whose disk use to sample (writer)")
	size := flag.Int("size", 20<<20, "session/body size")
	n := flag.Int("n", 100, "pipelined Gets (pipeline)")
	conns := flag.Int("conns", 250, "connections (bodies)")
	hold := flag.Duration("hold", 10*time.Second, "how long the bodies attack holds its connections, or the writer writes")
	label := flag.String("label", "", "label for the output line")
	flag.Parse()

	put(*addr, "/big", *size)
	put(*addr, "/small", 1024)

	stop := make(chan struct{})
	var rssPeak atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // RSS sampler
		defer wg.Done()
		for {
			if r := rss(*pid); r > rssPeak.Load() {
				rssPeak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var lat []time.Duration
	var goodErrs int
	wg.Add(1)
	go func() { // the well-behaved client
		defer wg.Done()
		lat, goodErrs = wellBehaved(*addr, stop)
	}()

	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	var detail any
	switch *attack {
	case "writer":
		detail = writer(*addr, *size, *hold, *dir)
	case "pipeline":
		detail = pipeline(*addr, *n, *size)
	case "bodies":
		detail = bodies(*addr, *conns, *size, *hold)
	default:
		fmt.Fprintln(os.Stderr, "unknown attack")
		os.Exit(2)
	}
	took := time.Since(start)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return -1
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	out := map[string]any{
		"label": *label, "attack": *attack, "size": *size, "took_s": took.Seconds(), "detail": detail,
		"rss_peak_mib": rssPeak.Load() >> 20, "hwm_mib": hwm(*pid) >> 20,
		"good_requests": len(lat), "good_errors": goodErrs, "good_p50_ms": pct(0.5), "good_p99_ms": pct(0.99),
		"good_max_ms": pct(1),
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func req(method, target string, headers string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n", method, target, headers)
	b.Write(body)
	return b.Bytes()
}

func put(addr, key string, size int) {
	nc, err := net.Dial("tcp", addr)
	must(err)
	defer nc.Close()
	_, err = nc.Write(req("PUT", key, "Timeout: 20\r\nContent-Length: "+strconv.Itoa(size)+"\r\n", bytes.Repeat([]byte("s"), size)))
	must(err)
	br := bufio.NewReader(nc)
	_, status, err := readResponse(br)
	must(err)
	if status != 200 {
		must(fmt.Errorf("PUT %s: status %d", key, status))
	}
}

// readResponse reads one response and returns its size and status.
func readResponse(br *bufio.Reader) (int, int, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	status, _ := strconv.Atoi(f[1])
	cl := 0
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return 0, 0, err
		}
		if h == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "Content-Length") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	n, err := io.CopyN(io.Discard, br, int64(cl))
	return int(n), status, err
}

func wellBehaved(addr string, stop <-chan struct{}) ([]time.Duration, int) {
	var lat []time.Duration
	errs := 0
	var nc net.Conn
	var br *bufio.Reader
	get := req("GET", "/small", "", nil)
	for {
		select {
		case <-stop:
			if nc != nil {
				nc.Close()
			}
			return lat, errs
		default:
		}
		if nc == nil {
			var err error
			if nc, err = net.Dial("tcp", addr); err != nil {
				errs++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			br = bufio.NewReader(nc)
		}
		t0 := time.Now()
		nc.SetDeadline(t0.Add(10 * time.Second))
		_, err := nc.Write(get)
		var status int
		if err == nil {
			_, status, err = readResponse(br)
		}
		if err != nil || status != 200 {
			errs++
			nc.Close()
			nc = nil
			continue
		}
		lat = append(lat, time.Since(t0))
		time.Sleep(time.Millisecond)
	}
}

func pipeline(addr string, n, size int) string {
	nc, err := net.Dial("tcp", addr)
	must(err)
	defer nc.Close()
	_, err = nc.Write(bytes.Repeat(req("GET", "/big", "", nil), n))
	must(err)
	br := bufio.NewReaderSize(nc, 1<<20)
	ok := 0
	for i := 0; i < n; i++ {
		m, status, err := readResponse(br)
		if err != nil {
			return fmt.Sprintf("%d of %d answered, then %v", ok, n, err)
		}
		if status == 200 && m == size {
			ok++
		}
	}
	return fmt.Sprintf("%d of %d answered 200 with the session", ok, n)
}

func bodies(addr string, conns, size int, hold time.Duration) string {
	var wg sync.WaitGroup
	var refused, held, failed atomic.Int64
	chunk := bytes.Repeat([]byte("b"), 1<<20)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(hold + 30*time.Second))
			if _, err := nc.Write(req("PUT", "/a"+strconv.Itoa(i), "Timeout: 20\r\nContent-Length: "+strconv.Itoa(size)+"\r\n", nil)); err != nil {
				failed.Add(1)
				return
			}
			for left := size - 1; left > 0; {
				m := min(left, len(chunk))
				if _, err := nc.Write(chunk[:m]); err != nil {
					refused.Add(1) // closed by the server (400 and close)
					return
				}
				left -= m
			}
			held.Add(1)
			// Hold; a 400 and close from the server ends the hold early.
			nc.SetReadDeadline(time.Now().Add(hold))
			b := make([]byte, 512)
			if k, _ := nc.Read(b); k > 0 && bytes.Contains(b[:k], []byte(" 400 ")) {
				held.Add(-1)
				refused.Add(1)
			}
		}(i)
	}
	wg.Wait()
	return fmt.Sprintf("%d connections: %d sent all but the last byte and held %v, %d were refused or closed, %d failed to connect",
		conns, held.Load(), hold, refused.Load(), failed.Load())
}

func statusField(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func rss(pid int) int64 { return statusField(pid, "VmRSS") }
func hwm(pid int) int64 { return statusField(pid, "VmHWM") }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostilebench:", err)
		os.Exit(1)
	}
}

// writer rewrites the /big session for d on one connection, sampling the
// disk use of dir every second.
func writer(addr string, size int, d time.Duration, dir string) map[string]any {
	var series []int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if dir != "" {
				series = append(series, diskUse(dir)>>20)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	nc, err := net.Dial("tcp", addr)
	must(err)
	defer nc.Close()
	br := bufio.NewReader(nc)
	body := bytes.Repeat([]byte("w"), size)
	head := req("PUT", "/big", "Timeout: 20\r\nContent-Length: "+strconv.Itoa(size)+"\r\n", nil)
	writes, failed := 0, 0
	start := time.Now()
	for time.Since(start) < d {
		body[writes%size] ^= 1 // a new value each time
		if _, err := nc.Write(append(head, body...)); err != nil {
			must(err)
		}
		_, status, err := readResponse(br)
		must(err)
		if status == 200 {
			writes++
		} else {
			failed++
		}
	}
	took := time.Since(start)
	close(done)
	<-sampled
	if dir != "" {
		series = append(series, diskUse(dir)>>20)
	}
	out := map[string]any{"writes": writes, "failed": failed, "mb_per_s": float64(writes) * float64(size) / 1e6 / took.Seconds()}
	if len(series) > 0 {
		peak := int64(0)
		for _, v := range series {
			peak = max(peak, v)
		}
		out["disk_start_mib"], out["disk_peak_mib"], out["disk_end_mib"], out["disk_mib_each_s"] = series[0], peak, series[len(series)-1], series
	}
	return out
}
