package gitx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spinehq/spine/internal/fsx"
)

// A lock file (index.lock, a reference's .lock) is taken with git's
// protocol, exclusively, but made visible only once OnIndexLock has its
// identity: it is first made under a temporary name, reported, and then
// renamed to the lock's path without replacing anything (placeLock). So a
// process killed at any moment leaves either no lock, or a lock its
// journal names by inode and birth time, which the next command can tell
// from any other process's (RemoveStaleIndexLock). A lock taken first and
// reported after left, when killed in between, a lock nobody could tell
// its own: every later run stopped on it.

// lockTempPrefix starts the names of the temporary files locks are made
// in, in the repository's git folder: `spine-lock.<pid>.<n>`, never a
// name git reads as a reference.
const lockTempPrefix = "spine-lock."

// newLockTemp creates an empty temporary file for a lock in dir (the
// repository's common git folder), removing first those that dead
// processes left (killed between making one and placing it).
func (g *Repo) newLockTemp(dir string) (*os.File, string, error) {
	sweepLockTemps(dir)
	name := filepath.Join(dir, lockTempPrefix+strconv.Itoa(os.Getpid())+"."+strconv.FormatUint(g.lockSeq.Add(1), 10))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrExist) {
		// This pid's, from an earlier process: gone.
		os.Remove(name)
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	}
	if err != nil {
		return nil, "", err
	}
	return f, name, nil
}

// sweepLockTemps removes the lock temporaries in dir of processes that
// are gone. It is best effort.
func sweepLockTemps(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, lockTempPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, ".")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.Remove(filepath.Join(dir, n))
		}
	}
}

// placeLock reports the lock file f, open at tmp, as the lock at lockPath
// (of the reference ref, "" for index.lock) and then renames it there,
// unless lockPath exists: the error then wraps fs.ErrExist, and tmp is
// left for the caller. Where the system has no such rename, it links tmp
// to lockPath (which also fails when lockPath exists) and removes tmp.
func (g *Repo) placeLock(f *os.File, tmp, lockPath, ref string, logOnly bool) error {
	born, err := g.reportLock(f, lockPath, tmp, ref, logOnly)
	if err != nil {
		return err
	}
	err = fsx.RenameNoReplace(tmp, lockPath)
	if errors.Is(err, fsx.ErrUnsupported) {
		if err = os.Link(tmp, lockPath); err == nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return err
	}
	if !born {
		// Named by a change time the rename moved: named again.
		if _, err := g.reportLock(f, lockPath, lockPath, ref, logOnly); err != nil {
			return err
		}
	}
	if g.OnLockPlaced != nil {
		if err := g.OnLockPlaced(ref, logOnly); err != nil {
			os.Remove(lockPath)
			return err
		}
	}
	return nil
}

// lockFileError names an existing lock file in the words of git.
func lockFileError(lockPath string, err error) error {
	return fmt.Errorf("%s exists: another git process is running, or one crashed (remove the file if none is running): %w", lockPath, err)
}
