package gitx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/spinehq/spine/internal/fsx"
)

// TokenEnv names the environment variable holding a token for pushing and
// fetching over HTTPS (in GitHub Actions: the job's GITHUB_TOKEN). go-git
// does not read the credentials actions/checkout leaves in .git/config.
const TokenEnv = "SPINE_GIT_TOKEN"

// CurrentBranch returns the short name of the branch HEAD points at, or ""
// when HEAD is detached.
func (g *Repo) CurrentBranch() (string, error) {
	ref, err := g.R.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	if ref.Type() != plumbing.SymbolicReference || !ref.Target().IsBranch() {
		return "", nil
	}
	return ref.Target().Short(), nil
}

// RemoteURL returns the (first) URL of the named remote.
func (g *Repo) RemoteURL(name string) (string, error) {
	rem, err := g.R.Remote(name)
	if err != nil {
		return "", fmt.Errorf("remote %q: %w", name, err)
	}
	urls := rem.Config().URLs
	if len(urls) == 0 {
		return "", fmt.Errorf("remote %q has no URL", name)
	}
	return urls[0], nil
}

// HasRemote reports whether the repository has a remote of that name.
func (g *Repo) HasRemote(name string) bool {
	_, err := g.R.Remote(name)
	return err == nil
}

// authFor returns the credentials for url: a token from $SPINE_GIT_TOKEN
// for HTTP(S) remotes, else nil (go-git's defaults, e.g. the SSH agent).
func authFor(url string) transport.AuthMethod {
	tok := os.Getenv(TokenEnv)
	if tok == "" || !(strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://")) {
		return nil
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: tok}
}

// TrackingRef is the remote-tracking reference of a remote's branch.
func TrackingRef(remote, branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(remote, branch)
}

// hashOf returns the commit the reference name points at, or the zero
// hash when it does not exist or cannot be read (where a move is logged
// from: git logs a new reference's move from zero).
func (g *Repo) hashOf(name plumbing.ReferenceName) plumbing.Hash {
	if ref, err := g.R.Storer.Reference(name); err == nil {
		return ref.Hash()
	}
	return plumbing.ZeroHash
}

// repairTrackingRef removes the remote-tracking branch track when its
// loose file is broken: empty, or not a hash (or a symbolic ref) as a
// whole line. go-git rewrites a ref file in place, and a crash or a power
// cut between its truncation and its write leaves it so; go-git then fails
// every fetch and push on it ("ref file is empty"), and git refuses to
// update it, until someone removes it by hand. The ref is only a copy of
// what the remote had, which the fetch or push that follows writes again;
// its log is kept.
func (g *Repo) repairTrackingRef(track plumbing.ReferenceName) error {
	_, commonDir, err := g.dirs()
	if err != nil {
		return err
	}
	p := filepath.Join(commonDir, filepath.FromSlash(track.String()))
	b, err := os.ReadFile(p)
	if err != nil || looseRefOK(b) {
		return nil // none (or packed, or unreadable): go-git says
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the broken %s: %w", track, err)
	}
	return nil
}

