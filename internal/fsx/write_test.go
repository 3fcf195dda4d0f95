package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("do not touch"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		setup   func(p string) // prepares path p
		flag    int
		wantErr error // nil: written
	}{
		{name: "new file, exclusive", flag: os.O_EXCL},
		{name: "existing file, exclusive", setup: func(p string) { os.WriteFile(p, []byte("old"), 0o644) }, flag: os.O_EXCL, wantErr: fs.ErrExist},
		{name: "existing file, truncated", setup: func(p string) { os.WriteFile(p, []byte("a much longer old content"), 0o644) }, flag: os.O_TRUNC},
		{name: "symbolic link, truncate", setup: func(p string) { os.Symlink(target, p) }, flag: os.O_TRUNC, wantErr: errAny},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "f"+string(rune('a'+i)))
			if tt.setup != nil {
				tt.setup(p)
			}
			err := WriteFile(p, []byte("new content"), tt.flag, 0o600)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatal(err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil:
				if got, _ := os.ReadFile(p); string(got) != "new content" {
					t.Errorf("content %q", got)
				}
			}
		})
	}
	if got, _ := os.ReadFile(target); string(got) != "do not touch" {
		t.Errorf("the symbolic link was followed: target holds %q", got)
	}
}

// errAny stands for "some error" in TestWriteFile.
var errAny = errors.New("any error")
