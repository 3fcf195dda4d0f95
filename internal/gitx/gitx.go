// Package gitx is spine's git plumbing on top of go-git: committing exactly
// the files spine wrote at a cost proportional to them (never a
// whole-worktree status), comparing working files with HEAD, and walking a
// file's history for approvals.
package gitx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/mapfile"
)

// Repo is an open repository with a working tree.
type Repo struct {
	Root string
	R    *git.Repository

	index   indexCache // what CommitFiles last wrote
	loose   looseWriter
	gitDirs gitDirs
	// headDirs holds HEAD's folders HeadEntry read.
	headDirs headDirs
	// OnIndexLock, when set, is called with each lock file a commit has
	// just created, before it writes anything else to it: the index.lock
	// CommitFiles takes first, then the lock of the branch a commit (or
	// SwitchTo) moves (IndexLock.Ref set); an error stops the change. A caller
	// that records them can tell, after a crash, its own stale locks from
	// another git process's (RemoveStaleIndexLock).
	OnIndexLock func(IndexLock) error
	// OnLockPlaced, when set, is called once a lock OnIndexLock was told
	// of is in place (for fault injection: a process killed there holds
	// the lock); an error stops the change, as OnIndexLock's does.
	OnLockPlaced func(ref string, logOnly bool) error
	// lockSeq numbers the temporary files locks are made in.
	lockSeq atomic.Uint64
	// splitMinEntries: CommitFiles splits an index of this many entries
	// with core.splitIndex unset (see split.go; never, outside tests).
	splitMinEntries int
	// packMinObjects and packMaxBytes: a commit of this many new objects
	// writes them as a pack, holding at most this many bytes of their
	// content for it (see pack.go; the defaults, outside tests).
	packMinObjects, packMaxBytes int
}

// Open opens the repository whose working tree is root.
func Open(root string) (*Repo, error) {
	r, err := git.PlainOpenWithOptions(root, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", root, err)
	}
	g := &Repo{Root: root, R: r, splitMinEntries: defaultSplitMinEntries,
		packMinObjects: defaultPackMinObjects, packMaxBytes: defaultPackMaxBytes}
	// Reads go on after git repacks (see objectStore). Without a .git of
	// its own (a bare repository) nothing is wrapped: commits need one.
	if st, ok := r.Storer.(*filesystem.Storage); ok {
		if objects, err := g.objectsDir(); err == nil {
			store := newObjectStore(st, filepath.Join(objects, "pack"))
			if _, common, err := g.dirs(); err == nil {
				store.commonDir = common
			}
			r.Storer = store
		}
	}
	g.index.mapped = &mappedShared{}
	// The mapping of the shared index a commit read stays for the next
	// commits; it is released once the Repo is gone (nothing read from
	// it outlives a CommitFiles or readIndex call, which keep g alive).
	runtime.AddCleanup(g, func(m *mappedShared) { m.m.Close() }, g.index.mapped)
	return g, nil
}

// mappedShared holds the mapping of a Repo's shared index.
type mappedShared struct{ m *mapfile.Mapping }

// GitDir returns the repository's git folder: .git, or the folder a .git
// file names (a linked working tree's own).
func (g *Repo) GitDir() (string, error) {
	gitDir, _, err := g.dirs()
	return gitDir, err
}

// Head returns the commit HEAD points at, or the zero hash in a repository
// without commits.
func (g *Repo) Head() (plumbing.Hash, error) {
	if h, ok := g.looseHead(); ok {
		return h, nil
	}
	ref, err := g.R.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read HEAD: %w", err)
	}
	return ref.Hash(), nil
}

// HeadCommit returns HEAD's commit object (nil without commits).
func (g *Repo) HeadCommit() (*object.Commit, error) {
	h, err := g.Head()
	if err != nil || h.IsZero() {
		return nil, err
	}
	return g.R.CommitObject(h)
}

// BlobHash returns the git blob hash of data.
func BlobHash(data []byte) plumbing.Hash {
	return plumbing.ComputeHash(plumbing.BlobObject, data)
}

