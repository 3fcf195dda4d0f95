package site

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/loops"
)

// Changes says which inputs of the site changed since the last build, as
// Serve's file watcher saw them. ServeOptions.Reload uses it to read again
// only what changed.
type Changes struct {
	// Docs lists the repository-relative, slash-separated paths of loop
	// documents created, written or removed, sorted.
	Docs []string
	// Rescan is set when folders were created, moved or removed where
	// loop documents may be: the documents must be discovered again.
	Rescan bool
	// Receipts is set when anything in the receipts folder changed.
	Receipts bool
	// Git is set when the repository's HEAD or a branch moved (a commit,
	// a checkout, a pull). Approvals count only once committed by an
	// approver, so step states may change with no input file changing.
	Git bool
}

// changeSet is what the watcher saw since it was last asked.
type changeSet struct {
	// failed is why the watcher cannot be trusted any more (queue
	// overflow, a watch that could not be added, a watched root moved):
	// Serve then falls back to polling and full builds.
	failed string
	// config: spine.yaml changed.
	config bool
	// docs are loop-document paths (relative, slash) changed; rescan is
	// set for folders created or removed in the tree.
	docs   map[string]bool
	rescan bool
	// runs are run folders (relative, slash) changed; days are day
	// folders (relative, slash) whose listing changed; receiptsAll is
	// set when year or month folders changed.
	runs        map[string]bool
	days        map[string]bool
	receiptsAll bool
	// gaps, packs, keys, artifacts: the gap ledger, the verify folder,
	// the published signing keys, anything under the artifacts folder.
	gaps, packs, keys, artifacts bool
	// git: HEAD, packed-refs or a branch under refs/heads changed.
	git bool
}

func (c *changeSet) empty() bool {
	return c.failed == "" && !c.config && len(c.docs) == 0 && !c.rescan && len(c.runs) == 0 &&
		len(c.days) == 0 && !c.receiptsAll && !c.gaps && !c.packs && !c.keys && !c.artifacts && !c.git
}

// receipts reports whether anything under the receipts folder changed.
func (c *changeSet) receipts() bool { return c.receiptsAll || len(c.runs) > 0 || len(c.days) > 0 }

// public returns the Changes handed to ServeOptions.Reload.
func (c *changeSet) public() Changes {
	ch := Changes{Rescan: c.rescan, Receipts: c.receipts(), Git: c.git}
	for p := range c.docs {
		ch.Docs = append(ch.Docs, p)
	}
	sort.Strings(ch.Docs)
	return ch
}

// watchLayout is where the inputs of the site are, as absolute, clean
// paths, and how to classify a path under the repository root.
type watchLayout struct {
	root, out string
	cfg       *config.Config
	// receipts, artifacts and verify are the folders of those inputs;
	// gaps, keys and config the files.
	receipts, artifacts, verify string
	gaps, keys, config          string
	// git and refs are the repository's .git folder and its refs/heads,
	// empty when .git is not a folder (a linked worktree: its refs are
	// not watched).
	git, refs string
	// skip are the folders loop discovery skips (relative, slash).
	skip map[string]bool
}

// gitRefFiles returns the files whose change means the repository's HEAD
// or branch moved: .git/HEAD, .git/packed-refs and the branch HEAD names
// (for a linked worktree, whose .git is a file, none).
func gitRefFiles(root string) []string {
	dir := filepath.Join(root, ".git")
	if !isDir(dir) {
		return nil
	}
	files := []string{filepath.Join(dir, "HEAD"), filepath.Join(dir, "packed-refs")}
	if head, err := os.ReadFile(filepath.Join(dir, "HEAD")); err == nil {
		if ref, ok := strings.CutPrefix(strings.TrimSpace(string(head)), "ref: "); ok && strings.HasPrefix(ref, "refs/heads/") {
			if p, err := artifacts.SafeJoin(dir, ref); err == nil {
				files = append(files, p)
			}
		}
	}
	return files
}

func newWatchLayout(opts Options) (*watchLayout, error) {
	cfg := opts.Config
	if cfg == nil {
		cfg = config.Default()
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	l := &watchLayout{root: root, out: OutDir(Options{Root: root, Out: opts.Out, Config: cfg}), cfg: cfg, skip: map[string]bool{}}
	join := func(rel string) (string, error) {
		p, err := artifacts.SafeJoin(root, rel)
		if err != nil {
			return "", err
		}
		return filepath.Clean(p), nil
	}
	if l.receipts, err = join(cfg.Receipts); err != nil {
		return nil, err
	}
	if l.artifacts, err = join(cfg.Artifacts); err != nil {
		return nil, err
	}
	if l.verify, err = join(cfg.VerifyDir); err != nil {
		return nil, err
	}
	if l.gaps, err = join(cfg.Gaps); err != nil {
		return nil, err
	}
	if l.keys, err = join(artifacts.PublishedKeysFile); err != nil {
		return nil, err
	}
	l.config = filepath.Join(root, config.FileName)
	if g := filepath.Join(root, ".git"); isDir(g) {
		l.git, l.refs = g, filepath.Join(g, "refs", "heads")
	}
	for _, s := range []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out} {
		if s = strings.Trim(path.Clean(filepath.ToSlash(s)), "/"); s != "" && s != "." {
			l.skip[s] = true
		}
	}
	return l, nil
}

// within reports whether p is dir or inside it (fsx.Within, in the
// order this file's calls read best).
func within(p, dir string) bool { return fsx.Within(dir, p) }

