//go:build darwin || freebsd || netbsd || dragonfly

package gitx

import (
	"os"
	"syscall"
	"time"
)

// statMtime and statCtime return the modification and change times of st:
// the stat structure names them differently from one system to another.
func statMtime(st *syscall.Stat_t) syscall.Timespec { return st.Mtimespec }

func statCtime(st *syscall.Stat_t) syscall.Timespec { return st.Ctimespec }

// freshen sets p's mtime to now. (Linux sets it as git's utime(p, NULL)
// does; here the owner's os.Chtimes does.)
func freshen(p string) error {
	now := time.Now()
	return os.Chtimes(p, now, now)
}
