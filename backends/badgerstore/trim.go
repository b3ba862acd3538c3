package badgerstore

import (
	"time"

	"github.com/aspstate/aspstate/backends/internal/mapped"
)

const (
	// mapBudget is how much of badger's memory-mapped files may stay
	// resident in the gateway before the trimmer asks the kernel to reclaim
	// them; trimInterval is how often it looks.
	mapBudget    = 128 << 20
	trimInterval = time.Second
)

// trim keeps badger's memory-mapped value log and tables from filling the
// gateway's RSS, every trimInterval: when more than mapBudget of mapped
// files is resident, it pages out every mapping of a file in the data
// directory (see package mapped for why that is safe on mappings badger
// owns). Hot sessions are served from the record cache, so the cost falls on
// cold reads, which fault their pages in again. A failure is logged once: it
// fails the same way every time.
func (s *Store) trim() {
	if n, ok := mapped.Resident(); !ok || n <= mapBudget {
		return
	}
	if _, err := mapped.PageOut(s.path); err != nil && !s.trimFailed {
		s.trimFailed = true
		s.cfg.Logger.Warn("badgerstore: cannot page out the memory-mapped files; RSS will include them", "path", s.path, "err", err)
	}
}
