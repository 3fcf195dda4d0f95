//go:build linux || openbsd

package gitx

import "syscall"

// setStatMtime sets the modification time in st.
func setStatMtime(st *syscall.Stat_t, sec, nsec int64) { st.Mtim.Sec, st.Mtim.Nsec = sec, nsec }
