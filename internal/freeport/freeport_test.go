package freeport

import "testing"

func TestNeverTheSamePortTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
