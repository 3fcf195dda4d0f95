package gitx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/spinehq/spine/internal/fsx"
)

// gitDirs caches where a Repo's git folders are: they do not move while
// the Repo is open.
type gitDirs struct {
	mu sync.Mutex
	// git is the repository's (or linked worktree's) own folder, common
	// the folder with the objects and shared refs (the same, except in a
	// linked worktree); both empty until found.
	git, common string
	// head is looseHead's last answer (see headMemo).
	head headMemo
}

// headMemo is looseHead's last answer with the stamps of the files it came
// from (HEAD and the branch's loose ref, or HEAD alone when detached),
// each taken before the file was read and kept only once settled (see
// fsx.Stamp): while both files show the same stamps, HEAD still resolves
// to that hash, found with two stats instead of two opens, four reads and
// two closes (spine asks for HEAD before each step). Any change to either
// file — a commit (a step's or spine's own), a checkout, a reset, a ref
// packed away — changes or removes a stamp, and the files are read again.
type headMemo struct {
	head, ref fsx.Stamp
	// refPath is the loose ref file; "" for a detached HEAD.
	refPath string
	hash    plumbing.Hash
	ok      bool
}

// statStamp returns the stamp of the file at path (following symlinks, as
// reading it does); ok is false when there is none.
func statStamp(path string) (fsx.Stamp, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fsx.Stamp{}, false
	}
	return fsx.StampOf(fi)
}

// memoHead returns the remembered answer if both its files still show
// their stamps.
func (g *Repo) memoHead(headPath string) (plumbing.Hash, bool) {
	d := &g.gitDirs
	d.mu.Lock()
	m := d.head
	d.mu.Unlock()
	if !m.ok {
		return plumbing.ZeroHash, false
	}
	if st, ok := statStamp(headPath); !ok || st != m.head {
		return plumbing.ZeroHash, false
	}
	if m.refPath != "" {
		if st, ok := statStamp(m.refPath); !ok || st != m.ref {
			return plumbing.ZeroHash, false
		}
	}
	return m.hash, true
}

// setHeadMemo remembers m (or forgets the last answer when m is not ok).
func (g *Repo) setHeadMemo(m headMemo) {
	d := &g.gitDirs
	d.mu.Lock()
	d.head = m
	d.mu.Unlock()
}

// dirs returns the git folder and the common folder of the repository.
func (g *Repo) dirs() (gitDir, commonDir string, err error) {
	d := &g.gitDirs
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.git != "" {
		return d.git, d.common, nil
	}
	gitDir, err = g.indexDir()
	if err != nil {
		return "", "", err
	}
	if commonDir, err = commonDirOf(gitDir); err != nil {
		return "", "", err
	}
	d.git, d.common = gitDir, commonDir
	return gitDir, commonDir, nil
}

// gitDirOf returns the git folder of the repository at dir and the paths
// that make it up, whose owners CheckOwnership checks: for a working
// tree's root, dir, its .git and, when .git is a file (a linked worktree,
// a submodule), the folder it names; for a bare repository, dir alone.
func gitDirOf(dir string) (gitDir string, paths []string, err error) {
	dotGit := filepath.Join(dir, ".git")
	fi, err := os.Lstat(dotGit)
	if err != nil {
		return dir, []string{dir}, nil
	}
	if fi.IsDir() {
		return dotGit, []string{dir, dotGit}, nil
	}
	if gitDir, err = gitDirAt(dir); err != nil {
		return "", nil, err
	}
	return gitDir, []string{dir, dotGit, gitDir}, nil
}

// commonDirOf returns the folder holding the configuration, objects and
// refs of the repository whose git folder is gitDir: the folder its
// commondir file names (a linked worktree's), else gitDir itself.
func commonDirOf(gitDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if errors.Is(err, fs.ErrNotExist) {
		return gitDir, nil
	}
	if err != nil {
		return "", fmt.Errorf("find git common folder: %w", err)
	}
	c := strings.TrimSpace(string(b))
	if !filepath.IsAbs(c) {
		c = filepath.Join(gitDir, c)
	}
	return c, nil
}

// looseHead resolves HEAD from the files alone when it is a detached hash
// or names a branch whose ref is a loose file: two small reads, against
// go-git's stat of every path component. ok is false for anything else
// (a packed or missing ref, a symbolic ref to a symbolic ref, an odd
// name, an unreadable file): go-git resolves those.
func (g *Repo) looseHead() (h plumbing.Hash, ok bool) {
	gitDir, commonDir, err := g.dirs()
	if err != nil {
		return plumbing.ZeroHash, false
	}
	headPath := filepath.Join(gitDir, "HEAD")
	if h, ok := g.memoHead(headPath); ok {
		return h, true
	}
	g.setHeadMemo(headMemo{})
	// Each stamp is taken before its file is read; both are trusted only
	// when settled by then (see fsx.Stamp).
	before := time.Now()
	headSt, headOK := statStamp(headPath)
	head, err := readSmall(headPath)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	line := strings.TrimSuffix(string(head), "\n")
	if h, ok := parseHash(line); ok {
		if headOK && headSt.Settled(before, fsx.SettleMargin) {
			g.setHeadMemo(headMemo{head: headSt, hash: h, ok: true})
		}
		return h, true
	}
	name, isRef := strings.CutPrefix(line, "ref: ")
	if !isRef || !plainBranchRef(name) {
		return plumbing.ZeroHash, false
	}
	refPath := filepath.Join(commonDir, filepath.FromSlash(name))
	refSt, refOK := statStamp(refPath)
	ref, err := readSmall(refPath)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	h, ok = parseHash(strings.TrimSuffix(string(ref), "\n"))
	if ok && headOK && refOK && headSt.Settled(before, fsx.SettleMargin) && refSt.Settled(before, fsx.SettleMargin) {
		g.setHeadMemo(headMemo{head: headSt, ref: refSt, refPath: refPath, hash: h, ok: true})
	}
	return h, ok
}

// plainBranchRef reports whether name is refs/heads/<something> made of
// ordinary path components (what git itself would store as a file).
func plainBranchRef(name string) bool {
	rest, ok := strings.CutPrefix(name, "refs/heads/")
	if !ok || rest == "" || strings.HasSuffix(rest, ".lock") || strings.ContainsAny(name, "\\\x00\r\n :?*[~^") {
		return false
	}
	for _, c := range strings.Split(rest, "/") {
		if c == "" || c == "." || c == ".." || strings.HasPrefix(c, ".") {
			return false
		}
	}
	return true
}

// parseHash parses a full lower-case hex object id.
func parseHash(s string) (plumbing.Hash, bool) {
	if len(s) != 40 {
		return plumbing.ZeroHash, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return plumbing.ZeroHash, false
		}
	}
	h := plumbing.NewHash(s)
	return h, !h.IsZero()
}
