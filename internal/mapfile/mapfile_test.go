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

// writeAndMap writes content to the file p and maps it.
func writeAndMap(t *testing.T, p string, content []byte) *Mapping {
	t.Helper()
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Map(f)
	f.Close()
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return m
}

func TestMap(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("0123456789abcdef", 1<<16) + "end"
	for _, tc := range []struct{ name, content string }{
		{"small", "hello\n"},
		{"empty", ""},
		{"over a megabyte", big},
	} {
		p := filepath.Join(dir, tc.name)
		m := writeAndMap(t, p, []byte(tc.content))
		// Replaced by rename while mapped: the mapping keeps the old
		// content.
		if err := os.WriteFile(p+".new", []byte("replaced"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".new", p); err != nil {
			t.Fatal(err)
		}
		if got := string(m.Bytes()); got != tc.content {
			t.Errorf("%s: got %d bytes, want %d", tc.name, len(got), len(tc.content))
		}
		if err := m.Close(); err != nil {
			t.Errorf("%s: close: %v", tc.name, err)
		}
		if m.Bytes() != nil {
			t.Errorf("%s: bytes still there after Close", tc.name)
		}
		if err := m.Close(); err != nil {
			t.Errorf("%s: second close: %v", tc.name, err)
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Map(f); err == nil {
		t.Error("a folder mapped without error")
	}
}
