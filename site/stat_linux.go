package site

import (
	"os"
	"syscall"
)

// lstatFile returns the stat of the regular file at path, without
// following a symbolic link; ok is false for anything else or an error.
func lstatFile(path string) (fileStat, bool) {
	var st syscall.Stat_t
	for {
		err := syscall.Lstat(path, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return fileStat{}, false
		}
		return sysFileStat(&st), true
	}
}

// sysFileStat converts a regular file's stat.
func sysFileStat(st *syscall.Stat_t) fileStat {
	return fileStat{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: uint64(st.Ino), Dev: uint64(st.Dev)}
}

// infoFileStat returns the stat behind fi (from Stat or Lstat) of a
// regular file; ok is false for anything else.
func infoFileStat(fi os.FileInfo) (fileStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fileStat{}, false
	}
	return sysFileStat(st), true
}
