package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
)

// approvalsIndexName is the cache of approval history walks in the state
// folder.
const approvalsIndexName = "approvals.idx.json"

// approvalsIndexVersion changes when the file format, or what a walk
// computes, does.
const approvalsIndexVersion = 8

// A history walk answers, for a document path and a predicate over the
// document's content, which commit is the oldest of the unbroken run of
// first-parent commits from HEAD whose version of the document satisfies
// the predicate (Gates.approvalCommit: the commit that added an approval;
// Gates.lastStepAuthor: the commit that last changed a step's command).
//
// A walk from HEAD H depends only on H (commits are content addressed: the
// history behind H cannot change without H changing), so its result is
// kept, per path and predicate, with the HEAD it was computed at. A later
// walk from a new HEAD stops as soon as it reaches that commit and carries
// the kept result on: after a commit that does not touch the document, one
// commit is visited. A walk whose HEAD does not lead back to the kept one
// (a rewritten history, a reset, another branch) simply walks on, as if
// nothing was kept. Within a process, every commit, tree and document
// version is read and parsed once: a lookup costs per distinct document
// blob, not per gated step.
//
// The results are kept in the state folder (approvals.idx.json) between
// processes. Like the receipt index, the state folder is trusted: anyone
// who can write it can also rewrite the repository's refs. The approval
// commit a kept result names is still read from git and checked (author,
// signature, policy) on every use.

// walkResult is a kept walk.
type walkResult struct {
	// Head is the commit the walk started from.
	Head string `json:"h"`
	// Found is the oldest commit of the run ("" when HEAD's version does
	// not satisfy the predicate).
	Found string `json:"f,omitempty"`
	// N is the number of commits in the run (0 with no Found).
	N int `json:"n,omitempty"`
	// Path is the document's path at Found when a move (git mv) changed
	// it since ("": the walk's own path).
	Path string `json:"p,omitempty"`
	// Oldest is the oldest commit of the run when Found is not it (a
	// merge that revived what pred sees: see walk's revocable).
	Oldest string `json:"o,omitempty"`
}

// approvalsFile is the state folder's approvals.idx.json.
type approvalsFile struct {
	Version int                    `json:"version"`
	Walks   map[string]*walkResult `json:"walks"` // by walkKey
}

// historyCache serves the history walks of one Gates.
type historyCache struct {
	git      *gitx.Repo
	stateDir string
	// exists reports whether a loop id has a document in the working tree
	// (nil: none is known to).
	exists func(loopID string) bool

	mu      sync.Mutex
	loaded  bool
	walks   map[string]*walkResult
	dirty   bool
	commits map[plumbing.Hash]*object.Commit
	trees   map[plumbing.Hash]map[string]object.TreeEntry
	docs    map[plumbing.Hash]*loops.Document
	// approvers are policy.approvers by spine.yaml blob.
	approvers map[plumbing.Hash][]string
	// visited counts the commits walks have read (for tests).
	visited int
	// volatile is set when the walk under way depended on the working
	// tree (exists), not on the history alone: its result is not kept.
	volatile bool
}

// historyLimitErr is a walk cut short by its limit: what it looks for is
// older than the history it may read, and it cannot tell who wrote it.
func historyLimitErr(limit int) error {
	return fmt.Errorf("the approval is older than the last %d commits of the branch (every commit counts, spine's own too), so who gave it cannot be told: an approver approves it again (approvals: without the gate, then with it)", limit)
}

func newHistoryCache(g *gitx.Repo, stateDir string, exists func(string) bool) *historyCache {
	return &historyCache{
		git: g, stateDir: stateDir, exists: exists,
		commits: map[plumbing.Hash]*object.Commit{},
		trees:   map[plumbing.Hash]map[string]object.TreeEntry{},
		docs:    map[plumbing.Hash]*loops.Document{},

		approvers: map[plumbing.Hash][]string{},
	}
}

// walkKey names a walk: the path and the predicate's key.
func walkKey(rel, pred string) string { return rel + "\x00" + pred }