// HeadEntry returns the blob hash of the repository-relative path in HEAD's
// tree, and whether it exists there.
func (g *Repo) HeadEntry(rel string) (plumbing.Hash, bool, error) {
	head, err := g.Head()
	if err != nil || head.IsZero() {
		return plumbing.ZeroHash, false, err
	}
	dir, base := path.Split(rel)
	entries, err := g.headDirs.folder(g, head, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	h, ok := entries[base]
	return h, ok, nil
}

// headDirs caches, for one HEAD commit, the entries of the folders
// HeadEntry looked in: a planner asks about every loop document with work
// left, thousands in one folder, and go-git would decode that folder's
// tree again for each.
type headDirs struct {
	mu      sync.Mutex
	head    plumbing.Hash
	root    *object.Tree
	folders map[string]map[string]plumbing.Hash
}

// folder returns the entries (name to hash) of the folder dir ("" for the
// root) in commit head's tree; none when it has no such folder.
func (c *headDirs) folder(g *Repo, head plumbing.Hash, dir string) (map[string]plumbing.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.head != head {
		commit, err := g.R.CommitObject(head)
		if err != nil {
			return nil, fmt.Errorf("read HEAD commit: %w", err)
		}
		root, err := commit.Tree()
		if err != nil {
			return nil, fmt.Errorf("read HEAD tree: %w", err)
		}
		c.head, c.root, c.folders = head, root, map[string]map[string]plumbing.Hash{}
	}
	if m, ok := c.folders[dir]; ok {
		return m, nil
	}
	t := c.root
	if dir != "" {
		var err error
		t, err = c.root.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
			t = &object.Tree{}
		} else if err != nil {
			return nil, fmt.Errorf("read %s in HEAD: %w", dir, err)
		}
	}
	m := make(map[string]plumbing.Hash, len(t.Entries))
	for _, e := range t.Entries {
		m[e.Name] = e.Hash
	}
	c.folders[dir] = m
	return m, nil
}

// HeadFile returns the content of the repository-relative path in HEAD's
// tree, and whether it exists there.
func (g *Repo) HeadFile(rel string) ([]byte, bool, error) {
	h, ok, err := g.HeadEntry(rel)
	if err != nil || !ok {
		return nil, false, err
	}
	data, err := g.Blob(h)
	if err != nil {
		return nil, false, fmt.Errorf("%s in HEAD: %w", rel, err)
	}
	return data, true, nil
}

// Dirty reports whether the working file rel differs from HEAD (modified,
// or not committed at all).
func (g *Repo) Dirty(rel string, content []byte) (bool, error) {
	h, ok, err := g.HeadEntry(rel)
	if err != nil {
		return false, err
	}
	return !ok || h != BlobHash(content), nil
}

// Signature returns the author spine commits as: user.name and
// user.email as git finds them (the repository's configuration, then the
// user's and the system's, with GIT_CONFIG_GLOBAL and friends), overridden
// by GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, else "spine <spine@HOST>".
func (g *Repo) Signature(host string, now time.Time) object.Signature {
	sig := object.Signature{Name: "spine", Email: "spine@" + host, When: now}
	if cfg, err := g.config(); err == nil {
		if v, _ := cfg.get("user", "name"); v != "" {
			sig.Name = v
		}
		if v, _ := cfg.get("user", "email"); v != "" {
			sig.Email = v
		}
	}
	if v := os.Getenv("GIT_AUTHOR_NAME"); v != "" {
		sig.Name = v
	}
	if v := os.Getenv("GIT_AUTHOR_EMAIL"); v != "" {
		sig.Email = v
	}
	return sig
}

// ErrHeadMoved is returned by CommitFiles when HEAD changed between the
// caller reading it and the commit (another writer).
var ErrHeadMoved = errors.New("HEAD moved during commit")

