//go:build unix && !linux

package pipeline

import (
	"os"
	"syscall"
)

// stepProcAttr returns the process attributes of a step: its own session,
// and so its own process group (a timeout kills the whole group) and no
// controlling terminal (see the Linux version). (Only Linux also kills a
// step when spine itself dies.)
func stepProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}

// outputPipe returns a pipe for one of a step's output streams (see the
// Linux version, which saves system calls).
func outputPipe() (r, w *os.File, err error) { return os.Pipe() }

// groupLeftRunning reports whether a process of group pgid still exists
// (a zombie not yet reaped counts too here).
func groupLeftRunning(pgid int) bool {
	return pgid > 0 && syscall.Kill(-pgid, 0) == nil
}
