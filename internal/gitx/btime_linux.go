package gitx

import "golang.org/x/sys/unix"

// birthTime returns the birth time of the file at path in nanoseconds, 0
// when the file system does not record one.
func birthTime(path string) int64 {
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &sx); err != nil || sx.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return sx.Btime.Sec*1e9 + int64(sx.Btime.Nsec)
}