// CommitFiles commits the given repository-relative files, as they are in
// the working tree, on top of HEAD, and stages them in the index. Files
// that no longer exist are removed from the tree. The cost is proportional
// to the files and the depth of their folders, not to the size of the
// repository, and with core.splitIndex true (or an index already split)
// not to the index's size either: a split index (split.go), whose
// .git/index holds only the entries changed since its shared index was
// written. It returns the new commit hash; when nothing changed it
// returns HEAD and false.
//
// It follows git's locking protocol: the new index is written to
// index.lock, which is created exclusively before anything else is
// written and renamed over the index once HEAD has moved. When index.lock
// already exists (another git process, or one that crashed) it fails,
// naming the file, without writing anything; when HEAD cannot be moved the
// index is left as it was.
func (g *Repo) CommitFiles(paths []string, msg string, author object.Signature) (plumbing.Hash, bool, error) {
	head, err := g.Head()
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	var rootTree *object.Tree
	var parents []plumbing.Hash
	if !head.IsZero() {
		c, err := g.R.CommitObject(head)
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("read HEAD commit: %w", err)
		}
		if rootTree, err = c.Tree(); err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("read HEAD tree: %w", err)
		}
		parents = []plumbing.Hash{head}
	}
	gitDir, err := g.indexDir()
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	lock, err := g.lockIndex(gitDir)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	defer lock.rollback()
	g.index.mu.Lock()
	defer g.index.mu.Unlock()
	pol, err := g.splitPolicy(gitDir)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	// The new objects are held and written at once before anything
	// refers to them: as one pack when there are many (pack.go).
	g.beginBatch()
	defer g.dropBatch()
	changes := map[string]*change{}
	var files []*stagedFile
	for _, rel := range dedupe(paths) {
		f, err := g.stage(rel)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		files = append(files, f)
		changes[rel] = &change{hash: f.hash, mode: f.mode, deleted: f.deleted}
	}
	// The index is made and written to its lock file on another
	// goroutine while this one makes the trees and the commit and writes
	// the objects: in a large repository the index is most of a commit's
	// work (a plain index of 20,000 files is 2.4 MB, hashed and written
	// whole), and the objects' file creations are most of the rest. The
	// two touch nothing in common (files and pol are read only, the
	// index cache is held through g.index.mu); the index still takes
	// effect (lock.commit) only after the branch moved. Every return
	// waits for it first (the deferred wait runs before the deferred
	// unlock and rollback).
	type indexResult struct {
		sum [indexHashLen]byte
		err error
	}
	indexed := make(chan indexResult, 1)
	go func() {
		sum, err := g.index.update(lock, gitDir, files, pol)
		indexed <- indexResult{sum, err}
	}()
	waitIndex := sync.OnceValue(func() indexResult { return <-indexed })
	defer waitIndex()
	newRoot, err := g.updateTree(rootTree, "", changes)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	oldRoot := plumbing.ZeroHash
	if rootTree != nil {
		oldRoot = rootTree.Hash
	}
	if newRoot == oldRoot {
		r := waitIndex()
		if r.err != nil {
			return plumbing.ZeroHash, false, r.err
		}
		if err := g.flushBatch(); err != nil {
			return plumbing.ZeroHash, false, err
		}
		if err := lock.commit(); err != nil {
			return plumbing.ZeroHash, false, err
		}
		g.index.wrote(lock.path, r.sum)
		return head, false, nil
	}
	commit := &object.Commit{
		Author: author, Committer: author, Message: msg,
		TreeHash: newRoot, ParentHashes: parents,
	}
	obj := g.R.Storer.NewEncodedObject()
	if err := commit.Encode(obj); err != nil {
		return plumbing.ZeroHash, false, err
	}
	ch, err := g.writeEncoded(obj)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("write commit: %w", err)
	}
	if err := g.flushBatch(); err != nil {
		return plumbing.ZeroHash, false, err
	}
	// The branch moves only once the index is ready to follow it.
	r := waitIndex()
	if r.err != nil {
		return plumbing.ZeroHash, false, r.err
	}
	l := commitLog(author, msg, head.IsZero())
	l.mode = pol.logRefs
	if err := g.setHead(head, ch, l); err != nil {
		return plumbing.ZeroHash, false, err
	}
	if err := lock.commit(); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("commit %s made but the index was not updated: %w", short(ch), err)
	}
	g.index.wrote(lock.path, r.sum)
	return ch, true, nil
}

// setHead moves the branch HEAD points at (or a detached HEAD) from old to
// new, refusing when it is no longer at old, and logs the move as l says
// in the branch's log and HEAD's.
func (g *Repo) setHead(old, new plumbing.Hash, l refLog) error {
	headRef, err := g.R.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return fmt.Errorf("read HEAD: %w", err)
	}
	if headRef.Type() != plumbing.SymbolicReference {
		return g.updateRef(plumbing.HEAD, old, new, l)
	}
	name := headRef.Target()
	l.head = true
	unlock, err := g.lockHead(name)
	if err != nil {
		return err
	}
	defer unlock()
	return g.updateRef(name, old, new, l)
}

type change struct {
	hash    plumbing.Hash
	mode    filemode.FileMode
	deleted bool
}

func dedupe(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		p = path.Clean(filepath.ToSlash(p))
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// stage writes the working file's blob (unless the object exists) and
// returns it with the file's stat data for its index entry.
func (g *Repo) stage(rel string) (*stagedFile, error) {
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
		return nil, fmt.Errorf("commit: path %q is outside the repository", rel)
	}
	full := filepath.Join(g.Root, filepath.FromSlash(rel))
	fi, err := os.Lstat(full)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// Gone, or a folder on its path is now a file.
		return &stagedFile{rel: rel, deleted: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("commit %s: not a regular file", rel)
	}
	// Plain system calls (package fsx): os.Open would also try, and fail,
	// to register the file with the poller, five more calls per file.
	fd, err := fsx.Open(full, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", rel, &fs.PathError{Op: "open", Path: full, Err: err})
	}
	defer syscall.Close(fd)
	// The stat data recorded is the opened file's, taken before reading
	// it: a later change moves its mtime, so git re-hashes it.
	sf := &stagedFile{rel: rel, mode: filemode.Regular}
	if err := fsx.Fstat(fd, &sf.stat); err != nil {
		return nil, fmt.Errorf("commit %s: %w", rel, err)
	}
	if sf.stat.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf("commit %s: not a regular file", rel)
	}
	if sf.stat.Mode&0o111 != 0 {
		sf.mode = filemode.Executable
	}
	data, err := readToEnd(fd, sf.stat.Size)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", rel, &fs.PathError{Op: "read", Path: full, Err: err})
	}
	if sf.hash, err = g.writeObject(plumbing.BlobObject, data); err != nil {
		return nil, fmt.Errorf("commit %s: write blob: %w", rel, err)
	}
	return sf, nil
}

