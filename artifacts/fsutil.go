package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spinehq/spine/internal/fsx"
)

// ErrUnsafePath is wrapped by the errors SafeJoin and ArtifactPath return
// for paths that could leave the repository.
var ErrUnsafePath = errors.New("unsafe path")

// splitRel splits a repository-relative, slash-separated path into its
// components, rejecting anything that could escape root: absolute paths,
// volume names, backslashes, NUL bytes and ".." components. "." and empty
// components are dropped.
func splitRel(rel string) ([]string, error) {
	switch {
	case rel == "":
		return nil, fmt.Errorf("%w: empty path", ErrUnsafePath)
	case strings.IndexByte(rel, 0) >= 0:
		return nil, fmt.Errorf("%w %q: contains NUL", ErrUnsafePath, rel)
	case strings.IndexByte(rel, '\\') >= 0:
		return nil, fmt.Errorf("%w %q: contains a backslash", ErrUnsafePath, rel)
	case strings.HasPrefix(rel, "/") || filepath.IsAbs(rel) || filepath.VolumeName(rel) != "":
		return nil, fmt.Errorf("%w %q: absolute", ErrUnsafePath, rel)
	}
	parts := strings.Split(rel, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("%w %q: has a .. component", ErrUnsafePath, rel)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w %q: names no file below the root", ErrUnsafePath, rel)
	}
	return out, nil
}

// SafeJoin joins root and the slash-separated relative path rel, refusing
// (with an error wrapping ErrUnsafePath) any rel that is empty, absolute,
// holds a NUL byte, a backslash or a ".." component, and any rel whose
// existing components, checked one by one with Lstat from root down, include
// a symbolic link. Components that do not exist yet are fine (the caller
// creates them). root itself is trusted and may be a symlink.
//
// The check is a snapshot: it protects against links committed to the
// repository, not against a concurrent process swapping a directory for a
// link between the check and the write.
func SafeJoin(root, rel string) (string, error) {
	p, _, err := SafeLstat(root, rel)
	return p, err
}

// SafeLstat is SafeJoin that also returns the Lstat of rel's last
// component, which the check made anyway: nil when rel (or a folder on its
// way) does not exist. A caller that needs both saves a system call.
func SafeLstat(root, rel string) (string, fs.FileInfo, error) {
	parts, err := splitRel(rel)
	if err != nil {
		return "", nil, err
	}
	p, _, fi, err := safeWalk(root, parts)
	if err != nil {
		return "", nil, fmt.Errorf("safe join %q: %w", rel, err)
	}
	return p, fi, nil
}

// safeWalk joins root and parts, checking each existing component with
// Lstat: none may be a symlink, and all but the last must be directories.
// It returns the joined path, the index of the first component that does
// not exist (len(parts) when all do) and, when all do, the last one's
// FileInfo.
func safeWalk(root string, parts []string) (string, int, fs.FileInfo, error) {
	cur := root
	missing := len(parts)
	var last fs.FileInfo
	for i, p := range parts {
		cur = filepath.Join(cur, p)
		if missing < len(parts) {
			continue
		}
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = i
		case err != nil:
			return "", 0, nil, err
		case fi.Mode()&fs.ModeSymlink != 0:
			return "", 0, nil, fmt.Errorf("%w: %s is a symbolic link", ErrUnsafePath, path.Join(parts[:i+1]...))
		case i < len(parts)-1 && !fi.IsDir():
			return "", 0, nil, fmt.Errorf("%w: %s is not a directory", ErrUnsafePath, path.Join(parts[:i+1]...))
		case i == len(parts)-1:
			last = fi
		}
	}
	return cur, missing, last, nil
}

// ValidateFileName checks one path component used as an artifact name or
// loop slug: not empty, no '/', '\\', NUL, newline or carriage return, not
// starting with '.' (so neither "..", hidden files nor temp files), and
// containing no "..".
func ValidateFileName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrUnsafePath)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("%w %q: starts with '.'", ErrUnsafePath, name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w %q: contains \"..\"", ErrUnsafePath, name)
	case strings.ContainsAny(name, "/\\\x00\n\r"):
		return fmt.Errorf("%w %q: contains '/', '\\', NUL or a line break", ErrUnsafePath, name)
	}
	return nil
}

// ArtifactRelPath returns the repository-relative, slash-separated path
// <artifactsDir>/<loopSlug>/<name> of an artifact file, as recorded in
// ArtifactRef.Path. loopSlug and name must pass ValidateFileName;
// artifactsDir must be a safe relative path.
func ArtifactRelPath(artifactsDir, loopSlug, name string) (string, error) {
	if err := ValidateFileName(loopSlug); err != nil {
		return "", fmt.Errorf("artifact path: loop slug: %w", err)
	}
	if err := ValidateFileName(name); err != nil {
		return "", fmt.Errorf("artifact path: name: %w", err)
	}
	parts, err := splitRel(artifactsDir)
	if err != nil {
		return "", fmt.Errorf("artifact path: artifacts dir: %w", err)
	}
	return path.Join(append(parts, loopSlug, name)...), nil
}

