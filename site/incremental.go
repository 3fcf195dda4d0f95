package site

import (
	"bytes"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spinehq/spine/loops"
)

// buildHint tells a build of a long-lived Builder (Serve) what changed
// since its last build, as the file watcher saw it. With a hint, the build
// trusts the Builder's memory for everything else: it neither scans nor
// stats unchanged receipts, reuses the gap ledger when unchanged, and makes
// only the pages whose inputs may have changed, carrying the manifest
// entries of the others over. Without one (the first build, polling, the
// CLI) a build checks every input.
type buildHint struct {
	c changeSet
}

// incremental reports whether this build may trust the last one.
func (b *Builder) incremental() bool {
	return b.hint != nil && b.prev != nil && !b.oneShot
}

// applyHint drops from the receipt cache what the hint says changed, so
// that the scan reads it again. It runs before prepare.
func (b *Builder) applyHint(root string) {
	h := b.hint
	if h == nil || b.receipts == nil {
		return
	}
	if h.c.receiptsAll {
		// Year or month folders changed: list every day folder again
		// (the receipts in them are kept unless changed).
		for _, dl := range b.receipts.days {
			dl.mtime = time.Time{}
		}
	}
	for day := range h.c.days {
		if dl := b.receipts.days[filepath.Join(root, filepath.FromSlash(day))]; dl != nil {
			dl.mtime = time.Time{}
		}
	}
	for run := range h.c.runs {
		dl := b.receipts.days[filepath.Join(root, filepath.FromSlash(path.Dir(run)))]
		if dl == nil {
			continue
		}
		dl.mtime = time.Time{}
		dl.recs = slices.DeleteFunc(slices.Clone(dl.recs), func(r *receiptRec) bool { return r.Dir == run })
	}
	if h.c.artifacts && b.prev != nil {
		// An artifact changed: verify again every run that has any.
		for _, r := range b.prev.recs {
			if r.Receipt != nil && len(r.Receipt.Artifacts) > 0 {
				r.ver, r.staticKey = nil, ""
				b.reverify[r] = true
			}
		}
	}
}

// reuseReceipts takes the receipts of the last build when none changed.
func (b *Builder) reuseReceipts(st *buildState) bool {
	if !b.incremental() || b.hint.c.receipts() || b.hint.c.artifacts {
		return false
	}
	p := b.prev
	st.recs, st.recByKey, st.byLoop, st.loopPos, st.chain, st.artifactRun = p.recs, p.recByKey, p.byLoop, p.loopPos, p.chain, p.artifactRun
	st.elsewhere = p.elsewhere
	st.watch = p.watch
	st.recWarnings = p.recWarnings
	st.recsReused = true
	st.warnings = append(st.warnings, p.recWarnings...)
	return true
}

// reuseGaps takes the gap ledger of the last build when it did not change
// and the loops it depends on (ids, statuses, gap ids) are the same.
func (b *Builder) reuseGaps(st *buildState) bool {
	if !b.incremental() || b.hint.c.gaps {
		return false
	}
	p := b.prev
	if len(p.docs) != len(st.docs) {
		return false
	}
	for i, d := range st.docs {
		o := p.docs[i]
		if o != d && (o.LoopID != d.LoopID || o.Status != d.Status || !slices.Equal(o.GapIDs, d.GapIDs)) {
			return false
		}
	}
	st.gapList, st.gapByID, st.orphan, st.gapsOfLoop, st.ledgerErr = p.gapList, p.gapByID, p.orphan, p.gapsOfLoop, p.ledgerErr
	st.gapWarnings = append([]string{}, p.gapWarnings...)
	if p, err := filepath.Abs(filepath.Join(st.root, filepath.FromSlash(st.cfg.Gaps))); err == nil {
		st.watch = append(st.watch, p)
	}
	st.warnMu.Lock()
	st.warnings = append(st.warnings, p.gapWarnings...)
	st.warnMu.Unlock()
	return true
}

// carried are the pages a build does not make again: their manifest
// entries are the last build's.
type carried struct {
	loops map[string]bool
	// allReceipts: every receipt page is carried; else recKeys.
	allReceipts bool
	recKeys     map[string]bool
	// runs: the timeline and the feed are carried.
	runs  bool
	files int
}

