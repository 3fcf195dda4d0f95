//go:build unix

package fsx

import (
	"io/fs"
	"os"
	"syscall"
)

// WriteFile writes data to the file at path, creating it with mode perm;
// flag adds os.O_EXCL (the file must not exist) or os.O_TRUNC (an existing
// file is truncated). A symbolic link at path is never followed. It uses
// plain system calls, without the poller registration os.OpenFile attempts
// for every file (spine writes receipts, objects and pages by the
// thousand). When a write or the close fails, the file is removed: no
// partial file stays behind.
func WriteFile(path string, data []byte, flag int, perm fs.FileMode) error {
	fd, err := Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|flag, uint32(perm.Perm()))
	if err != nil {
		return &fs.PathError{Op: "create", Path: path, Err: err}
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