// ArtifactPath returns the file-system path of artifact name of loop
// loopSlug: <repoRoot>/<artifactsDir>/<loopSlug>/<name>, checked with
// ArtifactRelPath and SafeJoin (no escaping the repository, no symlinks).
func ArtifactPath(repoRoot, artifactsDir, loopSlug, name string) (string, error) {
	rel, err := ArtifactRelPath(artifactsDir, loopSlug, name)
	if err != nil {
		return "", err
	}
	p, err := SafeJoin(repoRoot, rel)
	if err != nil {
		return "", fmt.Errorf("artifact path: %w", err)
	}
	return p, nil
}

// AtomicFile is a file written under a temporary name in its final
// directory and moved into place by Commit, so that readers and crashes see
// either no file or the complete one. Use CreateAtomic to make one, and call
// Abort (deferred) to remove the temporary file if Commit is never reached.
// An AtomicFile is not safe for concurrent use.
type AtomicFile struct {
	f    *os.File
	path string
	// keepMode is set when the file replaces one, whose mode it takes.
	keepMode  bool
	mode      fs.FileMode
	dirSync   []string // directories to fsync before the file counts as durable
	synced    bool     // data synced and temporary file closed
	done      bool     // committed or aborted
	committed bool
	noSync    bool // leave durability to the caller (see DeferSync)
}

// DeferSync makes Commit skip its fsyncs: the rename is still atomic
// (readers see no file or the whole file), but durability across a power
// failure is left to the caller, which syncs the file system once for many
// files (SyncFS) before relying on them.
func (a *AtomicFile) DeferSync() { a.noSync = true }

// CreateAtomic starts writing path atomically: it creates a temporary file
// ".<base>.tmp-*" beside path. The directory must exist. A new file gets
// mode perm less the umask, as a file created in place would (perm is
// fsx.FileMode but for a file that must stay private); a file that exists
// keeps its mode: an operator's document made private stays private once
// spine rewrites it, and one shared with a group stays shared.
func CreateAtomic(path string, perm fs.FileMode) (*AtomicFile, error) {
	return createAtomic(path, perm, true)
}

// createAtomic is CreateAtomic; keep says whether a file replaced keeps
// its mode.
func createAtomic(path string, perm fs.FileMode, keep bool) (*AtomicFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	a := &AtomicFile{path: path}
	if keep {
		if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
			a.keepMode, a.mode = true, fi.Mode().Perm()
		}
	}
	f, err := fsx.CreateTemp(dir, "."+base+".tmp-", perm)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	a.f = f
	return a, nil
}

// Name returns the final path of the file.
func (a *AtomicFile) Name() string { return a.path }

// Write writes to the temporary file.
func (a *AtomicFile) Write(p []byte) (int, error) {
	if a.done || a.synced {
		return 0, fmt.Errorf("write %s: %w", a.path, fs.ErrClosed)
	}
	n, err := a.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", a.path, err)
	}
	return n, nil
}

// syncData gives the temporary file the mode of the file it replaces (if
// any), fsyncs and closes it (once). On failure the temporary file is
// removed and a is done.
func (a *AtomicFile) syncData() error {
	if a.done {
		return fmt.Errorf("commit %s: %w", a.path, fs.ErrClosed)
	}
	if a.synced {
		return nil
	}
	a.synced = true
	var err error
	if a.keepMode {
		err = a.f.Chmod(a.mode)
	}
	if err == nil && !a.noSync {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		a.done = true
		_ = os.Remove(a.f.Name())
		return fmt.Errorf("commit %s: %w", a.path, err)
	}
	return nil
}

// syncDirs fsyncs the directories a still owes, concurrently.
func (a *AtomicFile) syncDirs() error {
	dirs := a.dirSync
	a.dirSync = nil
	if a.noSync {
		return nil
	}
	return syncConcurrently(dirSyncs(dirs)...)
}

// syncParent fsyncs the file's directory unless syncs are deferred.
func (a *AtomicFile) syncParent() error {
	if a.noSync {
		return nil
	}
	return fsx.SyncDir(filepath.Dir(a.path))
}

// Commit makes the file durable and moves it into place, replacing any file
// (or symlink, which is not followed) at the final path, then syncs the
// directory so the rename itself survives a crash.
func (a *AtomicFile) Commit() error {
	if err := syncConcurrently(a.syncData, a.syncDirs); err != nil {
		return err
	}
	a.done = true
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		_ = os.Remove(a.f.Name())
		return fmt.Errorf("commit %s: %w", a.path, err)
	}
	a.committed = true
	return a.syncParent()
}

