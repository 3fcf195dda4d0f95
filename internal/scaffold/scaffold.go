// Package scaffold writes the starting files of a governed repository for
// `spine init`: a commented spine.yaml, an example loop, a verify pack, an
// empty gap ledger and the GitHub Actions workflow that calls spine's
// reusable workflow.
package scaffold

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spinehq/spine/internal/fsx"
)

//go:embed all:init
var files embed.FS

// targets maps each embedded file to where it goes in the repository.
func targets() map[string]string {
	return map[string]string{
		"init/spine.yaml":            "spine.yaml",
		"init/gaps.yaml":             "gaps.yaml",
		"init/verify/example.yaml":   "verify/example.yaml",
		"init/loops/LOOP-EXAMPLE.md": "loops/LOOP-EXAMPLE.md",
		"init/workflows/spine.yml":   ".github/workflows/spine.yml",
	}
}

// ErrExists is returned when a file init would write is already there.
var ErrExists = errors.New("already initialised")

// Init writes the starting files into root, a git working tree, and a
// .gitignore of the site folder where there is no .gitignore. It refuses
// (and writes nothing) when any of the starting files exists. It returns
// the paths written, repository-relative.
func Init(root string, now time.Time, branch string) ([]string, error) {
	if branch == "" {
		branch = "main"
	}
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || (!fi.IsDir() && !fi.Mode().IsRegular()) {
		return nil, fmt.Errorf("%s is not a git repository (run git init first)", root)
	}
	t := targets()
	var rels []string
	for _, rel := range t {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	var existing []string
	for _, rel := range rels {
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); err == nil {
			existing = append(existing, rel)
		}
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("%w: %s exist(s); nothing was written", ErrExists, strings.Join(existing, ", "))
	}
	var written []string
	for src, rel := range t {
		data, err := fs.ReadFile(files, src)
		if err != nil {
			return written, err
		}
		// The branch in YAML is a double-quoted string (a branch name may
		// hold "#", ": " or quotes); in comments it is as it is. The
		// template stays valid YAML ("{{BRANCH}}" quoted), which CI lints.
		data = []byte(strings.NewReplacer("{{DATE}}", now.UTC().Format("2006-01-02"),
			`"{{BRANCH}}"`, strconv.Quote(branch), "{{BRANCH}}", branch).Replace(string(data)))
		full := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(full), fsx.DirMode); err != nil {
			return written, err
		}
		if err := writeNew(full, data); err != nil {
			return written, fmt.Errorf("write %s: %w", rel, err)
		}
		written = append(written, rel)
	}
	// The built site is never committed (DESIGN.md): a repository
	// without a .gitignore gets one that says so, before any site build
	// makes public/ something `git add -A` would take.
	if _, err := os.Lstat(filepath.Join(root, ".gitignore")); errors.Is(err, fs.ErrNotExist) {
		if err := writeNew(filepath.Join(root, ".gitignore"), []byte(gitignore)); err != nil {
			return written, fmt.Errorf("write .gitignore: %w", err)
		}
		written = append(written, ".gitignore")
	}
	sort.Strings(written)
	return written, nil
}

// gitignore is the .gitignore Init writes where there is none.
const gitignore = "# spine's built evidence site (spine site build): never committed\n/public/\n"

// IgnoresSite reports whether root's .gitignore has a line that ignores
// the default site folder, public/, at the top (Init's hint when an
// existing .gitignore does not).
func IgnoresSite(root string) bool {
	b, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch strings.TrimSpace(line) {
		case "public", "public/", "/public", "/public/":
			return true
		}
	}
	return false
}

// writeNew writes data to a file that must not exist yet.
func writeNew(full string, data []byte) error {
	f, err := os.OpenFile(full, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fsx.FileMode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// Files lists the repository-relative paths Init writes.
func Files() []string {
	var out []string
	for _, rel := range targets() {
		out = append(out, path.Clean(rel))
	}
	sort.Strings(out)
	return out
}
