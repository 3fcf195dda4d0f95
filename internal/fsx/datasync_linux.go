package fsx

import (
	"os"

	"golang.org/x/sys/unix"
)

// Fdatasync flushes f's data to the disk, and of its metadata only what
// reading the data back needs (its size, its blocks): fdatasync(2). An
// overwrite of blocks already written and made durable changes neither,
// so on a journaling file system it needs no journal commit, only the
// data's write and the disk's cache flush.
func Fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