// looseRefOK reports whether b is what a loose ref file holds: a full
// object name (SHA-1 or SHA-256) or "ref: " and a name, and a newline
// or nothing after it.
func looseRefOK(b []byte) bool {
	s := strings.TrimSuffix(string(b), "\n")
	if name, ok := strings.CutPrefix(s, "ref: "); ok {
		return name != "" && !strings.ContainsAny(name, " \n\x00")
	}
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Fetch fetches branch from remote into its remote-tracking reference and
// returns the remote's head, or the zero hash when the remote has no such
// branch. The pack it fetched gets the mode git would give it (see
// gitModes), where that can be done.
func (g *Repo) Fetch(ctx context.Context, remote, branch string) (plumbing.Hash, error) {
	url, err := g.RemoteURL(remote)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	track := TrackingRef(remote, branch)
	if err := g.repairTrackingRef(track); err != nil {
		return plumbing.ZeroHash, err
	}
	tracked := g.hashOf(track)
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), track))
	err = g.R.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remote, RefSpecs: []config.RefSpec{spec}, Tags: git.NoTags, Auth: authFor(url),
	})
	switch {
	case err == nil:
		// The pack fetched gets the mode git would give it (gitModes). A
		// pack whose mode cannot be changed is no reason to fail the
		// fetch: it is there, with go-git's mode.
		if _, commonDir, derr := g.dirs(); derr == nil {
			_ = gitModes(g.Root, commonDir, true)
		}
	case errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, git.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		// No such branch, or no branch at all (a remote nobody pushed
		// to yet).
		return plumbing.ZeroHash, nil
	default:
		return plumbing.ZeroHash, fmt.Errorf("fetch %s from %s: %w", branch, remote, err)
	}
	ref, err := g.R.Storer.Reference(track)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read %s: %w", track, err)
	}
	if tip := ref.Hash(); tip != tracked {
		// go-git moved the remote-tracking branch unlogged: log the move
		// as git fetch words it.
		how := "storing head"
		if !tracked.IsZero() {
			how = "forced-update"
			if ff, err := g.IsAncestor(tracked, tip); err == nil && ff {
				how = "fast-forward"
			}
		}
		// The branch moved already: a log that cannot be written (another
		// git holding the lock) is no reason to fail the fetch.
		l := refLog{who: g.ident(time.Now()), msg: fmt.Sprintf("fetch %s %s: %s", remote, branch, how), from: &tracked}
		_ = g.setRef(track, tip, l)
	}
	return ref.Hash(), nil
}

// Push pushes HEAD (its branch, or the commit when detached) to
// refs/heads/<branch> at remote, never forcing. It reports whether the
// remote branch moved; an up-to-date remote is not an error. A remote that
// moved on makes it fail (go-git checks fast-forwards before sending; the
// receiving side checks again).
func (g *Repo) Push(ctx context.Context, remote, branch string) (bool, error) {
	url, err := g.RemoteURL(remote)
	if err != nil {
		return false, err
	}
	head, err := g.Head()
	if err != nil {
		return false, err
	}
	if head.IsZero() {
		return false, nil
	}
	src := head.String()
	if cur, err := g.CurrentBranch(); err == nil && cur != "" {
		src = plumbing.NewBranchReferenceName(cur).String()
	}
	spec := config.RefSpec(src + ":" + plumbing.NewBranchReferenceName(branch).String())
	track := TrackingRef(remote, branch)
	if err := g.repairTrackingRef(track); err != nil {
		return false, err
	}
	tracked := g.hashOf(track)
	err = g.R.PushContext(ctx, &git.PushOptions{
		RemoteName: remote, RefSpecs: []config.RefSpec{spec}, Auth: authFor(url),
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("push to %s %s: %w", remote, branch, err)
	}
	// go-git updates the tracking ref only for refspecs it can map, and
	// logs nothing: make sure it records what the remote has now, and log
	// the move from where it was before the push, as git does.
	_ = g.setRef(track, head, refLog{who: g.ident(time.Now()), msg: "update by push", from: &tracked})
	return true, nil
}

// Clone clones branch of url into dir (which must not exist or be empty).
// The clone's folders and packs get the modes git would give them under
// the umask (see gitModes).
func Clone(ctx context.Context, url, dir, branch string) (*Repo, error) {
	_, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{
		URL: url, ReferenceName: plumbing.NewBranchReferenceName(branch),
		SingleBranch: true, Tags: git.NoTags, Auth: authFor(url),
	})
	if err != nil {
		return nil, fmt.Errorf("clone %s (%s) into %s: %w", url, branch, dir, err)
	}
	if err := gitModes(dir, filepath.Join(dir, ".git"), false); err != nil {
		return nil, fmt.Errorf("clone %s into %s: %w", url, dir, err)
	}
	return Open(dir)
}

// IsAncestor reports whether commit a is b or one of b's ancestors.
func (g *Repo) IsAncestor(a, b plumbing.Hash) (bool, error) {
	if a == b {
		return true, nil
	}
	ca, err := g.R.CommitObject(a)
	if err != nil {
		return false, fmt.Errorf("read commit %s: %w", a, err)
	}
	cb, err := g.R.CommitObject(b)
	if err != nil {
		return false, fmt.Errorf("read commit %s: %w", b, err)
	}
	return ca.IsAncestor(cb)
}

