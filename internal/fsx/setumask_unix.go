//go:build unix

package fsx

import (
	"io/fs"
	"syscall"
)

// SetUmask sets the process's umask to mask and returns the one it
// replaced. The umask is the whole process's: call it as a command
// starts, before any goroutine creates files.
func SetUmask(mask fs.FileMode) fs.FileMode {
	return fs.FileMode(syscall.Umask(int(mask & 0o777)))
}
