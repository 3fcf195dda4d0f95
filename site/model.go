package site

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/gaps"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/packs"
)

// validID reports whether s may be used as one path component of the site:
// a loop id, gap id, pack name or status word matching
// ^[A-Za-z0-9][A-Za-z0-9._-]*$, at most 200 bytes, and not a name the site
// uses itself.
func validID(s string) bool {
	if s == "" || len(s) > 200 || !isAlnumByte(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(isAlnumByte(c) || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "index.html", "status", "assets":
		return false
	}
	return true
}

func isAlnumByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// packInfo is a verify pack: its definition and the runs that ran it.
type packInfo struct {
	Name string
	Def  *packs.Pack
	Runs []*receiptRec
}

// buildState is everything one build derives from its input.
type buildState struct {
	b        *Builder
	opts     Options
	root     string
	out      string
	cfg      *config.Config
	title    string
	baseURL  string
	now      time.Time
	global   string
	pathsKey string
	// pageless names the loop documents that get no page (an id that
	// cannot be one, or another document's), with why: the index lists
	// them, so that no document is silently left out.
	pageless []string

	docs      []*loops.Document
	docByID   map[string]*loops.Document
	docByPath map[string]*loops.Document

	recs     []*receiptRec
	recByKey map[string]*receiptRec
	// elsewhere names, by run key, the folders that also hold a receipt
	// of the key (a copy, or one forged into another folder), whose
	// receipts have no page: the key's page says so.
	elsewhere map[string][]string
	byLoop    map[string][]*receiptRec
	// adopted are, by loop id, the runs a loop's evidence block records
	// under a loop id no document has any more (the loop's id was
	// changed), which its page shows with its own (see adoptRuns);
	// adoptedBy names the loop of each.
	adopted   map[string][]*receiptRec
	adoptedBy map[string]string
	loopPos   map[string]int
	chain     map[string]string
	// artifactRun names, by artifact path, the last run (in run order)
	// whose receipt records it: that file is its. An earlier receipt of
	// the path (a step retried, two steps naming one artifact) shows it
	// as rewritten, not as a hash mismatch (see artifacts.VerifyEntries).
	artifactRun map[string]string
	// sigKeys are the receipt signing keys published in the repository
	// (receipt-keys.pem); keysPEM is that file, copied into the site.
	sigKeys map[string]ed25519.PublicKey
	keysPEM []byte

	ledgerErr  string
	gapList    []gaps.Gap
	gapByID    map[string]*gaps.Gap
	orphan     map[string]bool
	gapsOfLoop map[string][]*gaps.Gap

	packs      []*packInfo
	packByName map[string]*packInfo
	packOfRun  map[string]string

	states map[string]map[string]string
	// reasons holds, by loop and step, why a step held for an operator
	// waits (opts.StepReason; see held).
	reasons map[string]map[string]string

	// receiptLayout frames receipt pages, loopLayout loop pages.
	receiptLayout, loopLayout *layout

	warnMu   sync.Mutex
	warnings []string
	watch    []string
	// recWarnings and gapWarnings are the warnings about receipts and the
	// gap ledger, which a later build that reuses them repeats;
	// searchKey is the key of search.json (searchMemo, when set, is the
	// previous build's key, still valid).
	recWarnings, gapWarnings []string
	searchKey, searchMemo    string
	// recsReused is set when the receipts are the last build's.
	recsReused bool
}

func (st *buildState) warn(format string, args ...any) {
	st.warnMu.Lock()
	st.warnings = append(st.warnings, fmt.Sprintf(format, args...))
	st.warnMu.Unlock()
}

// prepare reads the receipts, gaps and packs and indexes everything.
func (b *Builder) prepare(ctx context.Context, opts Options, out string) (*buildState, error) {
	st := &buildState{b: b, opts: opts, root: opts.Root, out: out, cfg: opts.Config}
	st.title = st.cfg.Site.Title
	st.baseURL = opts.BaseURL
	if st.baseURL == "" {
		st.baseURL = st.cfg.Site.BaseURL
	}
	if st.baseURL != "" && !strings.HasSuffix(st.baseURL, "/") {
		st.baseURL += "/"
	}
	st.global = newKeyer(b.baseKey, st.title).sum()

	// Loops.
	st.docByID = map[string]*loops.Document{}
	st.docByPath = map[string]*loops.Document{}
	pk := newKeyer()
	for _, d := range opts.Set.Docs {
		switch {
		case !validID(d.LoopID):
			st.pageless = append(st.pageless, fmt.Sprintf("%s: loop id %q cannot be a page name (want ^[A-Za-z0-9][A-Za-z0-9._-]*$)", d.Path, d.LoopID))
			st.warn("%s; no page", st.pageless[len(st.pageless)-1])
			continue
		case opts.Set.ByID(d.LoopID) != d:
			st.pageless = append(st.pageless, fmt.Sprintf("%s: loop id %s is also used by %s", d.Path, d.LoopID, opts.Set.ByID(d.LoopID).Path))
			st.warn("%s; no page", st.pageless[len(st.pageless)-1])
			continue
		}
		st.docs = append(st.docs, d)
		st.docByID[d.LoopID] = d
		st.docByPath[d.Path] = d
	}
	sort.Slice(st.docs, func(i, j int) bool { return st.docs[i].LoopID < st.docs[j].LoopID })
	for _, d := range st.docs {
		pk.str(d.Path).str(d.LoopID).str(d.Status)
	}
	st.pathsKey = pk.sum()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Receipts: those of the last build when none changed (Serve's
	// watcher says so), else scanned.
	chainDone := make(chan struct{})
	if !b.reuseReceipts(st) {
		n := len(st.warnings)
		if err := st.readReceipts(); err != nil {
			return nil, err
		}
		st.recWarnings = append([]string(nil), st.warnings[n:]...)
		st.artifactRun = artifactRuns(st.recs)
		if p := b.prev; p != nil {
			// A receipt whose artifact another run now has, or has no
			// more, is checked again: its file may have changed with
			// that, unseen by a build that polls.
			for _, r := range st.recs {
				if r.ver != nil && !sameArtifactRuns(p, st, r) {
					r.ver, r.staticKey = nil, ""
				}
			}
		}
		// The hash chains, checked on another core while the rest is
		// prepared (nothing before the pages reads them).
		go func() {
			defer close(chainDone)
			st.chain = chainStates(st.recs)
		}()
	} else {
		close(chainDone)
	}
	defer func() { <-chainDone }()
	if opts.ReceiptsRead != nil {
		opts.ReceiptsRead(st.receiptLookup)
	}
	st.loadKeys()

	// Gaps, read and parsed on another core while the step states are
	// computed (each is a few tens of milliseconds for 2,000 loops; they
	// share nothing but st.docs, which both only read).
	gapsDone := make(chan struct{})
	nw := len(st.warnings)
	go func() {
		defer close(gapsDone)
		if !b.reuseGaps(st) {
			st.loadGaps()
		}
	}()

	// Step states.
	st.computeStates()
	st.adoptRuns()
	<-gapsDone
	if st.gapWarnings == nil {
		st.gapWarnings = append([]string{}, st.warnings[nw:]...)
	}

	// Packs.
	st.loadPacks()

	lay, err := st.makeLayout("../../", "")
	if err != nil {
		return nil, fmt.Errorf("site build: %w", err)
	}
	st.receiptLayout = lay
	if st.loopLayout, err = st.makeLayout("../../", "loops"); err != nil {
		return nil, fmt.Errorf("site build: %w", err)
	}

	// The clock.
	st.now = opts.Now.UTC()
	if opts.Now.IsZero() {
		for _, r := range st.recs {
			if r.Finish.After(st.now) {
				st.now = r.Finish
			}
		}
		for _, d := range st.docs {
			if hb := d.Heartbeat().Last; hb.After(st.now) {
				st.now = hb
			}
		}
	}
	return st, nil
}

// readReceipts scans the receipts folder and indexes the run folders.
func (st *buildState) readReceipts() error {
	b := st.b
	scan, err := b.receipts.scan(st.root, st.cfg.Receipts)
	if err != nil {
		return fmt.Errorf("site build: %w", err)
	}
	st.warnings = append(st.warnings, scan.warnings...)
	st.watch = scan.watch
	st.recs = scan.recs
	st.recByKey = make(map[string]*receiptRec, len(st.recs))
	st.byLoop = make(map[string][]*receiptRec, len(st.docs))
	st.loopPos = make(map[string]int, len(st.recs))
	// Of two folders of one run key, the page is the one in the folder
	// the key names (its date's), whichever is listed first: a copy put
	// in an earlier date folder must not stand for the run.
	store := &artifacts.Store{Dir: st.cfg.Receipts}
	own := func(r *receiptRec) bool {
		rel, err := store.RelDir(r.RunKey)
		return err == nil && rel == r.Dir
	}
	for _, r := range st.recs {
		if !artifacts.ValidRunKey(r.RunKey) {
			continue
		}
		if other, dup := st.recByKey[r.RunKey]; !dup || own(r) && !own(other) {
			st.recByKey[r.RunKey] = r
		}
	}
	var pageRecs []*receiptRec
	for _, r := range st.recs {
		if !artifacts.ValidRunKey(r.RunKey) {
			st.warn("%s: folder name is not a valid run key; no page", r.Dir)
			continue
		}
		if keep := st.recByKey[r.RunKey]; keep != r {
			st.warn("%s: run key also in %s; no page", r.Dir, keep.Dir)
			if st.elsewhere == nil {
				st.elsewhere = map[string][]string{}
			}
			st.elsewhere[r.RunKey] = append(st.elsewhere[r.RunKey], r.Dir)
			continue
		}
		pageRecs = append(pageRecs, r)
		if r.Receipt != nil && r.Receipt.LoopID != "" {
			id := r.Receipt.LoopID
			st.loopPos[r.RunKey] = len(st.byLoop[id])
			st.byLoop[id] = append(st.byLoop[id], r)
		}
	}
	st.recs = pageRecs
	return nil
}

// receiptLookup is the lookup Options.ReceiptsRead hands out: the
// receipt read from the run folder dir. It only reads what readReceipts
// made (recByKey and the records' receipts, hashes and folders), which
// nothing changes once the receipts are read.
func (st *buildState) receiptLookup(dir string) (*artifacts.Receipt, string, bool) {
	r := st.recByKey[path.Base(dir)]
	if r == nil || r.Dir != dir || r.Receipt == nil || r.Err != nil {
		return nil, "", false
	}
	return r.Receipt, r.Hash, true
}

// adoptRuns finds, for each loop, the runs its evidence block records
// whose receipts name another loop id, whose document (if one has that id
// now) does not record them: runs made before the loop's id was changed
// (a typo fixed in loop_id), which the planner counts as the loop's own. Its page lists them with the rest, and their
// receipt pages lead to it.
func (st *buildState) adoptRuns() {
	st.adopted, st.adoptedBy = nil, nil
	for _, d := range st.docs {
		for _, e := range d.Evidence {
			r := st.recByKey[e.RunKey]
			if r == nil || r.Receipt == nil || r.Receipt.LoopID == d.LoopID || st.adoptedBy[e.RunKey] != "" {
				continue
			}
			// A run its own loop's document records is that loop's.
			if own := st.docByID[r.Receipt.LoopID]; own != nil && own.Records(e.RunKey) {
				continue
			}
			if st.adopted == nil {
				st.adopted, st.adoptedBy = map[string][]*receiptRec{}, map[string]string{}
			}
			st.adopted[d.LoopID] = append(st.adopted[d.LoopID], r)
			st.adoptedBy[e.RunKey] = d.LoopID
		}
	}
}

// runsOf returns the runs a loop's page shows: its receipts and those it
// adopted (see adoptRuns), in time order.
func (st *buildState) runsOf(loopID string) []*receiptRec {
	own, adopted := st.byLoop[loopID], st.adopted[loopID]
	if len(st.adoptedBy) > 0 && slices.ContainsFunc(own, func(r *receiptRec) bool { return st.adoptedBy[r.RunKey] != "" }) {
		// A document that took a renamed loop's old id does not show the
		// runs the renamed loop kept.
		own = slices.DeleteFunc(slices.Clone(own), func(r *receiptRec) bool { return st.adoptedBy[r.RunKey] != "" })
	}
	if len(adopted) == 0 {
		return own
	}
	all := append(append(make([]*receiptRec, 0, len(own)+len(adopted)), adopted...), own...)
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].Start.Equal(all[j].Start) {
			return all[i].Start.Before(all[j].Start)
		}
		return all[i].RunKey < all[j].RunKey
	})
	return all
}