// MergeBase returns the best common ancestor of a and b (zero when they
// share no history).
func (g *Repo) MergeBase(a, b plumbing.Hash) (plumbing.Hash, error) {
	ca, err := g.R.CommitObject(a)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read commit %s: %w", a, err)
	}
	cb, err := g.R.CommitObject(b)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read commit %s: %w", b, err)
	}
	bases, err := ca.MergeBase(cb)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("merge base of %s and %s: %w", a, b, err)
	}
	if len(bases) == 0 {
		return plumbing.ZeroHash, nil
	}
	return bases[0].Hash, nil
}

// ErrNotLinear is returned by Chain when the history between two commits
// is not a single line of commits.
var ErrNotLinear = errors.New("history is not linear")

// Chain returns the commits after base up to head, oldest first, following
// first parents. It fails with ErrNotLinear when a merge commit is met or
// base is not reached within limit commits.
func (g *Repo) Chain(base, head plumbing.Hash, limit int) ([]*object.Commit, error) {
	var out []*object.Commit
	for h := head; h != base; {
		if len(out) >= limit {
			return nil, fmt.Errorf("%w: %s is not reached within %d commits of %s", ErrNotLinear, short(base), limit, short(head))
		}
		c, err := g.R.CommitObject(h)
		if err != nil {
			return nil, fmt.Errorf("read commit %s: %w", h, err)
		}
		if len(c.ParentHashes) > 1 {
			return nil, fmt.Errorf("%w: %s is a merge", ErrNotLinear, short(h))
		}
		out = append(out, c)
		if len(c.ParentHashes) == 0 {
			if !base.IsZero() {
				return nil, fmt.Errorf("%w: %s does not descend from %s", ErrNotLinear, short(head), short(base))
			}
			break
		}
		h = c.ParentHashes[0]
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func short(h plumbing.Hash) string { return h.String()[:12] }

// Entry is one file of a tree: its blob and mode.
type Entry struct {
	Hash plumbing.Hash
	Mode filemode.FileMode
}

// Change is one path that differs between two trees; a zero From or To
// hash means the path is absent on that side.
type Change struct {
	Path     string
	From, To Entry
}

// treeOf returns the tree of a commit (nil for the zero hash).
func (g *Repo) treeOf(h plumbing.Hash) (*object.Tree, error) {
	if h.IsZero() {
		return nil, nil
	}
	c, err := g.R.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", h, err)
	}
	return t, nil
}

// Diff returns the paths that differ between the trees of commits a and b
// (either may be zero: no files), sorted.
func (g *Repo) Diff(a, b plumbing.Hash) ([]Change, error) {
	ta, err := g.treeOf(a)
	if err != nil {
		return nil, err
	}
	tb, err := g.treeOf(b)
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(ta, tb)
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", a, b, err)
	}
	out := make([]Change, 0, len(changes))
	for _, c := range changes {
		ch := Change{Path: c.From.Name}
		if ch.Path == "" {
			ch.Path = c.To.Name
		}
		if c.From.Name != "" {
			ch.From = Entry{Hash: c.From.TreeEntry.Hash, Mode: c.From.TreeEntry.Mode}
		}
		if c.To.Name != "" {
			ch.To = Entry{Hash: c.To.TreeEntry.Hash, Mode: c.To.TreeEntry.Mode}
		}
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// EntryAt returns the blob of rel in commit h's tree, and whether it is
// there.
func (g *Repo) EntryAt(h plumbing.Hash, rel string) (Entry, bool, error) {
	t, err := g.treeOf(h)
	if err != nil || t == nil {
		return Entry{}, false, err
	}
	e, err := t.FindEntry(rel)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("find %s in %s: %w", rel, short(h), err)
	}
	return Entry{Hash: e.Hash, Mode: e.Mode}, true, nil
}

// Blob returns the content of a blob.
func (g *Repo) Blob(h plumbing.Hash) ([]byte, error) {
	b, err := g.R.BlobObject(h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return data, nil
}

// FileAt returns the content of rel in commit h, and whether it is there.
func (g *Repo) FileAt(h plumbing.Hash, rel string) ([]byte, bool, error) {
	e, ok, err := g.EntryAt(h, rel)
	if err != nil || !ok {
		return nil, ok, err
	}
	data, err := g.Blob(e.Hash)
	return data, err == nil, err
}

// SetRef points the reference name (under refs/) at h, whatever it held,
// with git's lockfile protocol (see updateRef); why is the message of the
// reference's log entry, if it has a log (core.logAllRefUpdates).
func (g *Repo) SetRef(name string, h plumbing.Hash, why string) error {
	return g.setRef(plumbing.ReferenceName(name), h, refLog{who: g.ident(time.Now()), msg: why})
}

// RemoveRef deletes the reference name (absent is fine).
func (g *Repo) RemoveRef(name string) error {
	if err := g.R.Storer.RemoveReference(plumbing.ReferenceName(name)); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// OverwriteError is returned by SwitchTo when moving the working tree would
// overwrite changes that are not committed.
type OverwriteError struct {
	Paths []string
}

// Error names the paths.
func (e *OverwriteError) Error() string {
	return fmt.Sprintf("uncommitted changes to %s would be overwritten", strings.Join(e.Paths, ", "))
}

// workingHash returns the blob hash of the working file rel (a symlink's
// target text for a symlink), and whether it exists.
func (g *Repo) workingHash(rel string) (plumbing.Hash, bool, error) {
	full := filepath.Join(g.Root, filepath.FromSlash(rel))
	fi, err := os.Lstat(full)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("stat %s: %w", rel, err)
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		t, err := os.Readlink(full)
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("read link %s: %w", rel, err)
		}
		return BlobHash([]byte(t)), true, nil
	case fi.IsDir():
		// A folder where a file is expected: never ours to remove.
		return plumbing.ZeroHash, true, nil
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("read %s: %w", rel, err)
	}
	return BlobHash(data), true, nil
}

// SwitchTo moves the current branch (or a detached HEAD) from HEAD to
// target and makes the working tree and the index match target for every
// path whose content differs between the two commits; nothing else in the
// working tree is looked at or touched. Unless force is set it first checks
// each of those paths and refuses, with an *OverwriteError and without
// changing anything, when the working file holds changes that are neither
// HEAD's nor target's version (an operator's uncommitted edit). It returns
// the paths it changed.
func (g *Repo) SwitchTo(target plumbing.Hash, force bool) ([]string, error) {
	return g.switchTo(target, force, nil)
}

// SwitchToOver is SwitchTo that also overwrites a working file holding
// the content mine names for its path (a blob hash; the zero hash: the
// file absent): what a command of this repository's wrote there itself
// and did not commit (a push replaying spine's commits, killed between
// writing a file and committing it), not an operator's edit.
func (g *Repo) SwitchToOver(target plumbing.Hash, mine map[string]plumbing.Hash) ([]string, error) {
	return g.switchTo(target, false, mine)
}

func (g *Repo) switchTo(target plumbing.Hash, force bool, mine map[string]plumbing.Hash) ([]string, error) {
	head, err := g.Head()
	if err != nil {
		return nil, err
	}
	if head == target {
		return nil, nil
	}
	changes, err := g.Diff(head, target)
	if err != nil {
		return nil, err
	}
	if !force {
		var unsafe []string
		for _, ch := range changes {
			wh, exists, err := g.workingHash(ch.Path)
			if err != nil {
				return nil, err
			}
			inFrom, inTo := !ch.From.Hash.IsZero(), !ch.To.Hash.IsZero()
			safe := (!exists && !inFrom) || (!exists && !inTo) ||
				(exists && inFrom && wh == ch.From.Hash) || (exists && inTo && wh == ch.To.Hash)
			if h, ok := mine[ch.Path]; ok && !safe {
				safe = exists && wh == h || !exists && h.IsZero()
			}
			if !safe {
				unsafe = append(unsafe, ch.Path)
			}
		}
		if len(unsafe) > 0 {
			return nil, &OverwriteError{Paths: unsafe}
		}
	}
	// git's lock protocol, as in CommitFiles: nothing is touched while
	// another git holds the index.
	gitDir, err := g.indexDir()
	if err != nil {
		return nil, err
	}
	lock, err := g.lockIndex(gitDir)
	if err != nil {
		return nil, err
	}
	defer lock.rollback()
	idx, err := g.readIndex(gitDir)
	if err != nil {
		return nil, err
	}
	// Removals first (a file may give way to a folder of the same name),
	// deepest first.
	sort.SliceStable(changes, func(i, j int) bool {
		di, dj := changes[i].To.Hash.IsZero(), changes[j].To.Hash.IsZero()
		if di != dj {
			return di
		}
		if di {
			return changes[i].Path > changes[j].Path
		}
		return changes[i].Path < changes[j].Path
	})
	var done []string
	for _, ch := range changes {
		full := filepath.Join(g.Root, filepath.FromSlash(ch.Path))
		if ch.To.Hash.IsZero() {
			if err := os.Remove(full); err != nil && !errors.Is(err, os.ErrNotExist) {
				return done, fmt.Errorf("remove %s: %w", ch.Path, err)
			}
			_, _ = idx.Remove(ch.Path)
			g.pruneDirs(path.Dir(ch.Path))
			done = append(done, ch.Path)
			continue
		}
		if ch.To.Mode == filemode.Submodule {
			continue
		}
		data, err := g.Blob(ch.To.Hash)
		if err != nil {
			return done, err
		}
		if err := writeWorking(full, data, ch.To.Mode); err != nil {
			return done, fmt.Errorf("write %s: %w", ch.Path, err)
		}
		setIndexEntry(idx, ch.Path, ch.To, full)
		done = append(done, ch.Path)
	}
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		return done, fmt.Errorf("write index: %w", err)
	}
	if _, err := lock.Write(buf.Bytes()); err != nil {
		return done, err
	}
	if err := lock.commit(); err != nil {
		return done, err
	}
	if err := g.setHead(head, target, refLog{who: g.ident(time.Now()), msg: "spine: moving to " + target.String()}); err != nil {
		return done, err
	}
	return done, nil
}

