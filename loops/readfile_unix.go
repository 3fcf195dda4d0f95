//go:build unix

package loops

import (
	"io/fs"
	"syscall"

	"github.com/spinehq/spine/internal/fsx"
)

// readDocument reads the file at path with plain system calls (package
// fsx): open, fstat, reads into the buffer alloc returns for the size
// fstat gave, and close. A
// file over limit bytes is not read: src is nil and size says how large it
// is. A file written meanwhile is read as far as fstat said it was, as any
// reader racing a writer would.
func readDocument(path string, limit int64, alloc func(size int) []byte) (src []byte, size int64, err error) {
	fd, err := fsx.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fsx.Fstat(fd, &st); err != nil {
		return nil, 0, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	}
	if st.Size > limit {
		return nil, st.Size, nil
	}
	src = alloc(int(st.Size))
	n, err := fsx.ReadFull(fd, src)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return src[:n], st.Size, nil
}
