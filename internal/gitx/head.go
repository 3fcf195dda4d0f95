package gitx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// gitDirs caches where a Repo's git folders are: they do not move while
// the Repo is open.
type gitDirs struct {
	mu sync.Mutex
	// git is the repository's (or linked worktree's) own folder, common
	// the folder with the objects and shared refs (the same, except in a
	// linked worktree); both empty until found.
	git, common string
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
	commonDir = gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		c := strings.TrimSpace(string(b))
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitDir, c)
		}
		commonDir = c
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("find git common folder: %w", err)
	}
	d.git, d.common = gitDir, commonDir
	return gitDir, commonDir, nil
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
	head, err := readSmall(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return plumbing.ZeroHash, false
	}
	line := strings.TrimSuffix(string(head), "\n")
	if h, ok := parseHash(line); ok {
		return h, true
	}
	name, isRef := strings.CutPrefix(line, "ref: ")
	if !isRef || !plainBranchRef(name) {
		return plumbing.ZeroHash, false
	}
	ref, err := readSmall(filepath.Join(commonDir, filepath.FromSlash(name)))
	if err != nil {
		return plumbing.ZeroHash, false
	}
	return parseHash(strings.TrimSuffix(string(ref), "\n"))
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
