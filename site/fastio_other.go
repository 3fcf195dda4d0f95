//go:build !unix

package site

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// readFileNoFollow reads the regular file at path, refusing symbolic links
// and files larger than limit bytes.
func readFileNoFollow(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, over the %d-byte limit", path, fi.Size(), limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// readFileStat is readFileNoFollow; no stat is recorded outside Linux.
func readFileStat(path string, limit int64) ([]byte, fileStat, error) {
	data, err := readFileNoFollow(path, limit)
	return data, fileStat{}, err
}

// writeFileAtomic writes data to path through a temporary file renamed into
// place.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".spine-tmp"
	if err := writeNew(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// openNoFollow opens path for reading, refusing a symbolic link.
func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: symbolic link not followed", path)
	}
	return os.Open(path)
}

// writeFileDirect writes data to path through writeFileAtomic, which
// makes its temporary file afresh (writeNew): a link at path is replaced,
// not written through.
func writeFileDirect(path string, data []byte) error {
	return writeFileAtomic(path, data)
}

// lexists reports whether path names a file (without following a final
// symbolic link); errors other than "not found" count as existing, so that
// callers go on to the full check and report them.
func lexists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// hardLinked reports whether the file fi describes has other names; not
// known here.
func hardLinked(fs.FileInfo) bool { return false }
