package gitx

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on the platforms
// spine runs on (x86-64 and arm64 with 4 KiB pages).
const hugePage = 2 << 20

// makeLarge returns a zeroed slice of length n and capacity at least c
// for a large buffer written and read whole (an index file), backed where
// possible by transparent huge pages. The kernel maps a fresh page of
// memory on its first touch, one fault per 4 KiB page; on some virtual
// machines such a fault costs some 20 µs, so that reading a 3 MB index
// into new memory took longer than hashing it. With the kernel's THP
// setting "madvise" (a common default) the Go heap gets no huge pages, so
// the buffer's whole 2 MiB blocks are advised (MADV_HUGEPAGE) before
// anything touches them: each then costs one fault. The advice is only
// that: when it is refused or no huge page is free, the memory is the
// same ordinary memory.
func makeLarge(n, c int) []byte {
	c = max(c, n)
	if c < hugePage {
		return make([]byte, n, c)
	}
	// Whole huge pages from a 2 MiB boundary: allocate one more to
	// align within. The Go heap hands out fresh memory from the OS
	// untouched (it is known to be zero), so the advice comes in time
	// for the first faults; memory reused from the heap is already
	// mapped, and the advice changes nothing there.
	size := (c + hugePage - 1) &^ (hugePage - 1)
	b := make([]byte, size+hugePage)
	off := 0
	if a := uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (hugePage - 1); a != 0 {
		off = int(hugePage - a)
	}
	b = b[off : off+size]
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	return b[:n]
}
