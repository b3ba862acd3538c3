package boltstore

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkIndexScan1M measures the sweeper's and flusher's work on an index
// holding 1,000,000 keys (~100 bytes): neither scans the whole index.
func BenchmarkIndexScan1M(b *testing.B) {
	ix := newIndex()
	now := time.Now().UnixNano()
	keys := make([]string, 1_000_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("/LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/%028d", i)
		ix.set([]byte(keys[i]), now+int64(i)*int64(time.Millisecond), 20, nil)
	}
	// A sweep tick with nothing due: what the sweeper costs a quiet second.
	b.Run("sweep-nothing-due", func(b *testing.B) {
		var buf []string
		for b.Loop() {
			buf = ix.collectExpired(now-int64(time.Second), maxSweepScan, buf[:0])
		}
	})
	// A flush after 10,000 distinct keys were read.
	b.Run("flush-10k-dirty", func(b *testing.B) {
		var buf []dirtyItem
		i := 0
		for b.Loop() {
			b.StopTimer()
			for range 10_000 {
				ix.touch(keys[i%len(keys)], now)
				i += 97
			}
			b.StartTimer()
			buf = ix.collectDirty(buf[:0])
		}
	})
}
