//go:build !unix

package gitx

import (
	"errors"
	"io/fs"
	"os"
)

// createWrite creates path exclusively with mode perm and writes data to
// it.
func createWrite(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// readSmall reads a file of at most 4 KiB (a ref).
func readSmall(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) > 4096 {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("larger than 4 KiB")}
	}
	return b, err
}
