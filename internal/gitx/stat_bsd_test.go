//go:build darwin || freebsd || netbsd || dragonfly

package gitx

import "syscall"

// setStatMtime sets the modification time in st.
func setStatMtime(st *syscall.Stat_t, sec, nsec int64) {
	st.Mtimespec.Sec, st.Mtimespec.Nsec = sec, nsec
}
