//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/spinehq/spine/internal/fsx"
)

// readNoFollow reads the regular file p, refusing a symlink (O_NOFOLLOW)
// and files larger than limit. It uses plain system calls: List reads tens
// of thousands of small files, and os.Open's poller registration would
// double the number of calls per file.
func readNoFollow(p string, limit int64) ([]byte, error) {
	fd, err := fsx.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: %w: symbolic link not followed", p, ErrUnsafePath)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fsx.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	if st.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes, larger than %d", p, st.Size, limit)
	}
	// Read the size fstat reported and stop: receipts are written once,
	// atomically, so one more read just to see EOF is not needed.
	buf := make([]byte, st.Size)
	n, err := fsx.ReadFull(fd, buf)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: err}
	}
	return buf[:n], nil // shorter if it shrank since fstat
}

// openNoFollow opens p for reading, refusing a symlink.
func openNoFollow(p string) (*os.File, error) {
	// O_NONBLOCK: opening a FIFO would wait for a writer (hashOpen
	// refuses anything but a regular file).
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: %w: symbolic link not followed", p, ErrUnsafePath)
	}
	return f, err
}