// pruneDirs removes now-empty folders from dir up to the root.
func (g *Repo) pruneDirs(dir string) {
	for dir != "." && dir != "/" && dir != "" {
		if err := os.Remove(filepath.Join(g.Root, filepath.FromSlash(dir))); err != nil {
			return
		}
		dir = path.Dir(dir)
	}
}

// writeWorking replaces a working file atomically with data in the given
// git mode.
func writeWorking(full string, data []byte, mode filemode.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(full), fsx.DirMode); err != nil {
		return err
	}
	if fi, err := os.Lstat(full); err == nil && fi.IsDir() {
		return fmt.Errorf("a folder is in the way")
	}
	if mode == filemode.Symlink {
		_ = os.Remove(full)
		return os.Symlink(string(data), full)
	}
	// As git checks a file out: the mode the commit records, less the
	// umask, whatever the replaced file's was.
	perm := fsx.FileMode
	if mode == filemode.Executable {
		perm = fsx.ExecMode
	}
	tmp, err := fsx.CreateTemp(filepath.Dir(full), ".spine-switch-", perm)
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, full)
}

// setIndexEntry records a file just written from a tree in the index, with
// its stat data so `git status` does not need to re-hash it.
func setIndexEntry(idx *index.Index, rel string, e Entry, full string) {
	ent, err := idx.Entry(rel)
	if err != nil {
		ent = &index.Entry{Name: rel}
		idx.Entries = append(idx.Entries, ent)
		sort.Slice(idx.Entries, func(i, j int) bool { return idx.Entries[i].Name < idx.Entries[j].Name })
	}
	ent.Hash, ent.Mode = e.Hash, e.Mode
	if fi, err := os.Lstat(full); err == nil {
		ent.Size = uint32(fi.Size())
		ent.ModifiedAt = fi.ModTime()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ent.CreatedAt = timespecTime(statCtime(st))
			ent.Dev, ent.Inode = uint32(st.Dev), uint32(st.Ino)
			ent.UID, ent.GID = st.Uid, st.Gid
		}
	}
}
