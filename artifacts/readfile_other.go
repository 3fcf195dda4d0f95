//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package artifacts

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// readNoFollow reads the regular file p, refusing a symlink (checked with
// Lstat first: this platform has no O_NOFOLLOW here) and files larger
// than limit.
func readNoFollow(p string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w: symbolic link not followed", p, ErrUnsafePath)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, limit)
	}
	return b, nil
}

// openNoFollow opens p for reading, refusing a symlink (checked with Lstat
// first).
func openNoFollow(p string) (*os.File, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w: symbolic link not followed", p, ErrUnsafePath)
	}
	return os.Open(p)
}
