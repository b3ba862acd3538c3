package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatalf("SyncDir: %v", err)
	}
}

func TestRenameReplaces(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Rename(a, b); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if got, err := os.ReadFile(b); err != nil || string(got) != "new" {
		t.Fatalf("after Rename: %q, %v; want \"new\"", got, err)
	}
	if _, err := os.Stat(a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old name still there: %v", err)
	}
	if err := Rename(a, b); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Rename of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// SyncFile works on a file another handle is writing, and (on Windows) its
// own handle never stops that file from being deleted.
func TestSyncFileWhileOpen(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := SyncFile(name); err != nil {
		t.Fatalf("SyncFile: %v", err)
	}
	if err := SyncFile(name + ".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SyncFile of a missing file: %v, want fs.ErrNotExist", err)
	}
}
