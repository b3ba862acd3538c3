package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// isTerminal reports whether w is a terminal, so that progress shows only
// to a person and scripts stay quiet.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && isTerminalFile(f)
}

// progress is a one-line counter on a terminal, redrawn with \r a few times
// a second by its own goroutine, so the hot loop only adds to two atomics.
// On anything but a terminal it prints nothing.
type progress struct {
	w       io.Writer // nil: off
	label   string
	total   int64 // bytes expected, 0 unknown
	start   time.Time
	records atomic.Int64
	bytes   atomic.Int64
	stop    chan struct{}
	done    sync.WaitGroup
}

func newProgress(stderr io.Writer, label string, totalBytes int64) *progress {
	p := &progress{label: label, total: totalBytes, start: time.Now()}
	if !isTerminal(stderr) {
		return p
	}
	p.w = stderr
	p.stop = make(chan struct{})
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) add(records, bytes int64) {
	p.records.Add(records)
	p.bytes.Add(bytes)
}

func (p *progress) draw() {
	n, b := p.records.Load(), p.bytes.Load()
	line := fmt.Sprintf("%s: %d sessions, %s", p.label, n, humanBytes(b))
	count := ""
	if n > 0 {
		count = fmt.Sprintf("%d sessions, ", n)
	}
	if p.total > 0 {
		pct := min(100, int(100*b/p.total))
		bar := make([]byte, 20)
		for i := range bar {
			bar[i] = '.'
			if i < pct/5 {
				bar[i] = '#'
			}
		}
		line = fmt.Sprintf("%s: [%s] %3d%%  %s%s of %s", p.label, bar, pct, count, humanBytes(b), humanBytes(p.total))
	}
	fmt.Fprintf(p.w, "\r%s  %s\x1b[K", line, time.Since(p.start).Round(time.Second))
}

// finish draws the last state and ends the line.
func (p *progress) finish() {
	if p.w == nil {
		return
	}
	close(p.stop)
	p.done.Wait()
	p.draw()
	fmt.Fprintln(p.w)
	p.w = nil
}

// countingReader counts the bytes read through it into a progress.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(0, int64(n))
	return n, err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
