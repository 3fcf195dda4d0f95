//go:build unix && !linux

package pipeline

import (
	"os"
	"syscall"
)

// stepProcAttr returns the process attributes of a step: its own process
// group, so that a timeout kills the whole group. (Only Linux also kills a
// step when spine itself dies.)
func stepProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// outputPipe returns a pipe for one of a step's output streams (see the
// Linux version, which saves system calls).
func outputPipe() (r, w *os.File, err error) { return os.Pipe() }
