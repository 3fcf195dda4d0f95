//go:build unix

package gitx

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/spinehq/spine/internal/fsx"
)

// readSmall reads a file of at most 4 KiB (a ref): one open, read and
// close, without the poller registration os.Open attempts.
func readSmall(path string) ([]byte, error) {
	fd, err := fsx.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	buf := make([]byte, 4096)
	n, err := fsx.ReadFull(fd, buf)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if n == len(buf) {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("larger than 4 KiB")}
	}
	return buf[:n], nil
}

// readToEnd reads fd to its end, as io.ReadAll would, into a buffer made
// for size bytes (what fstat said) plus one, so that a file of that size
// takes one read and the read that sees its end.
func readToEnd(fd int, size int64) ([]byte, error) {
	buf := make([]byte, max(size, 0)+1)
	n := 0
	for {
		m, err := fsx.ReadFull(fd, buf[n:])
		n += m
		if err != nil {
			return nil, err
		}
		if n < len(buf) {
			return buf[:n], nil
		}
		// Grown since fstat: read on.
		buf = append(buf, make([]byte, len(buf))...)
	}
}
