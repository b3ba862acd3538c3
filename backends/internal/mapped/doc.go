// Package mapped keeps the memory-mapped data files of the durable stores
// from filling the gateway's resident set. bbolt and badger read (and badger
// writes) their files through memory maps; every page touched stays in the
// process's RSS until the kernel reclaims it, so 1,000,000 stored sessions
// would show as gigabytes of RSS that are really page cache.
//
// # What it does
//
// Resident reports the process's resident file-backed and shared memory
// (/proc/self/statm). PageOut asks the kernel to reclaim the resident pages
// of every mapping of a file under a directory (madvise MADV_PAGEOUT): clean
// pages are dropped, dirty ones written back first, so nothing is lost, and a
// later access faults the page in again.
//
// # Why PageOut is safe on mappings it does not own
//
// The mappings are found in /proc/self/maps, and badger may unmap one (and
// the runtime map something else there) between the read and the madvise.
// MADV_PAGEOUT is only a reclaim hint: on any memory, even the Go heap, the
// worst it does is page out (anonymous memory without swap stays), never
// discard. MADV_DONTNEED, which discards, is never used here.
//
// # Platforms
//
// Linux only; elsewhere Resident reports false and PageOut does nothing.
package mapped
