//go:build unix

package gitx

import (
	"errors"
	"io/fs"
	"syscall"
)

// readSmall reads a file of at most 4 KiB (a ref): one open, read and
// close, without the poller registration os.Open attempts.
func readSmall(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	buf := make([]byte, 4096)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
	}
	return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("larger than 4 KiB")}
}
