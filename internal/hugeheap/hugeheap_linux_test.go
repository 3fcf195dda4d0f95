package hugeheap

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// vmFlags returns the VmFlags of the mapping of /proc/self/smaps that
// holds address p.
func vmFlags(t *testing.T, p uintptr) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		if start, end, ok := rangeOf(line); ok {
			in = start <= p && p < end
			continue
		}
		if in && bytes.HasPrefix(line, []byte("VmFlags:")) {
			return strings.Fields(string(line[len("VmFlags:"):]))
		}
	}
	t.Fatalf("no mapping holds %#x", p)
	return nil
}

// rangeOf parses the range of a mapping's first line in smaps.
func rangeOf(line []byte) (start, end uintptr, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 5 || !bytes.Contains(f[0], []byte("-")) {
		return 0, 0, false
	}
	fake := append(append([]byte(nil), f[0]...), " rw-p 00000000 00:00 0"...)
	return anonRW(fake)
}

func TestReserveAdvisesTheHeap(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || bytes.Contains(mode, []byte("[never]")) {
		t.Skipf("no transparent huge pages here (%q, %v)", mode, err)
	}
	if !unlimited(syscall.RLIMIT_AS) || !unlimited(syscall.RLIMIT_DATA) {
		t.Skip("under a limit on address space or data, Reserve does nothing")
	}
	const n = 256 << 20
	if err := Reserve(n); err != nil {
		t.Fatal(err)
	}
	// Allocations after Reserve land in the advised arenas: a small
	// object, and a large one the heap had no room for before.
	small := new([64]byte)
	large := make([]byte, 64<<20)
	for _, p := range []uintptr{uintptr(unsafe.Pointer(small)), uintptr(unsafe.Pointer(&large[0])), uintptr(unsafe.Pointer(&large[len(large)-1]))} {
		if flags := vmFlags(t, p); !contains(flags, "hg") {
			t.Errorf("mapping of %#x: VmFlags %v, want hg (MADV_HUGEPAGE)", p, flags)
		}
	}
	runtime.KeepAlive(small)
	runtime.KeepAlive(large)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestAnonRW(t *testing.T) {
	type res struct {
		Start, End uintptr
		OK         bool
	}
	tests := []struct {
		line string
		want res
	}{
		{"10a8b6c00000-10a8bd400000 rw-p 00000000 00:00 0 ", res{0x10a8b6c00000, 0x10a8bd400000, true}},
		{"c000000000-c004000000 rw-p 00000000 00:00 0    [anon: Go: heap]", res{0xc000000000, 0xc004000000, true}},
		{"10a8b4000000-10a8b6c00000 ---p 00000000 00:00 0 ", res{}},
		{"0058f000-0059a000 rw-p 0018f000 fe:00 10021041                           /tmp/t", res{}},
		{"7fffaad08000-7fffaad29000 rw-p 00000000 00:00 0                          [stack]", res{}},
		{"7f5631a20000-7f5631c00000 rw-s 00000000 00:01 12 /dev/zero (deleted)", res{}},
		{"zz-10 rw-p 00000000 00:00 0", res{}},
		{"20-10 rw-p 00000000 00:00 0", res{}},
		{"", res{}},
	}
	for _, tt := range tests {
		s, e, ok := anonRW([]byte(tt.line))
		if diff := cmp.Diff(tt.want, res{s, e, ok}); diff != "" {
			t.Errorf("anonRW(%q) (-want +got):\n%s", tt.line, diff)
		}
	}
}

// TestBytes: the buffer has the length and at least the capacity asked
// for, zeroed; a large one starts on a huge page boundary, in a mapping
// the kernel was asked to back with huge pages.
func TestBytes(t *testing.T) {
	for _, tc := range []struct{ n, c int }{{0, 0}, {10, 100}, {100, 10}, {3 << 20, 3<<20 + 3<<17}, {hugePage, hugePage}, {5, hugePage + 1}} {
		b := Bytes(tc.n, tc.c)
		if len(b) != tc.n || cap(b) < max(tc.n, tc.c) {
			t.Errorf("Bytes(%d, %d): len %d cap %d", tc.n, tc.c, len(b), cap(b))
		}
		if slices.ContainsFunc(b[:cap(b)], func(c byte) bool { return c != 0 }) {
			t.Errorf("Bytes(%d, %d) is not zeroed", tc.n, tc.c)
		}
		if max(tc.n, tc.c) < hugePage {
			continue
		}
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if p%hugePage != 0 {
			t.Errorf("Bytes(%d, %d) is not aligned to %d", tc.n, tc.c, hugePage)
		}
		if f := vmFlags(t, p); !slices.Contains(f, "hg") {
			t.Errorf("Bytes(%d, %d): VmFlags %v, want hg (MADV_HUGEPAGE)", tc.n, tc.c, f)
		}
		runtime.KeepAlive(b)
	}
}
