//go:build unix

package gitx

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// createWrite creates path exclusively with mode perm and writes data to
// it, without the poller registration os.OpenFile attempts for every file.
func createWrite(path string, data []byte, perm fs.FileMode) error {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			syscall.Close(fd)
			os.Remove(path)
			return &fs.PathError{Op: "write", Path: path, Err: err}
		}
		data = data[n:]
	}
	if err := syscall.Close(fd); err != nil {
		os.Remove(path)
		return &fs.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

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
