//go:build !unix

package loops

import (
	"io"
	"os"
)

// readDocument reads the file at path into the buffer alloc returns for
// its size. A file over limit bytes is not read: src is nil and size says
// how large it is.
func readDocument(path string, limit int64, alloc func(size int) []byte) (src []byte, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() > limit {
		return nil, fi.Size(), nil
	}
	src = alloc(int(fi.Size()))
	n, err := io.ReadFull(f, src)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, 0, err
	}
	return src[:n], fi.Size(), nil
}
