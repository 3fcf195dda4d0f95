//go:build unix

package fsx

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// CreateTemp creates a new file named prefix followed by a random number
// in dir, open for reading and writing, as os.CreateTemp does (prefix
// takes no "*"), with mode perm less the umask (os.CreateTemp's is 0600):
// a file written under a temporary name and renamed into place gets the
// mode a file created in place would. It uses plain system calls:
// os.CreateTemp would also try to register the regular file with the
// poller (four more calls for every receipt written).
func CreateTemp(dir, prefix string, perm fs.FileMode) (*os.File, error) {
	for try := 0; try < 10000; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		fd, err := syscall.Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, uint32(perm.Perm()))
		switch err {
		case nil:
			return os.NewFile(uintptr(fd), name), nil
		case syscall.EINTR, syscall.EEXIST:
			continue
		}
		return nil, &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, prefix+"*"), Err: err}
	}
	return nil, &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, prefix+"*"), Err: fs.ErrExist}
}
