package backends

import "time"

// WalkPage is the page a store's Walk copies records into while it holds its
// locks, to hand them to the caller's fn once it has let go of them (fn may
// call back into the store). It keeps its buffers from page to page.
type WalkPage struct {
	items []walkItem
	arena []byte // the records' Data, back to back
}

type walkItem struct {
	key      string
	rec      Record
	expires  time.Time
	off, end int
}

// Page bounds: a page ends after this many records or, past this many bytes of
// Data, after the record that crossed it.
const (
	walkPageRecords = 256
	walkPageBytes   = 1 << 20
)

// Full reports whether the page has reached its bounds.
func (p *WalkPage) Full() bool {
	return len(p.items) >= walkPageRecords || len(p.arena) >= walkPageBytes
}

// Add copies rec (its Data included) into the page.
func (p *WalkPage) Add(key string, rec *Record, expires time.Time) {
	off := len(p.arena)
	p.arena = append(p.arena, rec.Data...)
	p.items = append(p.items, walkItem{key: key, rec: *rec, expires: expires, off: off, end: len(p.arena)})
}

// Emit calls fn for each record of the page, in order, stopping at fn's first
// error, and empties the page.
func (p *WalkPage) Emit(fn func(key string, rec *Record, expires time.Time) error) error {
	defer p.reset()
	for i := range p.items {
		it := &p.items[i]
		it.rec.Data = p.arena[it.off:it.end:it.end]
		if err := fn(it.key, &it.rec, it.expires); err != nil {
			return err
		}
	}
	return nil
}

func (p *WalkPage) reset() {
	clear(p.items)
	p.items = p.items[:0]
	p.arena = p.arena[:0]
	if cap(p.arena) > 4*walkPageBytes {
		p.arena = nil // a huge record passed: let it go
	}
}
