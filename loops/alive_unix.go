//go:build unix

package loops

import (
	"errors"
	"syscall"
)

// processAlive reports whether process pid may still be running: only
// "no such process" counts as gone (a process of another user is alive).
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