// held reports whether a loop page calls out a step in this state with its
// reason: the step waits for an operator (a blocked gate has its own
// call-out).
func held(state string) bool { return state == "failed" || state == "interrupted" }

// computeStates records every step's state, from opts.StepState or the
// receipts.
func (st *buildState) computeStates() {
	st.states = make(map[string]map[string]string, len(st.docs))
	fn := st.opts.StepState
	if fn == nil {
		fn = func(d *loops.Document, s *loops.Step) string { return st.receiptState(d.LoopID, s.Name) }
	}
	for _, d := range st.docs {
		n := 0
		for i := range d.Stages {
			n += len(d.Stages[i].Steps)
		}
		m := make(map[string]string, n)
		var held1 []*loops.Step
		for i := range d.Stages {
			for j := range d.Stages[i].Steps {
				s := &d.Stages[i].Steps[j]
				if _, twice := m[s.Name]; twice {
					// A name given twice (a lint error) shows its first
					// step's state.
					continue
				}
				if s.Kind == loops.KindManual {
					if st.opts.StepState != nil {
						m[s.Name] = fn(d, s)
					} else if s.Checked {
						m[s.Name] = "done"
					} else {
						m[s.Name] = "waiting"
					}
				} else if s.Name != "" {
					m[s.Name] = fn(d, s)
				} else {
					continue
				}
				if held(m[s.Name]) || m[s.Name] == "blocked" {
					held1 = append(held1, s)
				}
			}
		}
		st.states[d.LoopID] = m
		if st.opts.StepReason != nil {
			for _, s := range held1 {
				if st.reasons == nil {
					st.reasons = map[string]map[string]string{}
				}
				if st.reasons[d.LoopID] == nil {
					st.reasons[d.LoopID] = map[string]string{}
				}
				st.reasons[d.LoopID][s.Name] = st.opts.StepReason(d, s)
			}
		}
	}
	st.b.stepState = func(loopID, step string) string {
		if s, ok := st.states[loopID][step]; ok && s != "" {
			return s
		}
		return "unknown"
	}
}