// updateTree returns the hash of tree (at prefix) with changes applied,
// writing only the trees on the changed paths.
func (g *Repo) updateTree(tree *object.Tree, prefix string, changes map[string]*change) (plumbing.Hash, error) {
	entries := map[string]object.TreeEntry{}
	if tree != nil {
		for _, e := range tree.Entries {
			entries[e.Name] = e
		}
	}
	// Group changes by the first path component below prefix.
	direct := map[string]*change{}
	sub := map[string]map[string]*change{}
	for p, ch := range changes {
		rest := p
		if prefix != "" {
			rest = strings.TrimPrefix(p, prefix+"/")
		}
		first, _, nested := strings.Cut(rest, "/")
		if !nested {
			direct[first] = ch
			continue
		}
		if sub[first] == nil {
			sub[first] = map[string]*change{}
		}
		sub[first][p] = ch
	}
	for name, ch := range direct {
		if ch.deleted {
			delete(entries, name)
			continue
		}
		entries[name] = object.TreeEntry{Name: name, Mode: ch.mode, Hash: ch.hash}
	}
	for name, chs := range sub {
		var child *object.Tree
		if e, ok := entries[name]; ok && e.Mode == filemode.Dir {
			t, err := g.R.TreeObject(e.Hash)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", path.Join(prefix, name), err)
			}
			child = t
		}
		h, err := g.updateTree(child, path.Join(prefix, name), chs)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if h.IsZero() {
			// The folder is empty now (or never was: a file that
			// replaces it, staged above, stays).
			if e, ok := entries[name]; ok && e.Mode == filemode.Dir {
				delete(entries, name)
			}
			continue
		}
		entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, nil
	}
	t := &object.Tree{}
	for _, e := range entries {
		t.Entries = append(t.Entries, e)
	}
	sort.Slice(t.Entries, func(i, j int) bool { return treeLess(t.Entries[i], t.Entries[j]) })
	obj := g.R.Storer.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	if tree != nil && obj.Hash() == tree.Hash {
		return tree.Hash, nil // unchanged: nothing to write
	}
	return g.writeEncoded(obj)
}

// writeEncoded stores an object encoded by go-git (tree, commit) with
// writeObject.
func (g *Repo) writeEncoded(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	r, err := obj.Reader()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write %s object: %w", obj.Type(), err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write %s object: %w", obj.Type(), err)
	}
	return g.writeObject(obj.Type(), data)
}

// treeLess is git's tree entry order: by name, comparing folders as if
// they ended with a slash.
func treeLess(a, b object.TreeEntry) bool {
	n := min(len(a.Name), len(b.Name))
	if c := strings.Compare(a.Name[:n], b.Name[:n]); c != 0 {
		return c < 0
	}
	// One name is a prefix of the other: compare the next byte, a slash
	// past the end of a folder's name.
	next := func(e object.TreeEntry) int {
		switch {
		case len(e.Name) > n:
			return int(e.Name[n])
		case e.Mode == filemode.Dir:
			return '/'
		}
		return -1
	}
	return next(a) < next(b)
}

// FileHistory calls fn for each first-parent commit from HEAD backwards
// with the blob of rel in it (nil when absent), until fn returns false or
// limit commits were visited.
func (g *Repo) FileHistory(rel string, limit int, fn func(c *object.Commit, content []byte) bool) error {
	head, err := g.Head()
	if err != nil || head.IsZero() {
		return err
	}
	h := head
	for i := 0; i < limit && !h.IsZero(); i++ {
		c, err := g.R.CommitObject(h)
		if err != nil {
			return fmt.Errorf("read commit %s: %w", h, err)
		}
		var content []byte
		if tree, err := c.Tree(); err == nil {
			if f, err := tree.File(rel); err == nil {
				if s, err := f.Contents(); err == nil {
					content = []byte(s)
				}
			}
		}
		if !fn(c, content) {
			return nil
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	return nil
}

// Trailer returns the value of a `Key: value` trailer in a commit message.
func Trailer(msg, key string) string {
	for _, line := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
