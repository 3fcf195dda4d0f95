package gitx

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/spinehq/spine/internal/fsx"
	"golang.org/x/sys/unix"
)

// takeSpare makes the spare index file (see indexLock) the index lock:
// it renames spare to lockPath unless lockPath exists, and returns the
// open file and its size. It takes the spare only when it has the mode a
// new lock file would get (0666 less the umask, as git makes it: an
// index made under another umask is not carried over) and nothing else
// can see its content change: a regular file of one link (not a name of
// the index itself, as a commit that stopped between the link and the
// rename leaves it) that no other process has open or mapped. A git reading the
// index it was maps it while it verifies and parses it: the kernel
// refuses a write lease on a file open anywhere else, which tells. A
// spare that is not usable is removed; ok is false when none was taken,
// and the caller creates the lock file as git does. When lockPath exists
// the spare stays, and the caller's create fails as it should.
//
// place puts the spare at lockPath (placeLock: it reports it, then renames
// it there unless lockPath exists); its error is returned, but for one
// wrapping fs.ErrExist, which leaves the spare where it is (not ok, nil).
func takeSpare(spare, lockPath string, mode fs.FileMode, place func(f *os.File, at string) error) (f *os.File, size int64, ok bool, err error) {
	if mode == 0 {
		return nil, 0, false, nil
	}
	f, err = os.OpenFile(spare, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, 0, false, nil
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Nlink != 1 ||
		fs.FileMode(st.Mode&0o7777) != mode || !unshared(f) {
		f.Close()
		os.Remove(spare)
		return nil, 0, false, nil
	}
	switch err := place(f, spare); {
	case err == nil:
		return f, st.Size, true, nil
	case errors.Is(err, fs.ErrExist):
		f.Close()
		return nil, 0, false, nil
	case errors.Is(err, fsx.ErrUnsupported), isLinkErr(err):
		f.Close()
		os.Remove(spare)
		return nil, 0, false, nil
	default:
		f.Close()
		return nil, 0, false, err
	}
}

// isLinkErr reports whether err is a rename's or a link's (the spare
// could not be put in place: the caller makes a new lock instead).
func isLinkErr(err error) bool {
	var le *os.LinkError
	return errors.As(err, &le)
}

// spareMode returns the mode a spare must have to be the next index
// lock: the mode git gives a new index, 0666 less the umask (an index
// made under another umask is not carried over); 0 when the umask cannot
// be read, and then no spare is used.
func spareMode() fs.FileMode {
	umask, ok := fsx.Umask()
	if !ok {
		return 0
	}
	return fsx.FileMode &^ umask
}

// unshared reports whether no other open file description refers to f's
// file (no other process has it open or mapped): whether the kernel
// grants, and then gives up, a write lease on it. Where leases are not
// available it reports false.
func unshared(f *os.File) bool {
	fd := int(f.Fd())
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK); err != nil {
		return false
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
	return err == nil
}

// recycleIndex: the index file a commit replaces is kept as the spare.
const recycleIndex = true
