//go:build linux && !amd64 && !arm64

package site

import "golang.org/x/sys/unix"

// fstatat is fstatat(2) of dir/name relative to the folder fd, without
// following a final symbolic link.
func fstatat(fd int, dir, name string, st *unix.Stat_t) error {
	return fstatatString(fd, dir+"/"+name, st)
}