// CommitNoReplace is Commit that refuses to replace an existing file: it
// returns an error wrapping fs.ErrExist and leaves the existing file alone.
// It renames the temporary file into place with RENAME_NOREPLACE, or
// where that is unsupported hard-links it, either of which fails
// atomically when the target exists; on file systems without hard links
// it falls back to an existence check followed by a rename.
func (a *AtomicFile) CommitNoReplace() error {
	if err := syncConcurrently(a.syncData, a.syncDirs); err != nil {
		return err
	}
	a.done = true
	tmp := a.f.Name()
	err := fsx.RenameNoReplace(tmp, a.path)
	if err != nil {
		// Not renamed: the temporary name goes, linked or not.
		defer os.Remove(tmp)
	}
	if errors.Is(err, fsx.ErrUnsupported) {
		err = os.Link(tmp, a.path)
	}
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("commit %s: %w", a.path, fs.ErrExist)
	default:
		if _, lerr := os.Lstat(a.path); lerr == nil {
			return fmt.Errorf("commit %s: %w", a.path, fs.ErrExist)
		}
		if err := os.Rename(tmp, a.path); err != nil {
			return fmt.Errorf("commit %s: %w", a.path, err)
		}
	}
	a.committed = true
	return a.syncParent()
}

// Abort removes the temporary file. It does nothing after Commit, so it is
// safe to defer.
func (a *AtomicFile) Abort() error {
	if a.done {
		return nil
	}
	a.done = true
	if !a.synced {
		_ = a.f.Close()
	}
	if err := os.Remove(a.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort %s: %w", a.path, err)
	}
	return nil
}

// syncConcurrently runs fns at the same time (fsyncs of independent files
// overlap on any storage with a queue) and returns their errors joined.
func syncConcurrently(fns ...func() error) error {
	switch len(fns) {
	case 0:
		return nil
	case 1:
		return fns[0]()
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns[1:] {
		wg.Go(func() { errs[i+1] = fn() })
	}
	errs[0] = fns[0]()
	wg.Wait()
	return errors.Join(errs...)
}

// dirSyncs returns one syncDir call per directory.
func dirSyncs(dirs []string) []func() error {
	fns := make([]func() error, len(dirs))
	for i, d := range dirs {
		fns[i] = func() error { return fsx.SyncDir(d) }
	}
	return fns
}

// WriteFileAtomic writes data to path so that a crash leaves either the old
// content (or no file) or the complete new content: temporary file in the
// same directory, fsync, rename, fsync of the directory. The directory must
// exist. A symlink at path is replaced, not followed. The file's mode is
// as CreateAtomic gives it: perm less the umask for a new file, the old
// file's for a replaced one. Callers that take path from repository
// content should build it with SafeJoin.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeFileAtomic(path, data, perm, true)
}

// WriteFileAtomicMode is WriteFileAtomic for a file whose mode is perm
// less the umask even when it replaces one, as git gives a file it checks
// out the mode the commit records (fsx.FileMode or fsx.ExecMode), not the
// mode of the file it replaces.
func WriteFileAtomicMode(path string, data []byte, perm fs.FileMode) error {
	return writeFileAtomic(path, data, perm, false)
}

func writeFileAtomic(path string, data []byte, perm fs.FileMode, keep bool) error {
	a, err := createAtomic(path, perm, keep)
	if err != nil {
		return err
	}
	defer a.Abort()
	if _, err := a.Write(data); err != nil {
		return err
	}
	return a.Commit()
}

// mkdirSafe creates the directory root/rel and any missing parents,
// refusing symlinks and non-directories among the existing components. It
// returns the path and the directories that gained an entry: fsync them
// (before or with the first file written below) for the new directories to
// survive a crash.
func mkdirSafe(root, rel string, perm fs.FileMode) (string, []string, error) {
	parts, err := splitRel(rel)
	if err != nil {
		return "", nil, err
	}
	abs, missing, _, err := safeWalk(root, parts)
	if err != nil {
		return "", nil, fmt.Errorf("mkdir %q: %w", rel, err)
	}
	var dirty []string
	if missing < len(parts) {
		cur := filepath.Join(root, filepath.Join(parts[:missing]...))
		for _, p := range parts[missing:] {
			parent := cur
			cur = filepath.Join(cur, p)
			err := os.Mkdir(cur, perm)
			switch {
			case err == nil:
				dirty = append(dirty, parent)
			case errors.Is(err, fs.ErrExist): // created concurrently
				fi, lerr := os.Lstat(cur)
				if lerr != nil {
					return "", nil, fmt.Errorf("mkdir %s: %w", cur, lerr)
				}
				if !fi.IsDir() {
					return "", nil, fmt.Errorf("mkdir %s: %w: exists and is not a directory", cur, ErrUnsafePath)
				}
			default:
				return "", nil, fmt.Errorf("mkdir %s: %w", cur, err)
			}
		}
	}
	return abs, dirty, nil
}

// SyncFS flushes everything written to the file system holding path to
// stable storage (syncfs(2)): one call makes a whole stage's receipts,
// logs and artifacts durable, instead of a round of fsyncs per file.
func SyncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer f.Close()
	if err := syncfs(f); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
