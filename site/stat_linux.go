package site

import "syscall"

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
		return fileStat{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: uint64(st.Ino), Dev: uint64(st.Dev)}, true
	}
}