// load reads the kept walks once; a missing or unreadable file is an empty
// cache.
func (hc *historyCache) load() {
	if hc.loaded {
		return
	}
	hc.loaded = true
	hc.walks = map[string]*walkResult{}
	if hc.stateDir == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join(hc.stateDir, approvalsIndexName))
	if err != nil {
		return
	}
	var f approvalsFile
	if json.Unmarshal(data, &f) != nil || f.Version != approvalsIndexVersion {
		return
	}
	for k, w := range f.Walks {
		if w != nil && plumbing.IsHash(w.Head) && (w.Found == "" || plumbing.IsHash(w.Found)) && (w.Oldest == "" || plumbing.IsHash(w.Oldest)) && w.N >= 0 {
			hc.walks[k] = w
		}
	}
}

// save writes the kept walks when a walk computed something new.
func (hc *historyCache) save() error {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if !hc.dirty || hc.stateDir == "" {
		return nil
	}
	data, err := json.Marshal(approvalsFile{Version: approvalsIndexVersion, Walks: hc.walks})
	if err != nil {
		return fmt.Errorf("approvals cache: %w", err)
	}
	if err := os.MkdirAll(hc.stateDir, fsx.DirMode); err != nil {
		return fmt.Errorf("approvals cache: %w", err)
	}
	if err := artifacts.WriteFileAtomic(filepath.Join(hc.stateDir, approvalsIndexName), data, fsx.FileMode); err != nil {
		return fmt.Errorf("approvals cache: %w", err)
	}
	hc.dirty = false
	return nil
}

// commit reads a commit once.
func (hc *historyCache) commit(h plumbing.Hash) (*object.Commit, error) {
	if c, ok := hc.commits[h]; ok {
		return c, nil
	}
	c, err := hc.git.R.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	hc.commits[h] = c
	return c, nil
}

// tree reads a tree's entries once, by name.
func (hc *historyCache) tree(h plumbing.Hash) (map[string]object.TreeEntry, error) {
	if t, ok := hc.trees[h]; ok {
		return t, nil
	}
	t, err := object.GetTree(hc.git.R.Storer, h)
	if err != nil {
		return nil, err
	}
	m := make(map[string]object.TreeEntry, len(t.Entries))
	for _, e := range t.Entries {
		m[e.Name] = e
	}
	hc.trees[h] = m
	return m, nil
}

// blobAt returns the blob hash of rel in commit c, and whether it is a
// file there.
func (hc *historyCache) blobAt(c *object.Commit, rel string) (plumbing.Hash, bool) {
	t, err := hc.tree(c.TreeHash)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		e, ok := t[name]
		if !ok {
			return plumbing.ZeroHash, false
		}
		if i == len(parts)-1 {
			if !e.Mode.IsFile() {
				return plumbing.ZeroHash, false
			}
			return e.Hash, true
		}
		if e.Mode != filemode.Dir {
			return plumbing.ZeroHash, false
		}
		if t, err = hc.tree(e.Hash); err != nil {
			return plumbing.ZeroHash, false
		}
	}
	return plumbing.ZeroHash, false
}

// doc parses a version of rel once. work is the working tree's document:
// when the blob is its content, it is used as it is (a document loaded
// without its bytes, loops.LoadOptions.NoSource, cannot be compared and is
// not).
func (hc *historyCache) doc(rel string, blob plumbing.Hash, work *loops.Document) (*loops.Document, bool) {
	if d, ok := hc.docs[blob]; ok {
		return d, true
	}
	if work != nil && work.Source != nil && gitx.BlobHash(work.Source) == blob {
		hc.docs[blob] = work
		return work, true
	}
	data, err := hc.git.Blob(blob)
	if err != nil {
		return nil, false
	}
	d := loops.Parse(rel, data)
	hc.docs[blob] = d
	return d, true
}

