//go:build !unix

package fsx

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// CreateTemp creates a new file named prefix followed by a random number
// in dir, open for reading and writing, with mode perm (as far as the
// system has modes).
func CreateTemp(dir, prefix string, perm fs.FileMode) (*os.File, error) {
	for try := 0; try < 10000; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if err == nil || !os.IsExist(err) {
			return f, err
		}
	}
	return nil, &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, prefix+"*"), Err: fs.ErrExist}
}
