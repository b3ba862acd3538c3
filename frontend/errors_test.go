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
		name string
		err  error
		want errorOutcome
	}{
		{"success", nil, outcomeNone},
		{"capacity", fmt.Errorf("memstore: %w", backends.ErrFull), outcomeReply400},
		{"value too large", fmt.Errorf("boltstore: %w", backends.ErrTooLarge), outcomeReply400},
		// Never a 404: the web server would start a new, empty session.
		{"not found from a broken store", fmt.Errorf("x: %w", backends.ErrNotFound), outcomeClose},
		{"closed store", backends.ErrClosed, outcomeClose},
		{"timeout", context.DeadlineExceeded, outcomeClose},
		{"anything else", errors.New("redis: connection refused"), outcomeClose},
	}
	for _, tc := range cases {
		if got := outcomeForError(tc.err); got != tc.want {
			t.Errorf("%s: outcomeForError(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
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
