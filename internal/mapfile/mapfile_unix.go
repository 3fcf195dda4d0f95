//go:build unix

package mapfile

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapString maps the file at path; ok is false when it cannot be mapped
// (an empty or special file, or mmap refused) and should be read instead.
func mapString(path string) (s string, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", false, err
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 || fi.Size() != int64(int(fi.Size())) {
		return "", false, nil
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return "", false, nil
	}
	return unsafe.String(&b[0], len(b)), true, nil
}

// mapFile maps the first size bytes of f read-only; ok is false when it
// cannot (f should be read instead).
func mapFile(f *os.File, size int) (b []byte, unmap func([]byte) error, ok bool) {
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, false
	}
	return b, unix.Munmap, true
}

// releasePages drops the resident pages of the read-only file mapping b
// (MADV_DONTNEED: a private mapping that was never written reads the file
// again).
func releasePages(b []byte) error { return unix.Madvise(b, unix.MADV_DONTNEED) }
