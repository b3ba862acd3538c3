package badgerstore

import (
	"fmt"
	"path/filepath"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// Damage (issue 17). Badger v4 logs a value-log read error and hands back no
// value, without an error; the store used to take that for "no session".
// Now every record carries a CRC-32C (encoding.go) and badger verifies its
// value-log checksums (VerifyValueChecksum), so a damaged, truncated or
// missing value fails the request like any backend failure, never a 404 or
// a wrong session. At Open, a sample of the records is read back so that a
// store visibly damaged (a value-log file deleted or cut short, bytes
// flipped) refuses to start instead of failing request by request.

// openSample is how many records Open reads back, spread over the keys.
const openSample = 1000

// verifySample reads up to openSample records spread evenly over the keys
// and returns an error naming the store's files when any cannot be read.
func (s *Store) verifySample() error {
	total := s.dl.len()
	if total == 0 {
		return nil
	}
	stride := max(1, total/openSample)
	var checked, bad int
	var firstErr error
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{recordPrefix}})
		defer it.Close()
		i := 0
		for it.Rewind(); it.Valid(); it.Next() {
			i++
			if i%stride != 0 {
				continue
			}
			checked++
			if err := it.Item().Value(func(v []byte) error {
				_, _, err := decodeRecord(v)
				return err
			}); err != nil {
				bad++
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if bad > 0 {
		vlogs, _ := filepath.Glob(filepath.Join(s.path, "*.vlog"))
		for i := range vlogs {
			vlogs[i] = filepath.Base(vlogs[i])
		}
		return fmt.Errorf("damaged store: %d of %d records read back at start are unreadable (first: %v); "+
			"the value log (%s) or the tables are damaged or missing (badger's log above names the cause); "+
			"restore the directory from a backup", bad, checked, firstErr, strings.Join(vlogs, ", "))
	}
	return nil
}
