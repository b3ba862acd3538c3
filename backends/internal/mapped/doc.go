// Package mapped keeps the memory-mapped data files of the durable stores
// from filling the gateway's resident set. bbolt and badger read (and badger
// writes) their files through memory maps; every page touched stays in the
// process's RSS until the kernel reclaims it, so 1,000,000 stored sessions
// would show as gigabytes of RSS that are really page cache.
//
// # What it does
//
// Resident reports the process's resident file-backed and shared memory
// (/proc/self/statm); boltstore and badgerstore compare it with their budget.
// PageOut asks the kernel to reclaim the resident pages of every mapping of a
// file under a directory (madvise MADV_PAGEOUT): clean pages are dropped,
// dirty ones written back first, so nothing is lost, and a later access
// faults the page in again. badgerstore's trimmer uses it; boltstore drops
// its one map itself (see its trim_linux.go).
//
// # Concurrency
//
// Both functions are safe for concurrent use, and PageOut is safe on
// mappings it does not own. The mappings are found in /proc/self/maps, and
// badger may unmap one (and the runtime map something else there) between
// the read and the madvise. MADV_PAGEOUT is only a reclaim hint: on any
// memory, even the Go heap, the worst it does is page out (anonymous memory
// without swap stays), never discard. MADV_DONTNEED, which discards, is never
// used here.
//
// # Ownership of bytes
//
// Nothing is returned but counts; no mapped memory is ever read or written
// here (addresses go to the kernel as numbers).
//
// # Errors
//
// PageOut returns the error of reading /proc/self/maps or of madvise, except
// EINVAL and ENOMEM, which mean the mapping went away meanwhile. Resident
// reports ok false when it cannot read statm.
//
// # What it does not do
//
// Linux only: elsewhere Resident reports false and PageOut does nothing. It
// decides no budget and runs no goroutine; the stores do both.
package mapped
