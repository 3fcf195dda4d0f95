//go:build unix

package loops

import (
	"io/fs"
	"syscall"
)

// readDocument reads the file at path with plain system calls: open,
// fstat, reads into the buffer alloc returns for the size fstat gave, and
// close. os.Open adds a poller registration attempt and four fcntl calls
// per file, which for thousands of documents cost more than the reads. A
// file over limit bytes is not read: src is nil and size says how large it
// is. A file written meanwhile is read as far as fstat said it was, as any
// reader racing a writer would.
func readDocument(path string, limit int64, alloc func(size int) []byte) (src []byte, size int64, err error) {
	var fd int
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	for {
		err = syscall.Fstat(fd, &st)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, 0, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	}
	if st.Size > limit {
		return nil, st.Size, nil
	}
	src = alloc(int(st.Size))
	n := 0
	for n < len(src) {
		m, err := syscall.Read(fd, src[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, 0, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m <= 0 {
			break
		}
		n += m
	}
	return src[:n], st.Size, nil
}
