package badgerstore

import (
	"time"

	"github.com/aspstate/aspstate/backends"
)

var _ backends.DurabilityReporter = (*Store)(nil)

// DurabilityStats reports the periodic sync rounds (backend.sync
// "interval"; with "always" badger syncs each commit itself and Syncs stays
// zero) and the value log's size on disk as badger last computed it (it
// refreshes its sizes about once a minute).
func (s *Store) DurabilityStats() backends.DurabilityStats {
	st := backends.DurabilityStats{Syncs: s.syncs.Load(), SyncTime: time.Duration(s.syncNano.Load())}
	if !s.db.IsClosed() {
		_, st.LogBytes = s.db.Size()
	}
	return st
}
