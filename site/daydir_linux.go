//go:build linux

package site

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dayDir is an open day folder of the receipts (YYYY/MM/DD). The system
// calls on the files of its run folders name them relative to it
// ("<RUN_KEY>/receipt.json"): the kernel then walks two path components
// instead of every one of the absolute path (about 1 µs less a call here,
// for three calls a receipt).
type dayDir struct {
	f   *os.File
	fd  int
	abs string
}

// openDayDir opens the day folder abs, without following a symbolic
// link, and lists it, sorted by name as os.ReadDir does.
func openDayDir(abs string) (*dayDir, []fs.DirEntry, error) {
	f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, err
	}
	des, err := f.ReadDir(-1)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	sortDirEntries(des)
	return &dayDir{f: f, fd: int(f.Fd()), abs: abs}, des, nil
}

// close closes the folder.
func (d *dayDir) close() { d.f.Close() }

// lstat returns the stat of the regular file run/name (relative to the
// folder), without following a symbolic link; ok is false for anything
// else or an error. It is lstatFile of the file's absolute path.
func (d *dayDir) lstat(run, name string) (fileStat, bool) {
	var st unix.Stat_t
	if err := fstatat(d.fd, run, name, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileStat{}, false
	}
	return fileStat{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino, Dev: st.Dev}, true
}

// exists is lexists of the file run/name (relative to the folder).
func (d *dayDir) exists(run, name string) bool {
	var st unix.Stat_t
	err := fstatat(d.fd, run, name, &st)
	return err != unix.ENOENT && err != unix.ENOTDIR
}

// readFileStat is readFileStat of the file run/name (relative to the
// folder); errors name the file by its absolute path, as readFileStat's
// do.
func (d *dayDir) readFileStat(run, name string, limit int64) ([]byte, fileStat, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Openat(d.fd, run+"/"+name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != unix.EINTR {
			break
		}
	}
	path := d.abs + string(os.PathSeparator) + run + string(os.PathSeparator) + name
	if err != nil {
		if err == unix.ELOOP {
			return nil, fileStat{}, fmt.Errorf("%s: symbolic link not followed", path)
		}
		return nil, fileStat{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	return readFD(fd, path, limit, true)
}

// fstatatString is fstatat(2) of path relative to the folder fd, without
// following a final symbolic link.
func fstatatString(fd int, path string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(fd, path, st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			return err
		}
	}
}
