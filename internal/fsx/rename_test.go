package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestRenameNoReplace(t *testing.T) {
	tests := []struct {
		name     string
		existing bool // the target exists before the rename
	}{
		{name: "new name"},
		{name: "existing target", existing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			if err := os.WriteFile(src, []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.existing {
				if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := RenameNoReplace(src, dst)
			if errors.Is(err, ErrUnsupported) {
				t.Skip(err)
			}
			want, srcLeft := "new", false
			if tt.existing {
				if !errors.Is(err, fs.ErrExist) {
					t.Fatalf("RenameNoReplace over a file = %v, want fs.ErrExist", err)
				}
				want, srcLeft = "old", true
			} else if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(dst); string(got) != want {
				t.Errorf("target holds %q, want %q", got, want)
			}
			if _, err := os.Stat(src); (err == nil) != srcLeft {
				t.Errorf("source left: %v, want %v", err == nil, srcLeft)
			}
		})
	}
}
