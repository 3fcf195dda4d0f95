//go:build linux || openbsd

package gitx

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// statMtime and statCtime return the modification and change times of st:
// the stat structure names them differently from one system to another.
func statMtime(st *syscall.Stat_t) syscall.Timespec { return st.Mtim }

func statCtime(st *syscall.Stat_t) syscall.Timespec { return st.Ctim }

// freshen sets p's mtime to now, as git's utime(p, NULL) does (write
// permission is enough for it, unlike setting a given time).
func freshen(p string) error {
	now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, now, 0); err != nil {
		return &fs.PathError{Op: "utime", Path: p, Err: err}
	}
	return nil
}
