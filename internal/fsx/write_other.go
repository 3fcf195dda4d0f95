//go:build !unix

package fsx

import (
	"io/fs"
	"os"
)

// WriteFile writes data to the file at path, creating it with mode perm;
// flag adds os.O_EXCL or os.O_TRUNC. When a write or the close fails, the
// file is removed.
func WriteFile(path string, data []byte, flag int, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, perm)
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
