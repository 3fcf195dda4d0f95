package mapfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadString(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := strings.Repeat("0123456789abcdef", 1<<16) + "end"
	tests := []struct {
		name, path, want string
	}{
		{"small", write("small", "hello\n"), "hello\n"},
		{"empty", write("empty", ""), ""},
		{"over a megabyte", write("big", big), big},
		{"binary", write("bin", "\x00\xff\x00"), "\x00\xff\x00"},
	}
	for _, tc := range tests {
		for _, mapped := range []bool{false, true} {
			got, err := ReadString(tc.path, mapped)
			if err != nil {
				t.Fatalf("%s (mapped %v): %v", tc.name, mapped, err)
			}
			if got != tc.want {
				t.Errorf("%s (mapped %v): got %d bytes, want %d", tc.name, mapped, len(got), len(tc.want))
			}
		}
	}
	// A mapped file replaced by rename keeps the content it was read with.
	p := write("replaced", "first version")
	got, err := ReadString(p, true)
	if err != nil {
		t.Fatal(err)
	}
	tmp := write("replaced.tmp", "second version, longer")
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if got != "first version" {
		t.Errorf("after the file was replaced: %q", got)
	}
	for _, mapped := range []bool{false, true} {
		if _, err := ReadString(filepath.Join(dir, "missing"), mapped); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("missing file (mapped %v): err = %v, want not exist", mapped, err)
		}
		if _, err := ReadString(dir, mapped); err == nil {
			t.Errorf("a folder (mapped %v) read without error", mapped)
		}
	}
}
