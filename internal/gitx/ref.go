package gitx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// ErrRefLocked is returned when a reference's lock file (<ref>.lock) exists:
// another git process is updating the reference, or one died doing so.
var ErrRefLocked = errors.New("reference is locked")

// refFile returns the file of the reference name: HEAD in the git folder
// of the working tree, a reference under refs/ (a branch, a remote-tracking
// branch, spine's own) in the common folder, shared by linked working
// trees. Other names are refused (see sharedRef).
func (g *Repo) refFile(name plumbing.ReferenceName) (string, error) {
	gitDir, commonDir, err := g.dirs()
	if err != nil {
		return "", err
	}
	switch {
	case name == plumbing.HEAD:
		return filepath.Join(gitDir, "HEAD"), nil
	case sharedRef(string(name)):
		return filepath.Join(commonDir, filepath.FromSlash(string(name))), nil
	}
	return "", fmt.Errorf("update %s: not a reference spine moves", name)
}

// sharedRef reports whether name is a reference under refs/ made of
// ordinary path components (what git stores as a file), and one shared by
// linked working trees: not under refs/bisect/, refs/worktree/ or
// refs/rewritten/, which git keeps per working tree.
func sharedRef(name string) bool {
	for _, p := range []string{"refs/bisect/", "refs/worktree/", "refs/rewritten/"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	rest, ok := strings.CutPrefix(name, "refs/")
	return ok && plainBranchRef("refs/heads/"+rest)
}

// updateRef moves the reference name (a detached HEAD, or a reference
// under refs/ such as the branch HEAD names; see refFile) from old to new
// with git's lockfile protocol, so that it never holds anything but the
// old or the new value, and git processes and spine exclude each other:
// <ref>.lock is created exclusively (a lock another process holds is
// waited for refLockTimeout, then ErrRefLocked), the reference's value is
// checked against old under it (ErrHeadMoved if it differs; a zero old
// wants no reference yet), the new value is written to the lock and the
// lock renamed over the reference. A crash leaves the reference whole,
// and at most the lock behind: it is reported to OnIndexLock before
// anything is written to it, so that a later run can tell it is one its
// dead process left (RemoveStaleIndexLock). The move is logged as l says
// (appendRefLogs), under the lock, before the rename.
//
// go-git's own update wrote the reference file in place (truncated, then
// written, under flock, which git does not take): a crash between the two
// left an empty branch, and a git process updating the branch meanwhile
// was not excluded.
func (g *Repo) updateRef(name plumbing.ReferenceName, old, new plumbing.Hash, l refLog) error {
	return g.writeRef(name, &old, new, l)
}

// setRef points the reference name at h whatever it held, with the
// protocol of updateRef.
func (g *Repo) setRef(name plumbing.ReferenceName, h plumbing.Hash, l refLog) error {
	return g.writeRef(name, nil, h, l)
}

// writeRef is updateRef, checking the reference's value against *old
// unless old is nil.
func (g *Repo) writeRef(name plumbing.ReferenceName, old *plumbing.Hash, new plumbing.Hash, l refLog) error {
	file, err := g.refFile(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o777); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	lockPath := file + ".lock"
	f, err := g.lockRef(name, lockPath, false)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(lockPath)
		}
	}()
	// The value held now: checked against old, and the log's "from".
	cur, err := g.refValue(name, file)
	if err != nil {
		if old != nil {
			return err
		}
		// Overwritten whatever it held (git logs such a move from zero).
		cur = plumbing.ZeroHash
	}
	if old != nil {
		if cur != *old {
			if old.IsZero() {
				return fmt.Errorf("%w: %s was created meanwhile, at %s", ErrHeadMoved, name, short(cur))
			}
			return fmt.Errorf("%w: %s is at %s, not %s", ErrHeadMoved, name, short(cur), short(*old))
		}
	}
	if _, err := f.WriteString(new.String() + "\n"); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	from := cur
	if l.from != nil {
		from = *l.from
	}
	if from != new {
		if err := g.appendRefLogs(name, formatRefLog(from, new, l), l); err != nil {
			return err
		}
	}
	done = true
	if err := os.Rename(lockPath, file); err != nil {
		os.Remove(lockPath)
		return fmt.Errorf("update %s: %w", name, err)
	}
	return nil
}