// walk finds the oldest commit of the run from HEAD whose version of rel
// satisfies pred (nil: HEAD's does not, or no commits), visiting at most
// limit commits, as gitx.Repo.FileHistory would, and the document's path
// there: the run follows the document (its loop id) across a move or a
// change of its id (see predecessor), so that the commit that moved it is
// not taken for the one that wrote what pred sees, nor a document put at
// its path for it. key names pred for the kept results; work is the working
// tree's document.
//
// With revocable (an approval's walk), a merge of the run whose other
// parent had lost what pred sees after the run's oldest commit (an
// approval revoked on that side, which the merge kept: git would have
// dropped it) wrote it again: the newest such merge is the commit found.
func (hc *historyCache) walk(rel, key string, work *loops.Document, limit int, revocable bool, pred func(*loops.Document) bool) (*object.Commit, string, error) {
	head, err := hc.git.Head()
	if err != nil || head.IsZero() {
		return nil, rel, err
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.load()
	hc.volatile = false
	wk := walkKey(rel, key)
	kept := hc.walks[wk]
	if kept != nil && kept.Head == head.String() {
		return hc.result(kept, rel)
	}
	var last plumbing.Hash
	var lastCommit *object.Commit
	var lastDoc *loops.Document
	n := 0
	h := head
	cur := rel      // the document's path at last, looked up at h
	lastPath := rel // the document's path at last
	// revivals are the run's merges whose other parent lost what pred
	// sees (newest first), each with that parent and its path.
	type revival struct {
		merge  plumbing.Hash
		parent plumbing.Hash
		path   string
	}
	var revivals []revival
	// finish keeps the walk whose run's oldest commit is oldest (the
	// document at path there); prior is a kept walk it carried on.
	finish := func(oldest plumbing.Hash, n int, path string, prior *walkResult) (*object.Commit, string, error) {
		found := oldest
		if prior != nil && prior.Oldest != "" {
			found, path = plumbing.NewHash(prior.Found), prior.Path // its revival
			if path == "" {
				path = rel
			}
		}
		for _, r := range revivals {
			if n == 0 {
				break
			}
			if ok, err := hc.git.IsAncestor(oldest, r.parent); err == nil && ok && hc.droppedSinceBase(r.merge, r.parent, r.path, pred) {
				found, path = r.merge, r.path
				break
			}
		}
		return hc.keep(wk, head, found, n, rel, path, oldest)
	}
	for !h.IsZero() {
		if n >= limit {
			// Cut short: the run goes on beyond what a walk reads.
			return nil, rel, historyLimitErr(limit)
		}
		if kept != nil && h.String() == kept.Head && cur == rel && hc.holds(h, rel, lastDoc) {
			// The kept walk started here, from the same path: carry it on.
			switch {
			case kept.N == 0:
				return finish(last, n, lastPath, nil)
			case n+kept.N <= limit && kept.N < limit:
				path, oldest := kept.Path, kept.Found
				if path == "" {
					path = rel
				}
				if kept.Oldest != "" {
					oldest = kept.Oldest
				}
				return finish(plumbing.NewHash(oldest), n+kept.N, path, kept)
			}
			// It may have been cut by the limit: walk on.
			kept = nil
		}
		c, err := hc.commit(h)
		if err != nil {
			// As FileHistory: what was found so far, and the error; the
			// walk is not kept.
			var found *object.Commit
			if n > 0 {
				found, _ = hc.commit(last)
			}
			return found, cur, err
		}
		hc.visited++
		from, d, ok := hc.docIn(c, lastCommit, cur, lastDoc, work, true, pred)
		if !ok || !pred(d) {
			break
		}
		cur = from
		last, lastCommit, lastDoc, lastPath, n = h, c, d, cur, n+1
		if revocable {
			for _, p := range c.ParentHashes[min(1, len(c.ParentHashes)):] {
				pc, err := hc.commit(p)
				if err != nil {
					continue
				}
				if _, pd, ok := hc.predecessor(pc, c, cur, d, work, false, pred); ok && !pred(pd) {
					revivals = append(revivals, revival{merge: h, parent: p, path: cur})
				}
			}
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	return finish(last, n, lastPath, nil)
}

// droppedSinceBase reports whether the other side (parent) of merge
// dropped what pred sees since the merge base: the base's document (at
// rel) satisfies pred. Only then did the merge keep what a merge would
// have dropped, and write it again; a side that never had it since the
// base (an approval it branched off before) leaves it to the first
// parent, as git does. The caller holds hc.mu.
func (hc *historyCache) droppedSinceBase(merge, parent plumbing.Hash, rel string, pred func(*loops.Document) bool) bool {
	m, err := hc.commit(merge)
	if err != nil || len(m.ParentHashes) == 0 {
		return false
	}
	base, err := hc.git.MergeBase(m.ParentHashes[0], parent)
	if err != nil || base.IsZero() {
		return false
	}
	bc, err := hc.commit(base)
	if err != nil {
		return false
	}
	blob, ok := hc.blobAt(bc, rel)
	if !ok {
		return false
	}
	d, ok := hc.doc(rel, blob, nil)
	return ok && pred(d)
}

// docIn returns the document's path and version in commit c, following
// it from child, the commit after c on the walk, where it is childDoc at
// cur (see predecessor; renames as there). With no child (c is the
// walk's first commit) it is the document at cur. The caller holds hc.mu.
func (hc *historyCache) docIn(c, child *object.Commit, cur string, childDoc, work *loops.Document, renames bool, pred func(*loops.Document) bool) (string, *loops.Document, bool) {
	if child == nil || childDoc == nil {
		blob, ok := hc.blobAt(c, cur)
		if !ok {
			return "", nil, false
		}
		d, ok := hc.doc(cur, blob, work)
		return cur, d, ok
	}
	return hc.predecessor(c, child, cur, childDoc, work, renames, pred)
}

// holds reports whether commit h has the document of as at rel (the same
// loop id; any document when as is nil). The caller holds hc.mu.
func (hc *historyCache) holds(h plumbing.Hash, rel string, as *loops.Document) bool {
	c, err := hc.commit(h)
	if err != nil {
		return false
	}
	blob, ok := hc.blobAt(c, rel)
	if !ok || as == nil {
		return ok
	}
	d, ok := hc.doc(rel, blob, nil)
	return ok && d.LoopID == as.LoopID
}

// predecessor returns the path and version in parent of the document
// child holds at rel (childDoc), following its identity, the loop id:
//   - the document at rel, when it has that loop id;
//   - else a document of that loop id child moved from another path (git
//     mv, with or without an edit, or onto another document's path);
//   - else, when child renamed the loop (one loop id of its changed
//     documents gone, this one new, the old one in no document of the
//     working tree), the old loop's document, when it satisfied pred:
//     what pred sees came with the new id (given as it moved it, or by a
//     file name the id comes from).
//
// renames is false where child is a merge and parent its other side:
// between them lie the first parent's changes too, not a rename of the
// merge's (rule three does not apply). ok is false when child created the
// document: nothing in parent is it,
// not even a document of another loop id that child left at rel (the
// document put there does not inherit what the old one held, which lives
// on wherever child moved it). The caller holds hc.mu.
func (hc *historyCache) predecessor(parent, child *object.Commit, rel string, childDoc, work *loops.Document, renames bool, pred func(*loops.Document) bool) (string, *loops.Document, bool) {
	if blob, ok := hc.blobAt(parent, rel); ok {
		if d, ok := hc.doc(rel, blob, work); ok && (childDoc.LoopID == "" || d.LoopID == childDoc.LoopID) {
			return rel, d, true
		}
	}
	if childDoc.LoopID == "" {
		return "", nil, false
	}
	changes, err := hc.git.Diff(parent.Hash, child.Hash)
	if err != nil {
		return "", nil, false
	}
	isDoc := func(e gitx.Entry, p string) bool {
		return !e.Hash.IsZero() && e.Mode.IsFile() && strings.HasSuffix(strings.ToLower(p), ".md")
	}
	for _, ch := range changes {
		if ch.Path != rel && isDoc(ch.From, ch.Path) {
			if d, ok := hc.doc(ch.Path, ch.From.Hash, nil); ok && d.LoopID == childDoc.LoopID {
				return ch.Path, d, true
			}
		}
	}
	// A new id: followed only for a rename, one loop id of the changed
	// documents gone and this one come in its place, the old id nowhere
	// in the working tree since. A copy, a loop split in two, or two
	// joined into one, are new loops: what the old ones held is not theirs.
	was, is := map[string]bool{}, map[string]bool{}
	var from []gitx.Change
	for _, ch := range changes {
		if isDoc(ch.To, ch.Path) {
			if d, ok := hc.doc(ch.Path, ch.To.Hash, nil); ok && d.LoopID != "" {
				is[d.LoopID] = true
			}
		}
		if isDoc(ch.From, ch.Path) {
			if d, ok := hc.doc(ch.Path, ch.From.Hash, nil); ok && d.LoopID != "" {
				was[d.LoopID] = true
				from = append(from, ch)
			}
		}
	}
	var gone, came []string
	for id := range was {
		if !is[id] {
			gone = append(gone, id)
		}
	}
	for id := range is {
		if !was[id] {
			came = append(came, id)
		}
	}
	if !renames || len(gone) != 1 || len(came) != 1 || came[0] != childDoc.LoopID {
		return "", nil, false
	}
	if hc.exists != nil {
		hc.volatile = true
		if hc.exists(gone[0]) {
			return "", nil, false
		}
	}
	for _, ch := range from {
		if d, ok := hc.doc(ch.Path, ch.From.Hash, nil); ok && d.LoopID == gone[0] && pred(d) {
			return ch.Path, d, true
		}
	}
	return "", nil, false
}

// fieldChange is a part of a step's approved form (an index into
// stepFields) that differs from what an approval covered: the part as a
// reader knows it ("host=", "steps before it: +check"), or, for a step
// added since, every part with added set.
type fieldChange struct {
	field int
	part  string
	added bool
}

// stepSince says how step in work's document differs from commit c's
// version of it (at rel, its path there; see stepFields): nothing (the
// same), every part "added" (no such step then), or the parts changed.
func (hc *historyCache) stepSince(c *object.Commit, rel string, work *loops.Document, step *loops.Step) ([]fieldChange, error) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	var d *loops.Document
	if blob, ok := hc.blobAt(c, rel); ok {
		if d, ok = hc.doc(rel, blob, work); !ok {
			return nil, fmt.Errorf("read %s at commit %s", rel, c.Hash.String()[:12])
		}
	}
	var was *loops.Step
	if d != nil {
		_, was = d.Step(step.Name)
	}
	now := stepFields(work, step)
	var out []fieldChange
	if was == nil {
		for i := range now {
			out = append(out, fieldChange{field: i, part: now[i][0], added: true})
		}
		return out, nil
	}
	before := stepFields(d, was)
	for i := range now {
		if before[i][1] == now[i][1] {
			continue
		}
		part := now[i][0]
		if i == stepsBeforeField {
			part += ": " + listChange(before[i][1], now[i][1])
		}
		out = append(out, fieldChange{field: i, part: part})
	}
	return out, nil
}

// approversAt returns policy.approvers of spine.yaml at commit h (none
// without the file); a file that does not parse is an error naming it.
func (hc *historyCache) approversAt(h plumbing.Hash) ([]string, error) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	c, err := hc.commit(h)
	if err != nil {
		return nil, err
	}
	blob, ok := hc.blobAt(c, config.FileName)
	if !ok {
		return nil, nil
	}
	if a, ok := hc.approvers[blob]; ok {
		return a, nil
	}
	data, err := hc.git.Blob(blob)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(config.FileName, data)
	if err != nil {
		return nil, fmt.Errorf("%s at commit %s: %w", config.FileName, h.String()[:12], err)
	}
	hc.approvers[blob] = cfg.Policy.Approvers
	return cfg.Policy.Approvers, nil
}

// fileSince returns the commit that gave rel its content at HEAD (nil
// when HEAD has no such file): the oldest commit of the first-parent run
// from HEAD that has it, or, when that is a merge that brought it from a
// branch, the branch's commit that wrote it (as Gates.introducer does for
// a document), so that a change merged is its author's, not the merger's.
func (hc *historyCache) fileSince(rel string, limit int) (*object.Commit, error) {
	head, err := hc.git.Head()
	if err != nil || head.IsZero() {
		return nil, err
	}
	want, ok, err := hc.git.HeadEntry(rel)
	if err != nil || !ok {
		return nil, err
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	has := func(c *object.Commit) bool {
		blob, ok := hc.blobAt(c, rel)
		return ok && blob == want
	}
	c, err := hc.firstParentRun(head, limit, has)
	var merges []*object.Commit // hopped through, outermost first
	for err == nil && c != nil && len(c.ParentHashes) > 1 && len(merges) < limit {
		var from *object.Commit
		for _, p := range c.ParentHashes[1:] {
			f, ferr := hc.firstParentRun(p, limit, has)
			if ferr != nil {
				return nil, ferr
			}
			if f != nil {
				from = f
				break
			}
		}
		if from == nil {
			break // the merge itself wrote it
		}
		merges = append(merges, c)
		for _, m := range merges {
			if on, err := hc.git.IsAncestor(from.Hash, m.ParentHashes[0]); err != nil || on {
				return m, err // on that merge's first parent's line before: it brings it back
			}
		}
		c = from
	}
	return c, err
}

// sameFile reports whether commit c's rel is HEAD's.
func (hc *historyCache) sameFile(c *object.Commit, rel string) (bool, error) {
	now, ok, err := hc.git.HeadEntry(rel)
	if err != nil || !ok {
		return false, err
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	then, ok := hc.blobAt(c, rel)
	return ok && now == then, nil
}

// walkFrom is walk from commit start, a parent of merge, not kept: the
// oldest commit of the first-parent run from start whose version of the
// document merge holds at rel satisfies pred (nil when start's does not),
// and the document's path there.
func (hc *historyCache) walkFrom(start plumbing.Hash, merge *object.Commit, rel string, work *loops.Document, limit int, revocable bool, pred func(*loops.Document) bool) (*object.Commit, string, error) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	// The merge holds the document at rel: the branch may hold it at
	// another path (moved on either side), found as from any child. But
	// not under another loop id: between the merge and its branch lie the
	// first parent's changes too, which no rename of the merge's is.
	child := merge
	var childDoc *loops.Document
	if blob, ok := hc.blobAt(merge, rel); ok {
		childDoc, _ = hc.doc(rel, blob, work)
	}
	cur, found := rel, rel
	type revival struct {
		merge, parent *object.Commit
		path          string
	}
	var revivals []revival
	c, err := hc.firstParentRun(start, limit, func(c *object.Commit) bool {
		from, d, ok := hc.docIn(c, child, cur, childDoc, work, child != merge, pred)
		if !ok || !pred(d) {
			return false
		}
		cur = from
		if revocable {
			for _, p := range c.ParentHashes[min(1, len(c.ParentHashes)):] {
				if pc, err := hc.commit(p); err == nil {
					if _, pd, ok := hc.predecessor(pc, c, cur, d, work, false, pred); ok && !pred(pd) {
						revivals = append(revivals, revival{c, pc, cur})
					}
				}
			}
		}
		child, childDoc, found = c, d, cur
		return true
	})
	if err != nil || c == nil {
		return c, found, err
	}
	// As walk's revocable: a merge of the run that kept what its other
	// side had revoked since the run's oldest commit wrote it again.
	for _, r := range revivals {
		if ok, err := hc.git.IsAncestor(c.Hash, r.parent.Hash); err == nil && ok && hc.droppedSinceBase(r.merge.Hash, r.parent.Hash, r.path, pred) {
			return r.merge, r.path, nil
		}
	}
	return c, found, nil
}

// firstParentRun returns the oldest commit of the unbroken first-parent
// run from start whose every commit satisfies keep (nil when start does
// not), visiting at most limit commits; an unreadable commit ends it with
// the error. The caller holds hc.mu.
func (hc *historyCache) firstParentRun(start plumbing.Hash, limit int, keep func(*object.Commit) bool) (*object.Commit, error) {
	var found *object.Commit
	for h, n := start, 0; !h.IsZero(); n++ {
		if n == limit {
			return nil, historyLimitErr(limit)
		}
		c, err := hc.commit(h)
		if err != nil {
			return found, err
		}
		if !keep(c) {
			break
		}
		found = c
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	return found, nil
}

// keep records a walk from head that started at path rel and returns its
// commit and the document's path there (path); oldest is the run's oldest
// commit.
// A walk that depended on the working tree (volatile) is not kept.
func (hc *historyCache) keep(wk string, head, found plumbing.Hash, n int, rel, path string, oldest plumbing.Hash) (*object.Commit, string, error) {
	w := &walkResult{Head: head.String(), N: n}
	if n > 0 {
		w.Found = found.String()
		if path != rel {
			w.Path = path
		}
		if oldest != found {
			w.Oldest = oldest.String()
		}
	}
	if !hc.volatile {
		hc.walks[wk] = w
		hc.dirty = true
	}
	return hc.result(w, rel)
}

// result returns the commit a walk from path rel found, and the
// document's path there.
func (hc *historyCache) result(w *walkResult, rel string) (*object.Commit, string, error) {
	if w.N == 0 {
		return nil, rel, nil
	}
	path := rel
	if w.Path != "" {
		path = w.Path
	}
	c, err := hc.commit(plumbing.NewHash(w.Found))
	return c, path, err
}

// approvalKey names the approval walk of a gate.
func approvalKey(gate string) string { return "approval:" + gate }

// stepKey names the walk for the last change of a step's approved form.
func stepKey(name, form string) string {
	return "step:" + name + "\x00" + artifacts.CommandSHA256(form)
}
