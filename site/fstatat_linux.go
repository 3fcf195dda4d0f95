//go:build linux && (amd64 || arm64)

package site

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// fstatat is fstatat(2) of dir/name relative to the folder fd, without
// following a final symbolic link. The path is put together in a buffer
// on the stack rather than in two strings on the heap (unix.Fstatat's
// copy and the join), for the three calls a receipt takes.
func fstatat(fd int, dir, name string, st *unix.Stat_t) error {
	var buf [256]byte
	if len(dir)+1+len(name) >= len(buf) {
		return fstatatString(fd, dir+"/"+name, st)
	}
	n := copy(buf[:], dir)
	buf[n] = '/'
	n += 1 + copy(buf[n+1:], name)
	buf[n] = 0
	for {
		_, _, e := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}
