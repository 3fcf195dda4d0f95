//go:build unix

package gitx

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadToEndReadsTheWholeFile checks readToEnd whatever the size it is
// told: the file's (one read and the end), smaller (the file grew since
// fstat: it reads on), zero, and larger (it shrank).
func TestReadToEndReadsTheWholeFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		size    int64
	}{
		{"empty", "", 0},
		{"exact", "receipt\n", 8},
		{"grown since fstat", strings.Repeat("x", 100_000), 10},
		{"size zero, content", "abc", 0},
		{"shrunk since fstat", "ab", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			got, err := readToEnd(fd, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.content, string(got)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
		})
	}
}
