//go:build unix

package fsx

import "syscall"

// The plain system calls spine's hot readers use instead of os.Open,
// which adds a poller registration attempt and several fcntl calls per
// file: reading thousands of documents, receipts or refs, those cost more
// than the reads. Each retries on EINTR.

// Open opens path with open(2) and returns the raw descriptor; the caller
// closes it with syscall.Close.
func Open(path string, flag int, perm uint32) (int, error) {
	for {
		fd, err := syscall.Open(path, flag, perm)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// Fstat fills st with fstat(2) of fd.
func Fstat(fd int, st *syscall.Stat_t) error {
	for {
		err := syscall.Fstat(fd, st)
		if err != syscall.EINTR {
			return err
		}
	}
}

// ReadFull reads from fd into buf until buf is full or the file ends, and
// returns the number of bytes read.
func ReadFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m <= 0 {
			break
		}
		n += m
	}
	return n, nil
}
