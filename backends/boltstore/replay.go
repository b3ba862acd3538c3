package boltstore

import (
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// replayChunk bounds the log records one replay transaction applies.
const replayChunk = 20000

// replay applies the log segments a crash left (oldest first) to the file,
// then deletes them. It runs in Open before the index is loaded, and returns
// the number of records applied and the first free segment number.
//
// Segments up to the one the last flush covered are already in bbolt and
// are only deleted. A replayed write was logged after the last flush's
// snapshot; its deadline is the one it was logged with, raised to the lease
// plus its timeout: reads after the write slid it in memory only, and every
// such read happened before the durable lease (see doc.go).
func replay(db *bolt.DB, cfg Config) (replayed int, next uint64, err error) {
	seqs, err := listSegments(cfg.Path)
	if err != nil {
		return 0, 0, fmt.Errorf("list log segments: %w", err)
	}
	var lease, covered int64
	if err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil && len(seqs) == 0 {
			return nil // a new file; load lays it out
		}
		if meta == nil {
			return fmt.Errorf("found log %s but the data file holds no sessions (was it replaced?)",
				segmentPath(cfg.Path, seqs[0]))
		}
		if err := checkFormat(meta); err != nil {
			return err
		}
		var ok bool
		if lease, ok = getInt64(meta.Get(metaLease)); !ok {
			return errors.New("corrupt session file (meta bucket incomplete)")
		}
		covered, _ = getInt64(meta.Get(metaCovered)) // absent: nothing known covered
		return nil
	}); err != nil {
		return 0, 0, err
	}
	// Segment numbers never repeat, so that "covered" stays meaningful.
	next = uint64(max(covered, 0)) + 1
	if len(seqs) > 0 {
		next = max(next, seqs[len(seqs)-1]+1)
	}
	for i, seq := range seqs {
		if int64(seq) <= covered {
			continue // checkpointed before the last flush; bbolt has it or newer
		}
		path := segmentPath(cfg.Path, seq)
		data, err := os.ReadFile(path)
		if err != nil {
			return replayed, 0, fmt.Errorf("read log: %w", err)
		}
		recs, clean := parseSegment(data)
		if !clean && goodRecordAfter(data, parsedLen(recs, data)) {
			// Not a torn tail: good records follow the bad one (damage.go).
			return replayed, 0, fmt.Errorf("corrupt log %s: a bad record at byte %d, after %d good ones, is followed by more records; "+
				"nothing was deleted: restore the file and the log from a backup, or move this segment away to accept losing the writes it holds",
				path, parsedLen(recs, data), len(recs))
		}
		if !clean && i != len(seqs)-1 {
			// Only the newest segment can end in a torn, unacknowledged
			// append: an older one was complete when it was retired.
			return replayed, 0, fmt.Errorf("corrupt log %s (a bad record after %d good ones, and newer segments follow)",
				path, len(recs))
		}
		for start := 0; start < len(recs); start += replayChunk {
			chunk := recs[start:min(start+replayChunk, len(recs))]
			if err := db.Update(func(tx *bolt.Tx) error {
				sess, dl := tx.Bucket(bucketSessions), tx.Bucket(bucketDeadlines)
				slab := make([]byte, deadlineLen*len(chunk))
				for j, r := range chunk {
					if r.del {
						if err := sess.Delete(r.key); err != nil {
							return err
						}
						if err := dl.Delete(r.key); err != nil {
							return err
						}
						continue
					}
					d := max(r.deadline, deadlineAt(lease, r.timeout))
					if err := sess.Put(r.key, r.val); err != nil {
						return err
					}
					if err := dl.Put(r.key, encodeDeadline(slab[j*deadlineLen:], d, r.timeout)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return replayed, 0, fmt.Errorf("replay log %s: %w", path, err)
			}
			replayed += len(chunk)
		}
	}
	for _, seq := range seqs {
		if err := removeSegment(segmentPath(cfg.Path, seq), cfg.Sync == SyncAlways); err != nil {
			return replayed, 0, fmt.Errorf("remove replayed log: %w", err)
		}
	}
	return replayed, next, nil
}
