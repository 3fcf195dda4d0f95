//go:build unix

package site

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/spinehq/spine/internal/fsx"
)

// readFileNoFollow reads the regular file at path, refusing a symbolic link
// in its last component and files larger than limit bytes. It uses plain
// system calls: open, fstat, one read into a buffer of the file's size (a
// buffer one byte larger, so that a file that grew is noticed and read to
// its end), and close. That is half the cost of os.ReadFile here, and no
// byte is allocated (and zeroed) that the caller does not keep. O_NONBLOCK
// keeps a FIFO from blocking the build; reading a directory or a device
// fails.
func readFileNoFollow(path string, limit int64) ([]byte, error) {
	data, _, err := readFileFD(path, limit, false)
	return data, err
}

// readFileStat is readFileNoFollow that also returns the file's stat, as
// fstat reported it before the read. Callers record that stat only when
// the file's mtime and ctime are before their cutoff (sumCache.cutoff, at
// least racyWindow before the build began, so before this read): a file
// changed during or after the read has a ctime past the cutoff, so its
// stat can never again equal the recorded one, and the next build reads
// it again. A second fstat after the read would tell nothing more.
func readFileStat(path string, limit int64) ([]byte, fileStat, error) {
	return readFileFD(path, limit, true)
}

func readFileFD(path string, limit int64, wantStat bool) ([]byte, fileStat, error) {
	fd, err := fsx.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fileStat{}, fmt.Errorf("%s: symbolic link not followed", path)
		}
		return nil, fileStat{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	return readFD(fd, path, limit, wantStat)
}

// readFD is readFileFD's read of the open file fd (path names it in
// errors); the caller closes fd.
func readFD(fd int, path string, limit int64, wantStat bool) ([]byte, fileStat, error) {
	var st syscall.Stat_t
	if err := fsx.Fstat(fd, &st); err != nil {
		return nil, fileStat{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fileStat{}, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size > limit {
		return nil, fileStat{}, fmt.Errorf("%s: over the %d-byte limit", path, limit)
	}
	buf := make([]byte, 0, min(limit, st.Size)+1)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, fileStat{}, fmt.Errorf("%s: over the %d-byte limit", path, limit)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		want := cap(buf) - len(buf)
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return nil, fileStat{}, fmt.Errorf("%s: not a regular file", path)
		}
		if err != nil {
			return nil, fileStat{}, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n <= 0 {
			break
		}
		buf = buf[:len(buf)+n]
		if n < want {
			// A short read from a regular file is its end.
			break
		}
	}
	if int64(len(buf)) > limit {
		return nil, fileStat{}, fmt.Errorf("%s: over the %d-byte limit", path, limit)
	}
	var before fileStat
	if wantStat {
		before = sysFileStat(&st)
	}
	if cap(buf)-len(buf) > 512 {
		// Callers keep what they read (receipts stay in memory between
		// builds): do not keep the slack of a file that shrank.
		buf = append([]byte(nil), buf...)
	}
	return buf, before, nil
}

// lexists reports whether path names a file (without following a final
// symbolic link); errors other than "not found" count as existing, so that
// callers go on to the full check and report them.
func lexists(path string) bool {
	var st syscall.Stat_t
	for {
		err := syscall.Lstat(path, &st)
		if err == syscall.EINTR {
			continue
		}
		return err != syscall.ENOENT && err != syscall.ENOTDIR
	}
}

// writeFileAtomic writes data to path through a temporary file renamed into
// place, so that a reader (the site server) never sees a partial page.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".spine-tmp"
	if err := writeNew(tmp, data); err != nil {
		return err
	}
	if err := syscall.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}

// errNotRegular refuses a FIFO, a device or a socket where a file is read.
var errNotRegular = errors.New("not a regular file")

// openNoFollow opens the regular file path for reading without following
// a final symlink. Anything else is refused: opening a FIFO (O_NONBLOCK
// keeps that from waiting for a writer) would hang the build.
func openNoFollow(path string) (*os.File, error) {
	fd, err := fsx.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := fsx.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	// Reads of a regular file never wait: O_NONBLOCK changes nothing.
	return os.NewFile(uintptr(fd), path), nil
}

// writeFileDirect writes data to path, a file the last build did not
// write: created anew (O_EXCL), or, when something is there already (a
// file a crash left, or a link put in the output folder: a hard link
// truncated would truncate a receipt), replaced by writeFileAtomic.
func writeFileDirect(path string, data []byte) error {
	err := fsx.WriteFile(path, data, os.O_EXCL, fsx.FileMode)
	if errors.Is(err, fs.ErrExist) {
		return writeFileAtomic(path, data)
	}
	return err
}

// hardLinked reports whether the file fi describes has other names (a
// hard link made to it): the build's own files have one.
func hardLinked(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}