// lockRef creates lockPath, the lock of the reference name, with git's
// protocol (createRefLock), and reports it to OnIndexLock (logOnly: the
// lock of HEAD taken for its log, see lockHead). A lock that exists is
// ErrRefLocked, naming the file. On an error no lock is held.
func (g *Repo) lockRef(name plumbing.ReferenceName, lockPath string, logOnly bool) (*os.File, error) {
	f, err := g.createRefLock(lockPath, string(name), logOnly, refLockTimeout)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("update %s: %w: %s exists (another git process is updating it; if none is, remove the file)", name, ErrRefLocked, lockPath)
	}
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", name, err)
	}
	return f, nil
}

// lockHead takes HEAD's lock for a move of branch, the branch HEAD names,
// as git does when a commit moves it: HEAD's log gets the move's line, and
// a checkout (which writes HEAD under that lock) must wait. Under the lock
// it checks that HEAD still names branch (ErrHeadMoved if a checkout moved
// it since it was read). HEAD itself is not written: unlock removes the
// lock.
func (g *Repo) lockHead(branch plumbing.ReferenceName) (unlock func(), err error) {
	file, err := g.refFile(plumbing.HEAD)
	if err != nil {
		return nil, err
	}
	lockPath := file + ".lock"
	f, err := g.lockRef(plumbing.HEAD, lockPath, true)
	if err != nil {
		return nil, err
	}
	unlock = func() {
		f.Close()
		os.Remove(lockPath)
	}
	data, err := readSmall(file)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("update %s: %w", branch, err)
	}
	if line := strings.TrimSuffix(string(data), "\n"); line != "ref: "+string(branch) {
		unlock()
		return nil, fmt.Errorf("%w: HEAD now holds %q, not %q", ErrHeadMoved, line, "ref: "+string(branch))
	}
	return unlock, nil
}

// refLockTimeout is how long a reference's lock held by another process is
// waited for: git's default core.filesRefLockTimeout, so that spine and git
// processes (a background git gc packing refs, say) updating the same
// reference both go through, as two git processes would.
const refLockTimeout = 100 * time.Millisecond

// createRefLock creates the lock file path (of the reference ref)
// exclusively, reported before it is there (placeLock), trying again
// while it exists for up to timeout, with growing pauses (git's
// lock_file_timeout does the same); after that the error is fs.ErrExist.
func (g *Repo) createRefLock(path, ref string, logOnly bool, timeout time.Duration) (*os.File, error) {
	_, common, err := g.dirs()
	if err != nil {
		return nil, err
	}
	f, tmp, err := g.newLockTemp(common)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		err := g.placeLock(f, tmp, path, ref, logOnly)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			f.Close()
			os.Remove(tmp)
			return nil, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			f.Close()
			os.Remove(tmp)
			return nil, err
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, 16*time.Millisecond)
	}
}

// refValue returns the value of the reference name, whose file is file:
// the loose file's, else the packed one's, else zero (no such reference).
// A loose file that is not an object name (empty, symbolic, garbage) is an
// error naming it: git would not resolve it either.
func (g *Repo) refValue(name plumbing.ReferenceName, file string) (plumbing.Hash, error) {
	data, err := readSmall(file)
	switch {
	case err == nil:
		line := strings.TrimSuffix(string(data), "\n")
		if h, ok := parseHash(line); ok {
			return h, nil
		}
		if name == plumbing.HEAD {
			// HEAD turned symbolic meanwhile (a checkout).
			return plumbing.ZeroHash, fmt.Errorf("%w: HEAD now holds %q", ErrHeadMoved, line)
		}
		return plumbing.ZeroHash, fmt.Errorf("update %s: %s holds %q, not an object name", name, file, line)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return plumbing.ZeroHash, fmt.Errorf("update %s: %w", name, err)
	}
	if name == plumbing.HEAD {
		return plumbing.ZeroHash, nil
	}
	ref, err := g.R.Storer.Reference(name)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return plumbing.ZeroHash, nil
	case err != nil:
		return plumbing.ZeroHash, fmt.Errorf("update %s: %w", name, err)
	case ref.Type() != plumbing.HashReference:
		return plumbing.ZeroHash, fmt.Errorf("update %s: it is a symbolic reference to %s", name, ref.Target())
	}
	return ref.Hash(), nil
}
