package fsx

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinehq/spine/internal/modetest"
)

func TestCreateTemp(t *testing.T) {
	tests := []struct {
		name    string
		dir     func(t *testing.T) string
		wantErr error // nil: created
	}{
		{name: "folder", dir: func(t *testing.T) string { return t.TempDir() }},
		{name: "missing folder", dir: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			seen := map[string]bool{}
			for i := 0; i < 20; i++ {
				f, err := CreateTemp(dir, ".receipt.json.tmp-", 0o600)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				name := f.Name()
				if filepath.Dir(name) != dir || !strings.HasPrefix(filepath.Base(name), ".receipt.json.tmp-") || seen[name] {
					t.Fatalf("name %q: not a new name in %s with the prefix", name, dir)
				}
				seen[name] = true
				if _, err := f.WriteString("data"); err != nil {
					t.Fatal(err)
				}
				fi, err := f.Stat()
				if err != nil {
					t.Fatal(err)
				}
				if want := 0o600 &^ modetest.Umask(t); fi.Mode().Perm() != want || fi.Size() != 4 {
					t.Fatalf("mode %v size %d, want %v and 4", fi.Mode().Perm(), fi.Size(), want)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
