//go:build unix

package fsx

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestOpenFstatReadFull(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		size int
		want string
	}{
		{"buffer larger than the file: read to its end", 16, "hello"},
		{"buffer the file's size", 5, "hello"},
		{"buffer smaller: filled", 3, "hel"},
		{"empty buffer", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			var st syscall.Stat_t
			if err := Fstat(fd, &st); err != nil || st.Size != 5 {
				t.Fatalf("Fstat: size %d, %v", st.Size, err)
			}
			buf := make([]byte, tc.size)
			n, err := ReadFull(fd, buf)
			if err != nil || string(buf[:n]) != tc.want {
				t.Fatalf("ReadFull = %q, %v; want %q", buf[:n], err, tc.want)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "missing"), syscall.O_RDONLY, 0); err != syscall.ENOENT {
		t.Errorf("Open of a missing file: %v, want ENOENT", err)
	}
	fd, err := Open(dir, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if _, err := ReadFull(fd, make([]byte, 4)); err != syscall.EISDIR {
		t.Errorf("ReadFull of a directory: %v, want EISDIR", err)
	}
}
