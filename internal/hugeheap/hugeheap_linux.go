package hugeheap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"unsafe"
)

// arenaBytes is the Go heap's arena size on 64-bit Linux: arenas are
// mapped in aligned blocks of this size, from low addresses up.
const arenaBytes = 64 << 20

// madvHugepage is MADV_HUGEPAGE (the syscall package does not name it).
const madvHugepage = 14

func reserve(n int) error {
	if lim := debug.SetMemoryLimit(-1); int64(n) > lim {
		n = int(lim)
	}
	if n <= 0 || unsafe.Sizeof(uintptr(0)) < 8 || !unlimited(syscall.RLIMIT_AS) || !unlimited(syscall.RLIMIT_DATA) {
		return nil
	}
	small := new([64]byte)
	block := make([]byte, n)
	lo := min(uintptr(unsafe.Pointer(small)), uintptr(unsafe.Pointer(&block[0]))) &^ (arenaBytes - 1)
	hi := uintptr(unsafe.Pointer(&block[0])) + uintptr(n)
	err := adviseRange(lo, hi)
	runtime.KeepAlive(small)
	runtime.KeepAlive(block)
	block = nil
	debug.FreeOSMemory()
	return err
}

// unlimited reports whether the resource limit has no soft limit: under a
// limit on address space or data, the untouched block could be what makes
// an allocation fail (fatally, in Go), so nothing is reserved.
func unlimited(resource int) bool {
	var rl syscall.Rlimit
	return syscall.Getrlimit(resource, &rl) == nil && rl.Cur == rlimInfinity
}

// rlimInfinity is RLIM_INFINITY.
const rlimInfinity = ^uint64(0)

// adviseRange asks for huge pages on every private anonymous read-write
// mapping of the process that overlaps [lo, hi): the heap's arenas.
func adviseRange(lo, hi uintptr) error {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("huge pages: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	advised := 0
	for sc.Scan() {
		start, end, ok := anonRW(sc.Bytes())
		if !ok || end <= lo || start >= hi {
			continue
		}
		start, end = max(start, lo), min(end, hi)
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, madvHugepage); e != 0 {
			if e == syscall.EINVAL {
				return nil // no transparent huge pages in this kernel
			}
			return fmt.Errorf("huge pages: madvise: %w", e)
		}
		advised++
	}
	if advised == 0 {
		return errors.New("huge pages: no heap mapping found")
	}
	return nil
}

// anonRW parses one line of /proc/self/maps and reports the range of a
// private anonymous read-write mapping: "start-end rw-p 00000000 00:00 0",
// with no name or the runtime's "[anon: Go: ...]".
func anonRW(line []byte) (start, end uintptr, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 5 || !bytes.Equal(f[1], []byte("rw-p")) || !bytes.Equal(f[3], []byte("00:00")) || !bytes.Equal(f[4], []byte("0")) {
		return 0, 0, false
	}
	if len(f) > 5 && !bytes.HasPrefix(f[5], []byte("[anon:")) {
		return 0, 0, false
	}
	a, b, found := bytes.Cut(f[0], []byte("-"))
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(string(a), 16, 64)
	e, err2 := strconv.ParseUint(string(b), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}

// hugePage is the size of a transparent huge page on x86-64 and on arm64
// with 4 KB pages.
const hugePage = 2 << 20

func makeBytes(n, c int) []byte {
	if c < hugePage {
		return make([]byte, n, c)
	}
	// Whole huge pages from a 2 MB boundary: one more to align within.
	size := (c + hugePage - 1) &^ (hugePage - 1)
	b := make([]byte, size+hugePage)
	off := 0
	if a := uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (hugePage - 1); a != 0 {
		off = int(hugePage - a)
	}
	b = b[off : off+size]
	syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(size), madvHugepage)
	return b[:n]
}
