// Package hugeheap asks the kernel to back the Go heap with transparent
// huge pages: the whole heap, for the commands that build a large heap
// once and exit (Reserve), or one large buffer (Bytes).
//
// On the virtual machines spine runs on, a page fault on fresh memory is
// very expensive (about 23 µs per 4 KB page, measured: touching 200 MB
// costs about a second), because the guest's page tables are shadowed by
// the host. Where transparent huge pages are enabled for the regions that
// ask for them (/sys/kernel/mm/transparent_hugepage/enabled set to
// "madvise", the common default), a 2 MB huge page costs one fault instead
// of 512: the same 200 MB is touched in about 30 ms. The Go runtime does not
// ask for huge pages itself (it stopped doing so in Go 1.21.1), so this
// package does it for the heap's address space up front.
//
// Nothing depends on it for correctness: where the kernel or the system
// refuses, the heap keeps its ordinary pages.
package hugeheap

// Reserve makes the Go heap span at least n bytes of address space and
// asks that all of it be backed by transparent huge pages, where the
// system supports that (Linux; elsewhere it does nothing). It allocates
// one untouched block of n bytes, so that the runtime maps the heap arenas
// that later allocations will reuse, advises every anonymous mapping of
// the heap between the first arena and the block's end, then releases the
// block (runtime/debug.FreeOSMemory, which also runs a collection: the
// block never counts towards the heap the collector paces).
//
// n is cut to the soft memory limit (runtime/debug.SetMemoryLimit), and
// nothing is reserved under a limit on address space or data size
// (RLIMIT_AS, RLIMIT_DATA).
//
// Call it once, early, in a process that builds a large heap and exits
// (a one-shot site build): a huge page is faulted in whole, so a sparse
// heap can use more resident memory than with 4 KB pages.
func Reserve(n int) error { return reserve(n) }

// Bytes returns a zeroed slice of length n and capacity at least c for a
// large buffer written and read whole (a git index file: 3 MB at 20,000
// files), with its whole 2 MB blocks advised for huge pages before
// anything touches them, where the system supports that (Linux; elsewhere
// it is make). The Go heap hands out fresh memory from the system
// untouched, so a process's first such buffer costs a fault per 2 MB
// rather than per 4 KB; memory the heap reuses is mapped already, and
// the advice changes nothing there. Below 2 MB it is make.
func Bytes(n, c int) []byte { return makeBytes(n, max(c, n)) }
