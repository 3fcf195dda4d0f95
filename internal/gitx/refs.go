package gitx

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// IterReferences lists the repository's references as go-git does, and,
// when go-git's listing fails, lists them again without the lock files
// beside them. go-git reads every file under refs/ as a reference, so an
// empty <ref>.lock (a git process holding the reference for a moment, or
// one a killed process left) failed every fetch and push with "ref file
// is empty". git itself never reads a name ending in .lock as a
// reference.
func (s *objectStore) IterReferences() (storer.ReferenceIter, error) {
	iter, err := s.Storage.IterReferences()
	if err == nil || s.commonDir == "" {
		return iter, err
	}
	refs, lerr := s.listRefs()
	if lerr != nil {
		return nil, err
	}
	return storer.NewReferenceSliceIter(refs), nil
}

// listRefs returns the loose references under refs/ (but lock files),
// those only in packed-refs, and HEAD, each read by go-git.
func (s *objectStore) listRefs() ([]*plumbing.Reference, error) {
	seen := map[plumbing.ReferenceName]bool{}
	var refs []*plumbing.Reference
	add := func(name plumbing.ReferenceName) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		ref, err := s.Storage.Reference(name)
		switch {
		case errors.Is(err, plumbing.ErrReferenceNotFound):
			return nil // removed meanwhile
		case err != nil:
			return err
		}
		refs = append(refs, ref)
		return nil
	}
	root := filepath.Join(s.commonDir, "refs")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(d.Name(), ".lock") {
			return nil
		}
		rel, err := filepath.Rel(s.commonDir, p)
		if err != nil {
			return err
		}
		return add(plumbing.ReferenceName(filepath.ToSlash(rel)))
	})
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(s.commonDir, "packed-refs"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' || line[0] == '^' {
				continue
			}
			if _, name, ok := strings.Cut(line, " "); ok {
				if err := add(plumbing.ReferenceName(name)); err != nil {
					return nil, err
				}
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	if err := add(plumbing.HEAD); err != nil {
		return nil, err
	}
	return refs, nil
}