// receiptState is the default step state: from the step's last receipt.
func (st *buildState) receiptState(loopID, step string) string {
	runs := st.byLoop[loopID]
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i].Receipt
		if r.Step != step {
			continue
		}
		switch r.Status {
		case artifacts.StatusPass, artifacts.StatusSkipped:
			return "done"
		case artifacts.StatusFail:
			if r.AllowFailure {
				return "done"
			}
			return "failed"
		case artifacts.StatusBlocked:
			return "blocked"
		case artifacts.StatusInterrupted:
			return "interrupted"
		}
		return "unknown"
	}
	return "pending"
}

// loadGaps reads the gap ledger.
// loadKeys reads the published receipt signing keys, if any: receipt
// pages show each signature's state against them.
func (st *buildState) loadKeys() {
	p, err := artifacts.SafeJoin(st.root, artifacts.PublishedKeysFile)
	if err != nil {
		return
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return
	}
	keys, err := artifacts.ParsePublicKeys(data)
	if err != nil {
		st.warn("%s: %v", artifacts.PublishedKeysFile, err)
		return
	}
	st.sigKeys, st.keysPEM = keys, data
}

func (st *buildState) loadGaps() {
	st.gapByID = map[string]*gaps.Gap{}
	st.orphan = map[string]bool{}
	st.gapsOfLoop = map[string][]*gaps.Gap{}
	p, err := artifacts.SafeJoin(st.root, st.cfg.Gaps)
	if err != nil {
		st.ledgerErr = err.Error()
		st.warn("gap ledger: %v", err)
		return
	}
	st.watch = append(st.watch, p)
	data, err := readFileNoFollow(p, 256<<20)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		st.ledgerErr = err.Error()
		st.warn("gap ledger: %v", err)
		return
	}
	l, err := gaps.Parse(st.cfg.Gaps, data)
	if err != nil {
		st.ledgerErr = err.Error()
		st.warn("gap ledger: %v", err)
		return
	}
	st.gapList = l.Gaps
	statuses := map[string]string{}
	for _, d := range st.docs {
		statuses[d.LoopID] = d.Status
	}
	for _, g := range gaps.Orphans(l, statuses) {
		st.orphan[g.ID] = true
	}
	for i := range st.gapList {
		g := &st.gapList[i]
		switch {
		case !validID(g.ID):
			st.warn("%s:%d: gap id %q cannot be a page name; no page", st.cfg.Gaps, g.Line, g.ID)
			continue
		case st.gapByID[g.ID] != nil:
			st.warn("%s:%d: gap id %s is used twice; no page for the second", st.cfg.Gaps, g.Line, g.ID)
			continue
		}
		st.gapByID[g.ID] = g
	}
	// Open gaps per loop: those it owns and those it mentions.
	for _, d := range st.docs {
		seen := map[string]bool{}
		for _, g := range st.gapList {
			if g.IsOpen() && strings.TrimSpace(g.ParentLoop) == d.LoopID && st.gapByID[g.ID] != nil && !seen[g.ID] {
				seen[g.ID] = true
				st.gapsOfLoop[d.LoopID] = append(st.gapsOfLoop[d.LoopID], st.gapByID[g.ID])
			}
		}
		for _, id := range d.GapIDs {
			if g := st.gapByID[id]; g != nil && g.IsOpen() && !seen[id] {
				seen[id] = true
				st.gapsOfLoop[d.LoopID] = append(st.gapsOfLoop[d.LoopID], g)
			}
		}
		sort.Slice(st.gapsOfLoop[d.LoopID], func(i, j int) bool {
			return st.gapsOfLoop[d.LoopID][i].ID < st.gapsOfLoop[d.LoopID][j].ID
		})
	}
}