// treeDir reports whether loop discovery walks the folder p (absolute):
// inside the root, not the output folder, not a folder discovery skips.
func (l *watchLayout) treeDir(p string) bool {
	if !within(p, l.root) || within(p, l.out) || within(p, l.receipts) || within(p, l.artifacts) {
		return false
	}
	if p == l.root {
		return true
	}
	rel, err := filepath.Rel(l.root, p)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	for part, rest := rel, ""; part != ""; {
		i := strings.IndexByte(part, '/')
		name := part
		if i >= 0 {
			name, rest = part[:i], part[i+1:]
		} else {
			rest = ""
		}
		if strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor" {
			return false
		}
		part = rest
	}
	for s := range l.skip {
		if rel == s || strings.HasPrefix(rel, s+"/") {
			return false
		}
	}
	return true
}

// isDoc reports whether the file p (absolute, in a tree folder) would be a
// loop document, by the configuration's include and exclude globs.
func (l *watchLayout) isDoc(p string) (string, bool) {
	rel, err := filepath.Rel(l.root, p)
	if err != nil {
		return "", false
	}
	rel = filepath.ToSlash(rel)
	for _, ex := range l.cfg.Exclude {
		if loops.MatchGlob(ex, rel) {
			return "", false
		}
	}
	for _, in := range l.cfg.Loops {
		if loops.MatchGlob(in, rel) {
			return rel, true
		}
	}
	return "", false
}

// wantDir reports whether the folder p (absolute) is watched: a folder
// loop discovery walks, the receipts folder down to the run folders, the
// artifacts and verify folders, and the folders leading to them and to the
// gap ledger and the published keys.
func (l *watchLayout) wantDir(p string) bool {
	switch {
	case within(p, l.out):
		return false
	case l.git != "" && within(p, l.git):
		// .git itself (HEAD, packed-refs), refs/heads and the folders
		// of branch names under it, and the folder leading there.
		return p == l.git || within(p, l.refs) || within(l.refs, p)
	case within(p, l.receipts):
		rel, err := filepath.Rel(l.receipts, p)
		return err == nil && (rel == "." || strings.Count(filepath.ToSlash(rel), "/") < 4)
	case within(p, l.artifacts), within(p, l.verify):
		return true
	}
	for _, s := range []string{l.receipts, l.artifacts, l.verify, filepath.Dir(l.gaps), filepath.Dir(l.keys)} {
		if within(s, p) {
			return true
		}
	}
	return l.treeDir(p)
}

// classify records in c what an event on the path p (absolute) means; dir
// is set when p is a folder.
func (l *watchLayout) classify(c *changeSet, p string, dir bool) {
	if l.git != "" && within(p, l.git) {
		// git writes a ref as <ref>.lock and renames it: either event
		// says the branch moves.
		if p == filepath.Join(l.git, "HEAD") || p == filepath.Join(l.git, "packed-refs") || within(p, l.refs) {
			c.git = true
		}
		return
	}
	switch {
	case p == l.config:
		c.config = true
		return
	case p == l.gaps:
		c.gaps = true
	case p == l.keys:
		c.keys = true
	}
	if within(p, l.verify) || p == l.verify {
		c.packs = true
	}
	if within(p, l.artifacts) {
		c.artifacts = true
		return
	}
	if within(p, l.receipts) {
		rel, err := filepath.Rel(l.receipts, p)
		if err != nil {
			c.receiptsAll = true
			return
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		base := strings.Trim(path.Clean(filepath.ToSlash(l.cfg.Receipts)), "/")
		switch {
		case rel == "." || len(parts) < 4:
			c.receiptsAll = true
		case len(parts) == 4:
			if c.days == nil {
				c.days = map[string]bool{}
			}
			if c.runs == nil {
				c.runs = map[string]bool{}
			}
			c.days[path.Join(base, parts[0], parts[1], parts[2])] = true
			c.runs[path.Join(base, parts[0], parts[1], parts[2], parts[3])] = true
		default:
			if c.runs == nil {
				c.runs = map[string]bool{}
			}
			c.runs[path.Join(base, parts[0], parts[1], parts[2], parts[3])] = true
		}
		return
	}
	if dir {
		if l.treeDir(p) {
			c.rescan = true
		}
		return
	}
	if l.treeDir(filepath.Dir(p)) {
		if rel, ok := l.isDoc(p); ok {
			if c.docs == nil {
				c.docs = map[string]bool{}
			}
			c.docs[rel] = true
		}
	}
}

// merge adds o to c.
func (c *changeSet) merge(o *changeSet) {
	if c.failed == "" {
		c.failed = o.failed
	}
	c.config = c.config || o.config
	c.rescan = c.rescan || o.rescan
	c.receiptsAll = c.receiptsAll || o.receiptsAll
	c.gaps, c.packs, c.keys, c.artifacts = c.gaps || o.gaps, c.packs || o.packs, c.keys || o.keys, c.artifacts || o.artifacts
	c.git = c.git || o.git
	c.docs = mergeSet(c.docs, o.docs)
	c.runs = mergeSet(c.runs, o.runs)
	c.days = mergeSet(c.days, o.days)
}

func mergeSet(a, b map[string]bool) map[string]bool {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = map[string]bool{}
	}
	for k := range b {
		a[k] = true
	}
	return a
}

// isDir reports whether p is a folder (not a symbolic link to one).
func isDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}
