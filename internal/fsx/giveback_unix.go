//go:build unix

package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// GiveBack gives every file and folder under dir (dir included) that
// belongs to root (uid 0) to uid, and to gid those whose group is root's
// too: a folder or file that inherited another group (a set-group-ID
// folder of a shared repository) keeps it. Symbolic links are changed
// themselves, never followed, and folders on another file system than
// dir (a mount point) are not entered. It goes on past a failure and
// returns the number of entries changed with the first error.
//
// spine run by root through sudo in a user's repository calls it on the
// way out, so that the objects, refs, receipts and state it made there
// are the user's again: git's and spine's next runs as that user can
// then write where root wrote.
func GiveBack(dir string, uid, gid int) (int, error) {
	top, err := os.Lstat(dir)
	if err != nil {
		return 0, err
	}
	dev := uint64(0)
	if st, ok := top.Sys().(*syscall.Stat_t); ok {
		dev = uint64(st.Dev)
	}
	n := 0
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			keep(err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				keep(err)
			}
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if d.IsDir() && uint64(st.Dev) != dev {
			return fs.SkipDir
		}
		if st.Uid != 0 {
			return nil
		}
		g := -1
		if st.Gid == 0 {
			g = gid
		}
		if err := os.Lchown(p, uid, g); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				keep(err)
			}
			return nil
		}
		n++
		return nil
	})
	if err != nil {
		keep(err)
	}
	return n, first
}
