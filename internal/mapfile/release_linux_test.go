package mapfile

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestRelease checks that Release drops a mapping's pages from the
// process's resident memory and that the mapping reads the same content
// afterwards.
func TestRelease(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	m := writeAndMap(t, filepath.Join(t.TempDir(), "f"), content)
	defer m.Close()
	if !bytes.Equal(m.Bytes(), content) {
		t.Fatal("mapping differs from the file")
	}
	before := residentKB(t, m.Bytes())
	if err := m.Release(); err != nil {
		t.Fatal(err)
	}
	after := residentKB(t, m.Bytes())
	if before < 2048 || after > before/4 {
		t.Errorf("resident %d kB after reading the mapping, %d kB after Release: want most of it dropped", before, after)
	}
	if !bytes.Equal(m.Bytes(), content) {
		t.Fatal("mapping differs from the file after Release")
	}
	if got := residentKB(t, m.Bytes()); got < 2048 {
		t.Errorf("resident %d kB after reading the released mapping again", got)
	}
	// Content read into memory, and a closed mapping: nothing to do.
	if err := (&Mapping{b: []byte("x")}).Release(); err != nil {
		t.Error(err)
	}
	m.Close()
	if err := m.Release(); err != nil {
		t.Error(err)
	}
}

// residentKB returns the Rss of the mapping that starts at b's first byte,
// from /proc/self/smaps.
func residentKB(t *testing.T, b []byte) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	start := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&b[0])))
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		// A mapping's header: "start-end perms offset dev inode [path]".
		if f := strings.Fields(line); len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			in = strings.HasPrefix(line, start)
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("mapping at %s not in /proc/self/smaps", start)
	return 0
}
