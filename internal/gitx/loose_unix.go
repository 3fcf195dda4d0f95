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