// runPages reports whether the timeline and the feed are carried.
func (c *carried) runPages() bool { return c != nil && c.runs }

// receipt reports whether the page of r is carried.
func (c *carried) receipt(r *receiptRec) bool {
	return c != nil && (c.allReceipts || c.recKeys[r.RunKey])
}

// loop reports whether the page of the loop id is carried.
func (c *carried) loop(id string) bool { return c != nil && c.loops[id] }

// carry decides which loop and receipt pages, and whether the timeline and
// the feed, cannot have changed since the last build (the same inputs, compared in memory), records their manifest
// entries in w and returns them. It returns nil when the build is not
// incremental.
func (b *Builder) carry(st *buildState, w *writer) *carried {
	if !b.incremental() {
		return nil
	}
	p := b.prev
	if p.global != st.global || !bytes.Equal(p.keysPEM, st.keysPEM) {
		return nil
	}
	c := &carried{loops: map[string]bool{}, recKeys: map[string]bool{}}
	sameRecs := st.recsReused

	// Loops.
	if p.pathsKey == st.pathsKey {
		for _, d := range st.docs {
			if p.docByID[d.LoopID] == d && b.sameLoopInputs(p, st, d, sameRecs) {
				c.loops[d.LoopID] = true
			}
		}
	}

	// Receipts: a page shows its run's files (the same record, not
	// verified again), its loop's existence, its pack, its place in the
	// hash chain and its neighbours.
	// A note links the runs, gaps and loops it names: notes are
	// stable when none of those was added or removed.
	notes := sameRecs && p.pathsKey == st.pathsKey && mapsSameGaps(p, st)
	if notes && maps.Equal(p.packOfRun, st.packOfRun) && maps.Equal(p.adoptedBy, st.adoptedBy) && len(b.reverify) == 0 {
		c.allReceipts = true
	} else {
		for _, r := range st.recs {
			if !notes && r.Receipt != nil && r.Receipt.Note != "" {
				continue
			}
			if b.reverify[r] || r.ver == nil || p.recByKey[r.RunKey] != r ||
				p.chain[r.RunKey] != st.chain[r.RunKey] || p.packOfRun[r.RunKey] != st.packOfRun[r.RunKey] ||
				!slices.Equal(p.elsewhere[r.RunKey], st.elsewhere[r.RunKey]) ||
				!sameArtifactRuns(p, st, r) {
				continue
			}
			if pp, pn := p.neighbours(r); !sameRecs {
				if sp, sn := st.neighbours(r); pp != sp || pn != sn {
					continue
				}
			}
			if r.Receipt != nil && (p.docByID[r.Receipt.LoopID] != nil) != (st.docByID[r.Receipt.LoopID] != nil) {
				continue
			}
			if p.adoptedBy[r.RunKey] != st.adoptedBy[r.RunKey] {
				continue
			}
			c.recKeys[r.RunKey] = true
		}
	}

	// The timeline and the feed show the runs (with links to their loops
	// when these exist), the site's title and its URL.
	c.runs = sameRecs && p.pathsKey == st.pathsKey && p.baseURL == st.baseURL

	// The manifest entries of the carried pages: everything under
	// receipts/<run key>/ (the page, its log and artifacts, as the last
	// build made them from the same record), and loops/<id>/index.html.
	// The last manifest is copied whole (a copy of the map's memory, far
	// cheaper than inserting its entries one by one), then the entries of
	// the pages made again are taken out.
	var keep, dropped []string
	next := maps.Clone(w.old.files)
	for path := range next {
		carry := false
		switch {
		case strings.HasPrefix(path, "receipts/"):
			key, _, _ := strings.Cut(path[len("receipts/"):], "/")
			carry = c.allReceipts || c.recKeys[key]
			if carry && !c.allReceipts && strings.HasSuffix(path, "/index.html") {
				keep = append(keep, p.recByKey[key].Dir)
			}
		case strings.HasPrefix(path, "loops/"):
			id, rest, _ := strings.Cut(path[len("loops/"):], "/")
			carry = rest == "index.html" && c.loops[id]
		case strings.HasPrefix(path, "timeline/"), path == "feed.xml":
			carry = c.runs
		}
		if carry {
			c.files++
		} else {
			delete(next, path)
			dropped = append(dropped, path)
		}
	}
	w.next, w.dropped, w.droppedKnown = next, dropped, true
	if c.allReceipts {
		b.sums.keepEverything()
	} else {
		b.sums.keepAll(keep)
	}

	// search.json: the same entries when the receipts and gaps are the
	// last build's and no loop's entry changed.
	if sameRecs && p.searchKey != "" && mapsSameGaps(p, st) && sameSearchDocs(p, st) {
		st.searchMemo = p.searchKey
	}
	return c
}

