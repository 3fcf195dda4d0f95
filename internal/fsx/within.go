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
