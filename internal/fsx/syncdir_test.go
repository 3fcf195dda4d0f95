package fsx

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMkdirAllDurable(t *testing.T) {
	base := t.TempDir()
	deep := filepath.Join(base, "a", "b", "c")
	if err := MkdirAllDurable(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(deep); err != nil || !fi.IsDir() {
		t.Fatalf("%s not made: %v", deep, err)
	}
	// Existing: nothing to do.
	if err := MkdirAllDurable(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// A file in the way.
	file := filepath.Join(base, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, filepath.Join(file, "x")} {
		if err := MkdirAllDurable(p, 0o755); err == nil {
			t.Errorf("%s: made a folder where a file is", p)
		}
	}
	if err := SyncDir(filepath.Join(base, "missing")); err == nil {
		t.Error("SyncDir of a missing folder: no error")
	}
	if err := SyncDir(base); err != nil {
		t.Error(err)
	}
}