// loadPacks reads verify/*.yaml and assigns verify runs to their packs.
func (st *buildState) loadPacks() {
	st.packByName = map[string]*packInfo{}
	st.packOfRun = map[string]string{}
	dir, err := artifacts.SafeJoin(st.root, st.cfg.VerifyDir)
	if err != nil {
		st.warn("verify packs: %v", err)
	} else {
		st.watch = append(st.watch, dir)
		defs, probs := packs.LoadDir(dir)
		for _, p := range probs {
			if p.Level == packs.LevelError {
				rel, _ := filepath.Rel(st.root, p.Path)
				if p.Line > 0 {
					st.warn("%s:%d: %s", filepath.ToSlash(rel), p.Line, p.Message)
				} else {
					st.warn("%s: %s", filepath.ToSlash(rel), p.Message)
				}
			}
		}
		for _, d := range defs {
			st.watch = append(st.watch, d.Path)
			if !validID(d.Name) {
				st.warn("verify pack %q cannot be a page name; no page", d.Name)
				continue
			}
			if st.packByName[d.Name] != nil {
				continue
			}
			pi := &packInfo{Name: d.Name, Def: d}
			st.packByName[d.Name] = pi
		}
	}
	for _, r := range st.recs {
		rc := r.Receipt
		if rc == nil || (rc.Capability != "verify.pack.run" && len(rc.Checks) == 0) {
			continue
		}
		name := st.packNameOf(r)
		if !validID(name) {
			continue
		}
		pi := st.packByName[name]
		if pi == nil {
			pi = &packInfo{Name: name}
			st.packByName[name] = pi
		}
		pi.Runs = append(pi.Runs, r)
		st.packOfRun[r.RunKey] = name
	}
	for _, pi := range st.packByName {
		st.packs = append(st.packs, pi)
	}
	sort.Slice(st.packs, func(i, j int) bool { return st.packs[i].Name < st.packs[j].Name })
}

// packNameOf names the pack a verify run ran: the step's pack attribute in
// its loop document, else the defined pack holding all of its checks, else
// "unassigned".
func (st *buildState) packNameOf(r *receiptRec) string {
	rc := r.Receipt
	if d := st.docByID[rc.LoopID]; d != nil {
		if _, s := d.Step(rc.Step); s != nil && s.Pack != "" {
			return s.Pack
		}
	}
	if len(rc.Checks) > 0 {
		names := make([]string, 0, len(st.packByName))
		for n := range st.packByName {
			names = append(names, n)
		}
		sort.Strings(names)
	next:
		for _, n := range names {
			def := st.packByName[n].Def
			if def == nil {
				continue
			}
			for _, c := range rc.Checks {
				if _, ok := def.Check(c.ID); !ok {
					continue next
				}
			}
			return n
		}
	}
	return "unassigned"
}
