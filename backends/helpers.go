package backends

import (
	"bytes"
	"context"
)

// Get returns a copy of the live record under key, or ErrNotFound. Like every
// Apply it slides the record's expiry. Meant for tools and tests; the gateway
// works through transitions.
func Get(ctx context.Context, b Backend, key string) (Record, error) {
	var out Record
	found := false
	err := b.Apply(ctx, key, func(cur *Record) Change {
		found = cur != nil
		if found {
			out = *cur
			out.Data = bytes.Clone(cur.Data)
			if out.Data == nil {
				out.Data = []byte{}
			}
		}
		return Change{Action: Keep}
	})
	if err != nil {
		return Record{}, err
	}
	if !found {
		return Record{}, ErrNotFound
	}
	return out, nil
}

// Put stores rec under key, replacing any record.
func Put(ctx context.Context, b Backend, key string, rec Record) error {
	return b.Apply(ctx, key, func(*Record) Change {
		return Change{Action: Store, Record: rec}
	})
}

// Remove deletes the record under key; ErrNotFound if there was none.
func Remove(ctx context.Context, b Backend, key string) error {
	found := false
	err := b.Apply(ctx, key, func(cur *Record) Change {
		found = cur != nil
		return Change{Action: Delete}
	})
	if err != nil {
		return err
	}
	if !found {
		return ErrNotFound
	}
	return nil
}
