package pipeline

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// stepProcAttr returns the process attributes of a step: its own session,
// and so its own process group (a timeout kills the whole group) and no
// controlling terminal (a step that opens /dev/tty, such as sudo or ssh
// asking for a password, fails at once instead of stopping on the
// operator's terminal, where the run would wait for it forever); and
// SIGKILL when spine itself dies, so that a killed run leaves no step
// running unseen.
func stepProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
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

// groupLeftRunning reports whether a process of group pgid is still
// running (not a zombie waiting to be reaped by its new parent, which
// kill(2) would count too): what a step left behind once its main
// process exited.
func groupLeftRunning(pgid int) bool {
	if pgid <= 0 || syscall.Kill(-pgid, 0) != nil {
		return false
	}
	d, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return true
	}
	want := strconv.Itoa(pgid)
	buf := make([]byte, 512)
	for _, name := range names {
		if name == "" || name[0] < '0' || name[0] > '9' {
			continue
		}
		n, err := readSmall("/proc/"+name+"/stat", buf)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold anything but
		// ends at the last ')'.
		s := string(buf[:n])
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 3 && f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// readSmall reads the start of a small file into buf.
func readSmall(path string, buf []byte) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Read(buf)
}
