package pipeline

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// stepProcAttr returns the process attributes of a step: its own process
// group (a timeout kills the whole group), and SIGKILL when spine itself
// dies, so that a killed run leaves no step running unseen.
func stepProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// outputPipe returns a pipe for one of a step's output streams: the read
// end registered with the runtime's poller (so that reading it can be
// abandoned, see finishCopies), the write end a plain blocking descriptor
// for the child. os.Pipe would make both ends non-blocking and register
// both, and os/exec then turn the child's end back to blocking: eight
// system calls per pipe instead of four. The read end of a new pipe has
// no status flag but its access mode, O_RDONLY (0): O_NONBLOCK is set
// without reading them first (syscall.SetNonblock would).
func outputPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETFL, unix.O_RDONLY|unix.O_NONBLOCK); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, nil, os.NewSyscallError("setnonblock", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}
