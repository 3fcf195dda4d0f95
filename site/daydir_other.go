//go:build !linux

package site

import (
	"io/fs"
	"os"
	"path/filepath"
)

// dayDir is a day folder of the receipts (YYYY/MM/DD); outside Linux its
// files are named by their absolute paths.
type dayDir struct{ abs string }

// openDayDir lists the day folder abs, sorted by name.
func openDayDir(abs string) (*dayDir, []fs.DirEntry, error) {
	des, err := os.ReadDir(abs)
	if err != nil {
		return nil, nil, err
	}
	return &dayDir{abs: abs}, des, nil
}

// close does nothing.
func (d *dayDir) close() {}

// lstat is lstatFile of the file run/name (relative to the folder).
func (d *dayDir) lstat(run, name string) (fileStat, bool) {
	return lstatFile(filepath.Join(d.abs, run, name))
}

// exists is lexists of the file run/name (relative to the folder).
func (d *dayDir) exists(run, name string) bool { return lexists(filepath.Join(d.abs, run, name)) }

// readFileStat is readFileStat of the file run/name (relative to the
// folder).
func (d *dayDir) readFileStat(run, name string, limit int64) ([]byte, fileStat, error) {
	return readFileStat(filepath.Join(d.abs, run, name), limit)
}