// sameLoopInputs reports whether what the page of d (the same document as
// in the last build) shows from outside the document is unchanged: step
// states, referenced runs and gaps, the loop's runs and gaps.
func (b *Builder) sameLoopInputs(p, st *buildState, doc *loops.Document, sameRecs bool) bool {
	id := doc.LoopID
	if !maps.Equal(p.states[id], st.states[id]) || !maps.Equal(p.reasons[id], st.reasons[id]) {
		return false
	}
	if !sameRecs {
		for _, k := range doc.RunKeys {
			if (p.recByKey[k] != nil) != (st.recByKey[k] != nil) {
				return false
			}
		}
		pr, sr := p.byLoop[id], st.byLoop[id]
		if len(pr) != len(sr) {
			return false
		}
		for i := range sr {
			if pr[i] != sr[i] || p.chain[sr[i].RunKey] != st.chain[sr[i].RunKey] {
				return false
			}
		}
	}
	// The runs it adopted depend on its evidence block and on which loop
	// ids have documents, not only on the receipts.
	if pa, sa := p.adopted[id], st.adopted[id]; !slices.Equal(pa, sa) {
		return false
	}
	for _, r := range st.adopted[id] {
		if p.chain[r.RunKey] != st.chain[r.RunKey] {
			return false
		}
	}
	for _, g := range doc.GapIDs {
		if (p.gapByID[g] != nil) != (st.gapByID[g] != nil) {
			return false
		}
	}
	pg, sg := p.gapsOfLoop[id], st.gapsOfLoop[id]
	if len(pg) != len(sg) {
		return false
	}
	for i := range sg {
		a, o := sg[i], pg[i]
		if a.ID != o.ID || a.Status != o.Status || a.Severity != o.Severity || a.Title != o.Title || a.Description != o.Description || st.orphan[a.ID] != p.orphan[o.ID] {
			return false
		}
	}
	return true
}

// mapsSameGaps reports whether the build reuses the last build's gaps.
func mapsSameGaps(p, st *buildState) bool {
	return p.gapByID != nil && maps.Equal(p.gapByID, st.gapByID)
}

// sameSearchDocs reports whether every loop's search.json entry is the
// same as in the last build.
func sameSearchDocs(p, st *buildState) bool {
	if len(p.docs) != len(st.docs) {
		return false
	}
	for i, d := range st.docs {
		o := p.docs[i]
		if o == d {
			continue
		}
		if o.LoopID != d.LoopID || o.Title != d.Title || o.Status != d.Status ||
			o.Meta.String("owner") != d.Meta.String("owner") || o.Meta.String("priority") != d.Meta.String("priority") {
			return false
		}
	}
	return true
}

// keepEverything carries every entry of the last build over, for a build
// that makes no receipt page (its receipts are all the last build's,
// unchanged).
func (c *sumCache) keepEverything() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// No receipt page is made, so nothing is added: the build's entries
	// are the last build's map itself, which save then keeps as it is.
	c.next = c.old
}

// keepAll carries the entries of the run folders dirs over to this build.
func (c *sumCache) keepAll(dirs []string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, dir := range dirs {
		if e, ok := c.old[dir]; ok {
			c.next[dir] = e
		}
	}
}

// count returns the number of files carried over.
func (c *carried) count() int {
	if c == nil {
		return 0
	}
	return c.files
}
