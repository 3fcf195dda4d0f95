package fsx

import (
	"path/filepath"
	"strings"
)

// Within reports whether the path p is the folder dir or lies inside it,
// comparing the cleaned paths lexically (both absolute, or both relative
// to the same folder; symbolic links are not resolved). A sibling whose
// name merely starts with ".." or with dir's name is not inside.
func Within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Resolved returns p (absolute) with its symbolic links resolved as far
// as it exists: the longest existing prefix is resolved, and the rest,
// not made yet, is joined to it as it is. A folder that is a link to
// another (public -> .git) is then compared by where it leads.
func Resolved(p string) string {
	p = filepath.Clean(p)
	var rest []string
	for cur := p; ; {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(append([]string{real}, rest...)...)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}
