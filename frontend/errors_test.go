package frontend

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aspstate/aspstate/backends"
)

func TestOutcomeForError(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		status    int
		closeConn bool
	}{
		{"success", nil, 0, false},
		{"capacity", fmt.Errorf("memstore: %w", backends.ErrFull), 400, false},
		{"value too large", fmt.Errorf("boltstore: %w", backends.ErrTooLarge), 400, false},
		// Never a 404: the web server would start a new, empty session.
		{"not found from a broken store", fmt.Errorf("x: %w", backends.ErrNotFound), 0, true},
		{"closed store", backends.ErrClosed, 0, true},
		{"timeout", context.DeadlineExceeded, 0, true},
		{"anything else", errors.New("redis: connection refused"), 0, true},
	}
	for _, tc := range cases {
		status, closeConn := outcomeForError(tc.err)
		if status != tc.status || closeConn != tc.closeConn {
			t.Errorf("%s: outcomeForError(%v) = %d, %v; want %d, %v", tc.name, tc.err, status, closeConn, tc.status, tc.closeConn)
		}
	}
}

func TestVersionOK(t *testing.T) {
	for v, want := range map[string]bool{"4.0.30319": true, "2.0.50727": true, "10": true, "1.1.4322": false, "": false, "x.0": false, "4a.0": false} {
		if got := versionOK(v); got != want {
			t.Errorf("versionOK(%q) = %v, want %v", v, got, want)
		}
	}
}
