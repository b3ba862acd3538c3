//go:build !linux

package mapped

// Resident is not available outside Linux.
func Resident() (n int64, ok bool) { return 0, false }

// PageOut does nothing outside Linux.
func PageOut(dir string) (int, error) { return 0, nil }
