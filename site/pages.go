package site

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/render"
)

// execute renders template name with data and writes it to p (with the
// manifest key key), from a recycled buffer.
func (st *buildState) execute(w *writer, p, key, name string, data any) error {
	buf, _ := st.b.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	defer st.b.bufs.Put(buf)
	if err := st.b.tmpl.ExecuteTemplate(buf, name, data); err != nil {
		return fmt.Errorf("site: render %s: %w", name, err)
	}
	return w.emit(p, key, templateText(buf.Bytes()))
}

// templateText makes a page html/template wrote show, not pass on, what
// its text fields held (a gap's title from a YAML escape, a pack's
// description): control characters and invalid UTF-8 as U+FFFD,
// bidirectional controls as markers, as escapeHTML does for the pages
// spine writes itself. A page with none is returned as it is.
func templateText(page []byte) []byte {
	page = render.Clean(page)
	if render.HasBidi(page) {
		page = []byte(render.VisibleBidi(string(page)))
	}
	return page
}

// rowsMark stands for the rows of a table while a page's template is
// executed by executeRows.
const rowsMark = "SPINE-PAGE-ROWS-MARK-5d20b7"

// executeRows renders template name with data, whose field *rows holds
// the HTML of the rows of a table, and writes it to p (with the manifest
// key key). The template must show *rows exactly once when there are rows
// (n > 0). The rows are written by write straight into the page where the
// template shows *rows, instead of going through the template as a string
// (for pages of thousands of rows, that string and the template's copies
// of it were most of the memory the page took).
func (st *buildState) executeRows(w *writer, p, key, name string, data any, n int, rows *template.HTML, write func(*hw)) error {
	hb := st.b.hws.Get().(*hw)
	hb.Reset()
	defer st.b.hws.Put(hb)
	if n > 0 {
		*rows = rowsMark
		if err := st.b.tmpl.ExecuteTemplate(hb, name, data); err != nil {
			return fmt.Errorf("site: render %s: %w", name, err)
		}
		page := hb.Bytes()
		if i := bytes.Index(page, []byte(rowsMark)); i >= 0 && !bytes.Contains(page[i+len(rowsMark):], []byte(rowsMark)) {
			tail := st.b.hws.Get().(*hw)
			tail.Reset()
			defer st.b.hws.Put(tail)
			tail.Write(templateText(page[i+len(rowsMark):]))
			head := templateText(page[:i])
			if len(head) != i || i > 0 && &head[0] != &page[0] {
				// Cleaned: a copy, put back in place of the page.
				hb.Reset()
				hb.Write(head)
			} else {
				hb.Truncate(i)
			}
			write(hb)
			hb.Write(tail.Bytes())
			return w.emit(p, key, hb.Bytes())
		}
		// The mark is in the page's text as well (or not at all):
		// render the rows as a string.
		hb.Reset()
	}
	write(hb)
	*rows = hb.html()
	return st.execute(w, p, key, name, data)
}

// write assembles every job of the site and runs them. afterJobs, when
// set, runs once every job succeeded, beside the writing of the manifest
// (each is a single core's work at the end of a build); write returns
// after both.
func (b *Builder) write(ctx context.Context, st *buildState, afterJobs func()) (Stats, error) {
	w := &writer{out: st.out, old: b.manifest}
	// A rebuild of Serve's does not make again the pages it knows to be
	// unchanged (carry), whose entries start the new manifest.
	carried := b.carry(st, w)
	if w.next == nil {
		w.next = make(map[string]manifestEntry, max(len(b.manifest.files), len(st.recs)+len(st.docs)))
	}
	var jobs []job
	names := make([]string, 0, len(b.assets))
	for n := range b.assets {
		if n != "assets/reload.js" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		data := b.assets[n]
		jobs = append(jobs, func(w *writer) error { return w.emit(n, "", data) })
	}
	// The few large pages first, so that they run beside the many small
	// ones instead of after them, on an otherwise idle core.
	if len(st.keysPEM) > 0 {
		// The receipt signing keys, for `spine verify --keys` by readers.
		jobs = append(jobs, func(w *writer) error { return w.emit(artifacts.PublishedKeysFile, "", st.keysPEM) })
	}
	jobs = append(jobs, st.searchJob())
	if !carried.runPages() {
		jobs = append(jobs, st.feedJob())
		jobs = append(jobs, st.timelineJobs()...)
	}
	// The index first; the status pages, which wait for the key the
	// index's job makes (indexJobs), after the loop and gap pages.
	index := st.indexJobs()
	jobs = append(jobs, index[0])
	jobs = append(jobs, st.gapIndexJobs()...)
	jobs = append(jobs, st.packJobs()...)
	for _, d := range st.docs {
		if carried.loop(d.LoopID) {
			continue
		}
		jobs = append(jobs, st.loopJob(d))
	}
	jobs = append(jobs, st.movedJobs()...)
	gapIDs := make([]string, 0, len(st.gapByID))
	for id := range st.gapByID {
		gapIDs = append(gapIDs, id)
	}
	sort.Strings(gapIDs)
	for _, id := range gapIDs {
		jobs = append(jobs, st.gapJob(st.gapByID[id]))
	}
	jobs = append(jobs, index[1:]...)
	for _, r := range st.recs {
		if carried.receipt(r) {
			continue
		}
		jobs = append(jobs, st.receiptJob(r))
	}
	if err := runJobs(ctx, w, jobs); err != nil {
		return Stats{}, err
	}
	if afterJobs != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			afterJobs()
		}()
		defer func() { <-done }()
	}
	removed, err := w.finish()
	if err != nil {
		return Stats{}, err
	}
	b.manifest = w.final
	b.manifest.onDisk = true
	sort.Strings(w.wpaths)
	return Stats{
		Files:        len(w.next),
		Written:      int(w.written.Load()),
		Unchanged:    int(w.unchanged.Load()) + carried.count(),
		Removed:      len(removed),
		WrittenPaths: w.wpaths,
		RemovedPaths: removed,
		Warnings:     st.warnings,
	}, nil
}

// ---- receipts ----

// kvh is a labelled HTML value.
type kvh struct {
	Key   string
	Value template.HTML
}

type checkRow struct {
	artifacts.CheckResult
	Duration string
}

type artifactRow struct {
	Path, Size, SHA256, Short, State, URL string
	OK                                    bool
	// RewrittenBy is the later run whose file replaced this one (see
	// buildState.artifactRun), and RewrittenURL its page.
	RewrittenBy, RewrittenURL string
}

type receiptPage struct {
	pageBase
	Key              string
	LoopID, LoopURL  string
	R                *artifacts.Receipt
	Err              string
	Missing          bool
	Duration         string
	When, ISO        string
	Pack, PackURL    string
	ChainOK          bool
	Chain            string
	HashesOK         bool
	V                *verification
	ApprovalText     string
	Command          template.HTML
	Checks           []checkRow
	Artifacts        []artifactRow
	Log              logView
	LogSize          string
	LogHead, LogTail template.HTML
	LogURL           string
	Raw              []byte
	// rec is the run the page shows, for its receipt fields.
	rec        *receiptRec
	RawCut     bool
	Prev, Next *runRef
	// Signature is the state of receipt.dsse.json against the published
	// keys: unsigned, signed and verified, or why not.
	Signature string
}

// signature returns the state of a receipt's DSSE signature (memoised: a
// receipt's files never change).
func (st *buildState) signature(r *receiptRec) string {
	keys := string(st.keysPEM)
	if r.sigState == "" || r.sigKeys != keys {
		// Most receipts are unsigned: one lstat says so, where
		// artifacts.SignatureState checks every folder of the path
		// first. The scan found the run folder through real
		// directories only, and a receipt with an envelope still gets
		// the full check.
		exists, known := r.dsseExists(st.b.receipts.gen)
		if !known {
			exists = lexists(filepath.Join(st.root, filepath.FromSlash(r.Dir), artifacts.DSSEFile))
		}
		if !exists {
			r.sigState, r.sigKeys = "unsigned", keys
		} else {
			r.sigState, r.sigKeys = artifacts.SignatureState(st.root, r.Dir, st.sigKeys), keys
		}
	}
	return r.sigState
}

// sigText is the signature state a receipt page shows: signature's, and
// for an unsigned receipt that follows one with an envelope in its loop,
// while keys are published, a warning: a receipt rewritten with its envelope
// removed looks just like one of a host that does not sign.
func (st *buildState) sigText(r *receiptRec) string {
	sig := st.signature(r)
	if sig != "unsigned" || len(st.keysPEM) == 0 {
		return sig
	}
	if prev, _ := st.neighbours(r); prev != nil && st.hasEnvelope(prev) {
		return unsignedAfterSigned
	}
	return sig
}

// hasEnvelope reports whether r's folder holds receipt.dsse.json. Unlike
// signature it writes nothing to r: another receipt's job asks it, while
// r's own may be running.
func (st *buildState) hasEnvelope(r *receiptRec) bool {
	if exists, known := r.dsseExists(st.b.receipts.gen); known {
		return exists
	}
	return lexists(filepath.Join(st.root, filepath.FromSlash(r.Dir), artifacts.DSSEFile))
}

// unsignedAfterSigned is sigText's warning.
const unsignedAfterSigned = "unsigned, though the receipt before it in this loop is signed: check which host wrote it"

// neighbours returns the previous and next run of the same loop.
func (st *buildState) neighbours(r *receiptRec) (prev, next *receiptRec) {
	if r.Receipt == nil {
		return nil, nil
	}
	runs := st.byLoop[r.Receipt.LoopID]
	i, ok := st.loopPos[r.RunKey]
	if !ok {
		return nil, nil
	}
	if i > 0 {
		prev = runs[i-1]
	}
	if i+1 < len(runs) {
		next = runs[i+1]
	}
	return prev, next
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// receiptKey hashes everything a receipt page shows.
func (st *buildState) receiptKey(r *receiptRec) string {
	k, _ := st.b.keyers.Get().(*keyer)
	if k == nil {
		k = newKeyer()
	}
	defer st.b.keyers.Put(k)
	if r.staticKey == "" {
		// What never changes for a receipt: its files, read once.
		k.reset()
		sk := k.str("receipt").str(r.RunKey).str(r.Dir).str(r.Hash).str(errText(r.Err)).bool(r.Missing)
		v := r.ver
		sk.bool(v.LogPresent).int(v.LogSize).int(int64(v.LogLines)).str(v.LogSHA256).str(v.LogErr).str(v.LogState).bool(v.CommandOK).bool(v.LogFolded)
		for _, a := range v.Artifacts {
			sk.str(a.SiteName).str(a.State).str(a.SHA256).bool(a.Src != "").bool(a.Again)
		}
		r.staticKey = sk.sum()
	}
	k.reset()
	k.str(st.global).str(r.staticKey)
	k.str(st.chain[r.RunKey])
	for _, d := range st.elsewhere[r.RunKey] {
		k.str(d)
	}
	k.str(st.signature(r))
	for _, a := range r.ver.Artifacts {
		k.str(st.rewrittenBy(r, a.Ref.Path))
	}
	if r.Receipt != nil {
		k.bool(st.docByID[r.Receipt.LoopID] != nil).str(st.adoptedBy[r.RunKey])
		k.str(st.packOfRun[r.RunKey])
		if r.Receipt.Note != "" {
			// The note links the runs, gaps and loops it names.
			st.refsKey(k, []byte(r.Receipt.Note))
		}
	}
	prev, next := st.neighbours(r)
	if prev != nil {
		k.str(prev.RunKey).bool(st.hasEnvelope(prev)) // see sigText
	}
	k.str("|")
	if next != nil {
		k.str(next.RunKey)
	}
	return k.sum()
}

func (st *buildState) receiptJob(r *receiptRec) job {
	return func(w *writer) error {
		var lv *logView
		dir := "receipts/" + r.RunKey + "/"
		paths := []string{dir + "index.html"}
		if r.ver == nil {
			// A page the previous build did not write is written now,
			// with the log: read it rather than look up its summary.
			// (The scan took the log's stat only for a page in the
			// manifest: Builder.wantLog.)
			_, _, had := r.logStat(st.b.receipts.gen)
			if !had {
				_, had = w.old.files[paths[0]]
			}
			r.ver, lv = verify(st.root, st.cfg.Artifacts, r, st.b.sums, !had, st.b.receipts.gen)
		} else {
			st.b.sums.keep(r.Dir)
		}
		if r.ver.LogFolded {
			paths = append(paths, dir+"output.txt")
		}
		for _, a := range r.ver.Artifacts {
			if a.Src != "" && !a.Again && st.rewrittenBy(r, a.Ref.Path) == "" {
				paths = append(paths, dir+"artifacts/"+a.SiteName)
			}
		}
		key := st.receiptKey(r)
		if w.reuse(key, paths...) {
			if st.b.oneShot {
				r.Raw = nil
			}
			return nil
		}
		if lv == nil {
			l, _ := readLog(filepath.Join(st.root, filepath.FromSlash(r.Dir), artifacts.OutputFile))
			lv = &l
		}
		hb := st.b.hws.Get().(*hw)
		hb.Reset()
		st.writeReceipt(hb, st.receiptPage(r, lv))
		err := w.emit(paths[0], key, hb.Bytes())
		st.b.hws.Put(hb)
		if err != nil {
			return err
		}
		if st.b.oneShot {
			// No later build of this Builder will show it again.
			r.Raw = nil
		}
		if r.ver.LogFolded {
			src := filepath.Join(st.root, filepath.FromSlash(r.Dir), artifacts.OutputFile)
			if err := w.emitCopy(dir+"output.txt", key, src, r.ver.LogSHA256); err != nil {
				return err
			}
		}
		for _, a := range r.ver.Artifacts {
			if a.Src != "" && !a.Again && st.rewrittenBy(r, a.Ref.Path) == "" {
				if err := w.emitCopy(dir+"artifacts/"+a.SiteName, key, a.Src, a.SHA256); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func (st *buildState) receiptPage(r *receiptRec, lv *logView) *receiptPage {
	p := receiptPath(r.RunKey)
	root := rootOf(p)
	pg := &receiptPage{pageBase: st.base(p, r.RunKey, ""), Key: r.RunKey, R: r.Receipt, Missing: r.Missing, Log: *lv, V: r.ver, rec: r}
	if r.Err != nil {
		pg.Err = r.Err.Error()
	}
	pg.When, pg.ISO = fmtWhen(r.Start), fmtISO(r.Start)
	pg.LogSize = fmtSize(lv.Size)
	pg.LogHead = template.HTML(lv.Head) //nolint:gosec // escaped by ansiHTML
	pg.LogTail = template.HTML(lv.Tail) //nolint:gosec // escaped by ansiHTML
	if r.ver.LogFolded {
		pg.LogURL = "output.txt"
	}
	raw := r.Raw
	if raw == nil {
		raw = st.b.rstate.raw(r.rawAt)
	}
	if len(raw) > 0 {
		if len(raw) > 64<<10 {
			raw, pg.RawCut = raw[:64<<10], true
		}
		pg.Raw = raw
	}
	prev, next := st.neighbours(r)
	pg.Prev, pg.Next = st.runRef(root, prev), st.runRef(root, next)
	rc := r.Receipt
	if rc == nil {
		return pg
	}
	pg.LoopID = rc.LoopID
	if id := st.adoptedBy[r.RunKey]; id != "" {
		// Run before the loop's id changed: its loop is the document
		// whose evidence block records it (a document that took the old
		// id since is another loop).
		pg.LoopID, pg.LoopURL = id, root+loopPath(id)
	} else if st.docByID[rc.LoopID] != nil {
		pg.LoopURL = root + loopPath(rc.LoopID)
	}
	pg.Duration = fmtDuration(rc.DurationMS)
	if name := st.packOfRun[r.RunKey]; name != "" {
		pg.Pack, pg.PackURL = name, root+packPath(name)
	}
	pg.Chain = st.chain[r.RunKey]
	pg.ChainOK = pg.Chain == ""
	pg.HashesOK = r.ver.LogOK && r.ver.CommandOK
	pg.Signature = st.sigText(r)
	if rc.RunKey != r.RunKey {
		pg.Chain = strings.TrimSpace(pg.Chain + " run_key " + strconv.Quote(rc.RunKey) + " does not match its folder name")
		pg.ChainOK = false
	}
	if want, err := (&artifacts.Store{Dir: st.cfg.Receipts}).RelDir(r.RunKey); err == nil && want != r.Dir {
		pg.Chain = strings.TrimSpace(pg.Chain + " the receipt is in " + r.Dir + ", not in " + want + ", the folder its run key names (spine verify)")
		pg.ChainOK = false
	}
	if dirs := st.elsewhere[r.RunKey]; len(dirs) > 0 {
		pg.Chain = strings.TrimSpace(pg.Chain + " another receipt of this run key is in " + strings.Join(dirs, ", ") + " (spine verify)")
		pg.ChainOK = false
	}
	pg.ApprovalText = approvalText(rc)
	pg.Command = template.HTML(st.b.md.Highlight("sh", rc.Command)) //nolint:gosec // escaped by the highlighter
	for _, c := range rc.Checks {
		pg.Checks = append(pg.Checks, checkRow{CheckResult: c, Duration: fmtDuration(c.DurationMS)})
	}
	for _, a := range r.ver.Artifacts {
		row := artifactRow{Path: a.Ref.Path, Size: fmtSize(a.Ref.Size), SHA256: a.Ref.SHA256, Short: short(a.Ref.SHA256), State: a.State, OK: a.OK}
		if later := st.rewrittenBy(r, a.Ref.Path); later != "" {
			// The file is a later run's: this run's is in git's history.
			row.RewrittenBy, row.RewrittenURL, row.OK = later, root+receiptPath(later), true
		} else if a.Src != "" {
			row.URL = "artifacts/" + a.SiteName
		}
		pg.HashesOK = pg.HashesOK && row.OK
		pg.Artifacts = append(pg.Artifacts, row)
	}
	return pg
}

// approvalText says whether and how a gated run was approved.
func approvalText(rc *artifacts.Receipt) string {
	if rc.Gate == "" {
		if rc.Approval != nil {
			return "approved by " + rc.Approval.Source + approvalWho(rc.Approval)
		}
		return "not gated"
	}
	if rc.Approval == nil {
		return "gate " + rc.Gate + ": not approved"
	}
	switch rc.Approval.Source {
	case "env":
		return "gate " + rc.Gate + ": approved by the environment" + approvalWho(rc.Approval)
	case "git":
		return "gate " + rc.Gate + ": approved in git" + approvalWho(rc.Approval)
	}
	return "gate " + rc.Gate + ": approved by " + rc.Approval.Source + approvalWho(rc.Approval)
}

func approvalWho(a *artifacts.Approval) string {
	var parts []string
	if a.Commit != "" {
		parts = append(parts, "commit "+short(a.Commit))
	}
	if a.Author != "" {
		parts = append(parts, a.Author)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func esc(s string) template.HTML { return template.HTML(render.EscapeText(s)) } //nolint:gosec // escaped

// writeFields writes every receipt field in the contract's order, as the
// <dt>/<dd> pairs of the receipt page's field list.
func (st *buildState) writeFields(w *hw, root string, r *receiptRec) {
	rc := r.Receipt
	field := func(key string) { w.s("<dt>", key, "</dt><dd>") }
	end := func() { w.s("</dd>\n") }
	text := func(key, v string) {
		field(key)
		w.hesc(v)
		end()
	}
	code := func(key, v string) {
		field(key)
		w.code(v)
		end()
	}
	code("run_key", rc.RunKey)
	field("loop_id")
	w.h(st.loopLink(root, rc.LoopID))
	end()
	text("stage", rc.Stage)
	code("step", rc.Step)
	code("capability", rc.Capability)
	code("command", rc.Command)
	code("command_sha256", rc.CommandSHA256)
	text("host", rc.Host)
	text("user", rc.User)
	code("workdir", rc.Workdir)
	text("started_at", rc.StartedAt)
	text("finished_at", rc.FinishedAt)
	text("duration_ms", strconv.FormatInt(rc.DurationMS, 10))
	text("exit_code", strconv.Itoa(rc.ExitCode))
	text("status", rc.Status)
	text("allow_failure", strconv.FormatBool(rc.AllowFailure))
	code("gate", rc.Gate)
	if rc.Approval != nil {
		text("approval", "source "+rc.Approval.Source+approvalWho(rc.Approval))
	} else {
		text("approval", "null")
	}
	code("source_commit", rc.SourceCommit)
	field("artifacts")
	if len(rc.Artifacts) == 0 {
		w.s("[]")
	} else {
		w.s("<code>")
		for i, a := range rc.Artifacts {
			if i > 0 {
				w.s("\n")
			}
			w.hesc(a.Path)
			w.s(" (", strconv.FormatInt(a.Size, 10), " bytes, sha256 ")
			w.hesc(a.SHA256)
			w.s(")")
		}
		w.s("</code>")
	}
	end()
	code("output_sha256", rc.OutputSHA256)
	text("spine_version", rc.SpineVersion)
	field("prev")
	switch prev := st.prevRun(rc); {
	case rc.Prev == "":
		w.s("(first receipt of the loop)")
	case prev != nil:
		w.s("<code>")
		w.hesc(rc.Prev)
		w.s(`</code> = <a href="`)
		w.hesc(root)
		w.s("receipts/")
		w.hesc(prev.RunKey)
		w.s(`/index.html">`)
		w.hesc(prev.RunKey)
		w.s("</a>")
	default:
		w.code(rc.Prev)
	}
	end()
	if rc.Note != "" {
		field("note")
		w.h(st.linkText(root, rc.Note, ""))
		end()
	}
	if rc.OutputTruncated {
		text("output_truncated", "true")
	}
	if rc.OutputBytes != 0 {
		text("output_bytes", strconv.FormatInt(rc.OutputBytes, 10))
	}
	if rc.Redactions != 0 {
		text("redactions", strconv.Itoa(rc.Redactions))
	}
	if rc.Summary != "" {
		text("summary", rc.Summary)
	}
	if len(rc.Checks) > 0 {
		text("checks", strconv.Itoa(len(rc.Checks))+" (see Checks)")
	}
}

// prevRun returns the run of rc's loop whose hash is rc.Prev, or nil.
func (st *buildState) prevRun(rc *artifacts.Receipt) *receiptRec {
	if rc.Prev == "" {
		return nil
	}
	for _, o := range st.byLoop[rc.LoopID] {
		if o.Hash == rc.Prev {
			return o
		}
	}
	return nil
}

// ---- loops ----

type kvs struct{ K, V string }

type blockedGate struct {
	Step, Stage, Gate, URL, When, ISO string
	// Listed is set when the loop's approvals: lists the gate already:
	// the approval did not cover the step, and only one given anew does;
	// Reason is then the planner's word on why (an author who is not an
	// approver, a signature that does not verify, a step changed since).
	Listed bool
	Reason string
}

// heldStep is a step held for an operator, with the planner's reason.
type heldStep struct {
	Step, Stage, State, Reason string
}

type attrView struct {
	K, V string
	Gate bool
}

type stepView struct {
	Name, Kind, State string
	Attrs             []attrView
	Last              *runRef
}

type stageView struct {
	Title string
	Steps []stepView
}

type runRow struct {
	Key, URL, Step, Stage, Status, Exit, Duration, When, ISO, Chain string
	ChainOK                                                         bool
	// Resolved is set for an operator's verdict (spine resolve): no
	// command ran, so it has no exit status or duration to show.
	Resolved bool
	// Approval says how a gated run was approved (approvalText), so
	// that the runs table answers "who approved it"; empty for a run
	// with neither gate nor approval.
	Approval string
}

type gapRef struct {
	ID, URL, Title, Severity string
	Orphan                   bool
}

type loopPage struct {
	pageBase
	ID, DocTitle, Status, Path, MetaSource string
	Facts                                  []kvs
	Blocked                                []blockedGate
	Held                                   []heldStep
	Problems                               []string
	Stages                                 []stageView
	Timeline                               template.HTML
	TimelineCaption                        string
	Runs                                   []runRow
	Gaps                                   []gapRef
	Meta                                   []kvh
	Body                                   template.HTML
	StagesHTML, RunsHTML                   template.HTML
	// timeline holds the rows of the chart of runs over time, which
	// writeLoop draws in place.
	timeline []timelineRow
	// timelineLeft counts the steps with runs the chart leaves out (it
	// shows the last maxTimelineRows).
	timelineLeft int
}

// loopKey hashes everything a loop page shows.
func (st *buildState) loopKey(d *loops.Document) string {
	k := newKeyer(st.global, "loop", st.pathsKey, d.Path, d.LoopID, d.Status).bytes(d.Source)
	for _, p := range d.Problems {
		k.str(p.String())
	}
	states, reasons := st.states[d.LoopID], st.reasons[d.LoopID]
	for _, sg := range d.Stages {
		for _, s := range sg.Steps {
			k.str(s.Name).str(states[s.Name]).str(reasons[s.Name])
		}
	}
	k.str("refs")
	for _, id := range d.RunKeys {
		k.bool(st.recByKey[id] != nil)
	}
	for _, id := range d.GapIDs {
		k.bool(st.gapByID[id] != nil)
	}
	for _, id := range d.LoopRefs {
		k.bool(st.docByID[id] != nil)
	}
	k.str("runs")
	for _, r := range st.runsOf(d.LoopID) {
		k.str(r.RunKey).str(r.Hash).str(st.chain[r.RunKey])
	}
	k.str("gaps")
	for _, g := range st.gapsOfLoop[d.LoopID] {
		k.str(g.ID).str(g.Status).str(g.Severity).str(g.Title).str(g.Description).bool(st.orphan[g.ID])
	}
	return k.sum()
}

func (st *buildState) loopJob(d *loops.Document) job {
	return func(w *writer) error {
		p := loopPath(d.LoopID)
		key := st.loopKey(d)
		if w.reuse(key, p) {
			return nil
		}
		pg := st.loopData(d)
		hb := st.b.hws.Get().(*hw)
		hb.Reset()
		defer st.b.hws.Put(hb)
		if err := st.writeLoop(hb, d, pg); err != nil {
			return err
		}
		return w.emit(p, key, hb.Bytes())
	}
}

// movedPage is the page left at the permalink of a loop id that changed.
type movedPage struct {
	pageBase
	Old, New, URL string
}

// movedJobs write, at the permalink of each loop id a document had before
// (the id its adopted runs name, see adoptRuns) and no document has now, a
// page that leads to the loop's page: permalinks pasted into tickets keep
// working.
func (st *buildState) movedJobs() []job {
	moved := map[string]string{}
	for key, now := range st.adoptedBy {
		r := st.recByKey[key]
		if r == nil || r.Receipt == nil {
			continue
		}
		old := r.Receipt.LoopID
		if !validID(old) || st.docByID[old] != nil {
			continue
		}
		if prev, ok := moved[old]; !ok || now < prev {
			moved[old] = now
		}
	}
	olds := make([]string, 0, len(moved))
	for old := range moved {
		olds = append(olds, old)
	}
	sort.Strings(olds)
	jobs := make([]job, 0, len(olds))
	for _, old := range olds {
		jobs = append(jobs, func(w *writer) error {
			p := loopPath(old)
			key := newKeyer(st.global, "moved", old, moved[old]).sum()
			if w.reuse(key, p) {
				return nil
			}
			pg := &movedPage{pageBase: st.base(p, old, "loops"), Old: old, New: moved[old], URL: rootOf(p) + loopPath(moved[old])}
			return st.execute(w, p, key, "moved.html", pg)
		})
	}
	return jobs
}

// maxTimelineRows is how many steps a loop page's chart shows at most:
// the last ones.
const maxTimelineRows = 60

// timelineCaption is a chart's caption, saying which steps it leaves out.
func timelineCaption(caption string, left int) string {
	if left > 0 && caption != "" {
		caption += fmt.Sprintf(" (the last %d steps with runs; the runs of %d earlier ones are in the table below)", maxTimelineRows, left)
	}
	return caption
}

// loopPage gathers what d's page shows, but for the rendered document,
// with the HTML of its tables and chart for templates/loop.html.
func (st *buildState) loopPage(d *loops.Document) *loopPage {
	pg := st.loopData(d)
	pg.Timeline, pg.TimelineCaption = stageTimeline(pg.timeline, pg.Root)
	pg.TimelineCaption = timelineCaption(pg.TimelineCaption, pg.timelineLeft)
	pg.StagesHTML, pg.RunsHTML = stageRows(pg.Stages), runRows(pg.Runs)
	return pg
}

// loopData gathers what d's page shows, but for the rendered document and
// the HTML that writeLoop makes from the rows.
func (st *buildState) loopData(d *loops.Document) *loopPage {
	p := loopPath(d.LoopID)
	root := rootOf(p)
	pg := &loopPage{pageBase: st.base(p, d.LoopID, "loops"), ID: d.LoopID, DocTitle: d.Title, Status: d.Status, Path: d.Path, MetaSource: string(d.MetaSource)}
	if strings.Contains(pg.DocTitle, d.LoopID) && len(pg.DocTitle) < len(d.LoopID)+16 {
		pg.DocTitle = "" // "Loop Scope: <id>" says nothing the heading does not
	}
	for _, key := range []string{"owner", "priority", "severity", "scope", "execution_mode", "host", "created", "last_heartbeat_utc", "heartbeat_ttl_minutes"} {
		if v := d.Meta.String(key); v != "" {
			pg.Facts = append(pg.Facts, kvs{strings.ReplaceAll(key, "_", " "), v})
		}
	}
	for _, pr := range d.Problems {
		pg.Problems = append(pg.Problems, pr.String())
	}
	runs := st.runsOf(d.LoopID)
	states := st.states[d.LoopID]
	// A run is its step's by loops.RunStepKey: a loop close's receipt
	// (step "close") is no run of a step named close.
	stepOf := func(r *receiptRec) string { return loops.RunStepKey(r.Receipt.Stage, r.Receipt.Step) }
	lastOf := map[string]*receiptRec{}
	for _, r := range runs {
		lastOf[stepOf(r)] = r
	}
	// Stages and steps.
	var rows []timelineRow
	inDoc := map[string]bool{}
	for _, sg := range d.Stages {
		sv := stageView{Title: sg.Title}
		for _, s := range sg.Steps {
			v := stepView{Name: s.Name, Kind: string(s.Kind), State: states[s.Name]}
			if v.State == "" {
				v.State = "unknown"
			}
			if why, ok := st.reasons[d.LoopID][s.Name]; ok && held(v.State) {
				pg.Held = append(pg.Held, heldStep{Step: s.Name, Stage: sg.Title, State: v.State, Reason: why})
			}
			for _, a := range s.Attrs {
				if a.Key == "name" {
					continue
				}
				val := a.Value
				if val == "true" {
					val = ""
				}
				v.Attrs = append(v.Attrs, attrView{K: a.Key, V: val, Gate: a.Key == "gate"})
			}
			if s.Kind != loops.KindManual {
				v.Last = st.runRef(root, lastOf[s.Name])
				inDoc[s.Name] = true
				var sr []*receiptRec
				for _, r := range runs {
					if stepOf(r) == s.Name {
						sr = append(sr, r)
					}
				}
				if len(sr) > 0 {
					rows = append(rows, timelineRow{Label: s.Name, Runs: sr})
				}
			}
			sv.Steps = append(sv.Steps, v)
		}
		pg.Stages = append(pg.Stages, sv)
	}
	// Runs of steps the document no longer has.
	var extra []string
	extraRuns := map[string][]*receiptRec{}
	for _, r := range runs {
		if k := stepOf(r); !inDoc[k] {
			if extraRuns[k] == nil {
				extra = append(extra, k)
			}
			extraRuns[k] = append(extraRuns[k], r)
		}
	}
	for _, s := range extra {
		rows = append(rows, timelineRow{Label: s, Runs: extraRuns[s]})
	}
	if len(rows) > maxTimelineRows {
		pg.timelineLeft = len(rows) - maxTimelineRows
		rows = rows[len(rows)-maxTimelineRows:]
	}
	pg.timeline = rows
	// Blocked gates: a blocked receipt with a gate, and no later pass, of
	// a step still blocked (not one approved since, waiting for its run,
	// nor one gone from the document).
	for step := range lastOf {
		if st.states[d.LoopID][step] != "blocked" {
			continue
		}
		var blocked *receiptRec
		for _, r := range runs {
			if stepOf(r) != step {
				continue
			}
			switch {
			case r.Receipt.Status == artifacts.StatusBlocked && r.Receipt.Gate != "":
				blocked = r
			case r.Receipt.Status == artifacts.StatusPass:
				blocked = nil
			}
		}
		if blocked != nil {
			bg := blockedGate{Step: step, Stage: blocked.Receipt.Stage, Gate: blocked.Receipt.Gate, Listed: slices.Contains(d.Meta.Approvals(), blocked.Receipt.Gate),
				URL: root + receiptPath(blocked.RunKey), When: fmtWhen(blocked.Start), ISO: fmtISO(blocked.Start)}
			if bg.Listed {
				bg.Reason = st.reasons[d.LoopID][step]
			}
			pg.Blocked = append(pg.Blocked, bg)
		}
	}
	sort.Slice(pg.Blocked, func(i, j int) bool {
		return pg.Blocked[i].ISO+pg.Blocked[i].Step < pg.Blocked[j].ISO+pg.Blocked[j].Step
	})
	pg.Runs = make([]runRow, 0, len(runs))
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		row := runRow{Key: r.RunKey, URL: root + receiptPath(r.RunKey), Step: r.Receipt.Step, Stage: r.Receipt.Stage,
			Status: recStatus(r), Exit: fmtExit(r.Receipt.ExitCode), Duration: fmtDuration(r.Receipt.DurationMS),
			When: fmtWhen(r.Start), ISO: fmtISO(r.Start), Chain: st.chain[r.RunKey], ChainOK: st.chain[r.RunKey] == ""}
		if r.Receipt.Resolved() {
			row.Resolved, row.Exit, row.Duration = true, "—", "—"
		}
		if r.Receipt.Gate != "" || r.Receipt.Approval != nil {
			row.Approval = approvalText(r.Receipt)
		}
		pg.Runs = append(pg.Runs, row)
	}
	for _, g := range st.gapsOfLoop[d.LoopID] {
		title := g.Title
		if title == "" {
			title = termtext.Clip(firstLine(g.Description), 140)
		}
		pg.Gaps = append(pg.Gaps, gapRef{ID: g.ID, URL: root + gapPath(g.ID), Title: title, Severity: g.Severity, Orphan: st.orphan[g.ID]})
	}
	for _, f := range d.Meta {
		pg.Meta = append(pg.Meta, kvh{Key: f.Key, Value: st.metaValue(root, f.Value, d.LoopID, 0)})
	}
	return pg
}

// loopBody renders d's document for its page (writeLoop renders it in
// place; this is for templates/loop.html).
func (st *buildState) loopBody(d *loops.Document, pg *loopPage) (template.HTML, error) {
	body, err := st.b.md.HTML(d.Body(), render.Doc{LoopID: d.LoopID, Path: d.Path, Linker: linker{st, pg.Root}})
	if err != nil {
		return "", err
	}
	return template.HTML(body), nil //nolint:gosec // produced by the escaping renderer
}

// metaValue renders a frontmatter value: scalars as linked text, lists as
// lists, maps as nested definition lists (keys sorted).
func (st *buildState) metaValue(root string, v any, self string, depth int) template.HTML {
	if depth > 8 {
		return esc("…")
	}
	switch x := v.(type) {
	case nil:
		return template.HTML(`<span class="muted">null</span>`)
	case []any:
		if len(x) == 0 {
			return template.HTML(`<span class="muted">[]</span>`)
		}
		var b strings.Builder
		b.WriteString(`<ul class="vlist">`)
		for _, e := range x {
			b.WriteString("<li>")
			b.WriteString(string(st.metaValue(root, e, self, depth+1)))
			b.WriteString("</li>")
		}
		b.WriteString("</ul>")
		return template.HTML(b.String()) //nolint:gosec // parts escaped
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString(`<dl class="nested">`)
		for _, k := range keys {
			b.WriteString("<dt>" + render.EscapeText(k) + "</dt><dd>")
			b.WriteString(string(st.metaValue(root, x[k], self, depth+1)))
			b.WriteString("</dd>")
		}
		b.WriteString("</dl>")
		return template.HTML(b.String()) //nolint:gosec // parts escaped
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		return st.metaValue(root, m, self, depth)
	case string:
		return st.linkText(root, x, self)
	}
	return esc(fmt.Sprint(v))
}

// ---- index ----

type statusLink struct {
	Name, URL string
	Count     int
	On        bool
}

type loopRow struct {
	ID, URL, Title, Status, Owner, Priority, Scope string
	Done, Total                                    int
	Bar                                            template.HTML
	HeartAge, HeartClass, HeartTitle               string
	// HeartISO and HeartTTL (minutes), for an active loop with both: the
	// page's script measures the age again against the reader's clock.
	HeartISO string
	HeartTTL int
	OpenGaps int
	Problems int
	// Broken counts the loop's runs whose receipt chain is broken (a
	// receipt changed or removed): what an auditor looks for first.
	Broken  int
	LastRun *runRef
}

type indexPage struct {
	pageBase
	Status             string
	Statuses           []statusLink
	Rows               []loopRow
	RowsHTML           template.HTML
	Total, Shown, Runs int
	OpenGaps           int
	Now, NowISO        string
	// Pageless are the loop documents without a page, and why.
	Pageless []string
}

// loopRows computes the index rows, with links relative to root.
func (st *buildState) loopRows(root string) []loopRow {
	rows := make([]loopRow, 0, len(st.docs))
	for _, d := range st.docs {
		r := loopRow{ID: d.LoopID, URL: root + loopPath(d.LoopID), Status: d.Status,
			Owner: d.Meta.String("owner"), Priority: d.Meta.String("priority"), Scope: d.Meta.String("scope"),
			OpenGaps: len(st.gapsOfLoop[d.LoopID]), Problems: len(d.Problems)}
		if !strings.Contains(d.Title, d.LoopID) {
			r.Title = termtext.Clip(d.Title, 120)
		}
		states := st.states[d.LoopID]
		for _, sg := range d.Stages {
			for _, s := range sg.Steps {
				r.Total++
				if states[s.Name] == "done" {
					r.Done++
				}
			}
		}
		r.Bar = progressBar(r.Done, r.Total)
		r.HeartAge, r.HeartClass, r.HeartTitle = st.heartbeat(d)
		if h := d.Heartbeat(); d.Status == "active" && !h.Last.IsZero() && h.TTL > 0 {
			r.HeartISO, r.HeartTTL = fmtISO(h.Last), int(h.TTL.Minutes())
		}
		runs := st.runsOf(d.LoopID)
		if len(runs) > 0 {
			r.LastRun = st.runRef(root, runs[len(runs)-1])
		}
		r.Broken = st.brokenRuns(runs)
		rows = append(rows, r)
	}
	return rows
}

// heartbeat returns a loop's heartbeat age and its colour class: ok within
// heartbeat_ttl_minutes, late within twice that, stale beyond; off for
// loops that are not active, none without a heartbeat or TTL.
func (st *buildState) heartbeat(d *loops.Document) (age, class, title string) {
	h := d.Heartbeat()
	if h.Last.IsZero() {
		if d.HeartbeatUnreadable() {
			v := d.Meta.String(loops.HeartbeatKey)
			// Written but unreadable: its age is unknown, which
			// status --stale counts as stale (Document.Stale).
			class = "none"
			if d.Stale(st.now) {
				class = "stale"
			}
			return "?", class, "last_heartbeat_utc " + strconv.Quote(v) + " is not a time spine reads"
		}
		return "—", "none", "no last_heartbeat_utc"
	}
	a := st.now.Sub(h.Last)
	age = fmtAge(a)
	title = "last heartbeat " + fmtWhen(h.Last)
	if h.TTL > 0 {
		title += " · ttl " + strconv.Itoa(int(h.TTL.Minutes())) + "m"
	}
	switch {
	case d.Status != "active":
		class = "off"
	case h.TTL == 0:
		class = "none"
	case a <= h.TTL:
		class = "ok"
	case a <= 2*h.TTL:
		class = "late"
	default:
		class = "stale"
	}
	return age, class, title
}

func (st *buildState) indexJobs() []job {
	counts := map[string]int{}
	for _, d := range st.docs {
		counts[statusKey(d.Status)]++
	}
	var statuses []string
	for s := range counts {
		if validID(s) {
			statuses = append(statuses, s)
		} else {
			st.warn("loop status %q cannot be a page name; no status page", s)
		}
	}
	statusOrder(statuses)
	open := 0
	for _, g := range st.gapList {
		if g.IsOpen() {
			open++
		}
	}
	// One key for the index and the status pages: everything their rows
	// and filters show. It reads every loop, so it is made by the first
	// of these jobs to run, on a worker beside the other pages, not while
	// the jobs are gathered.
	indexKey := sync.OnceValue(func() string { return st.indexKey(statuses, counts, open) })
	// Rows are computed once per depth: the index and the status pages.
	var rowsMu sync.Mutex
	rowsByRoot := map[string][]loopRow{}
	rowsFor := func(root string) []loopRow {
		rowsMu.Lock()
		defer rowsMu.Unlock()
		if r, ok := rowsByRoot[root]; ok {
			return r
		}
		r := st.loopRows(root)
		rowsByRoot[root] = r
		return r
	}
	make1 := func(status string) job {
		return func(w *writer) error {
			key := indexKey()
			p := "index.html"
			if status != "" {
				p = statusPath(status)
			}
			if w.reuse(key, p) {
				return nil
			}
			root := rootOf(p)
			pg := &indexPage{pageBase: st.base(p, "Loops", "loops"), Status: status, Total: len(st.docs), Runs: len(st.recs), OpenGaps: open,
				Now: fmtWhen(st.now), NowISO: fmtISO(st.now), Pageless: st.pageless}
			for _, s := range statuses {
				pg.Statuses = append(pg.Statuses, statusLink{Name: s, URL: root + statusPath(s), Count: counts[s], On: s == status})
			}
			for _, r := range rowsFor(root) {
				if status == "" || statusKey(r.Status) == status {
					pg.Rows = append(pg.Rows, r)
				}
			}
			pg.Shown = len(pg.Rows)
			return st.executeRows(w, p, key, "index.html", pg, len(pg.Rows), &pg.RowsHTML, func(w *hw) { w.indexRows(pg.Rows) })
		}
	}
	// The index's job first: the others wait for the key it makes.
	jobs := []job{make1("")}
	for _, s := range statuses {
		jobs = append(jobs, make1(s))
	}
	return jobs
}

// indexKey is the key of the index and status pages (indexJobs): what
// their rows and filters show of every loop.
func (st *buildState) indexKey(statuses []string, counts map[string]int, open int) string {
	k := newKeyer(st.global, "index", fmtISO(st.now)).int(int64(open)).int(int64(len(st.recs)))
	for _, p := range st.pageless {
		k.str(p)
	}
	for _, s := range statuses {
		k.str(s).int(int64(counts[s]))
	}
	for _, d := range st.docs {
		k.str(d.LoopID).str(d.Title).str(d.Status).str(d.Meta.String("owner")).str(d.Meta.String("priority")).str(d.Meta.String("scope"))
		k.int(int64(len(d.Problems))).int(int64(len(st.gapsOfLoop[d.LoopID])))
		h := d.Heartbeat()
		k.str(fmtISO(h.Last)).int(int64(h.TTL))
		states := st.states[d.LoopID]
		for _, sg := range d.Stages {
			for _, s := range sg.Steps {
				k.bool(states[s.Name] == "done")
			}
		}
		runs := st.runsOf(d.LoopID)
		if len(runs) > 0 {
			last := runs[len(runs)-1]
			k.str(last.RunKey).str(recStatus(last)).str(fmtISO(last.Start))
		}
		k.int(int64(st.brokenRuns(runs)))
	}
	return k.sum()
}

// brokenRuns counts the runs whose chain state is broken.
func (st *buildState) brokenRuns(runs []*receiptRec) int {
	n := 0
	for _, r := range runs {
		if st.chain[r.RunKey] != "" {
			n++
		}
	}
	return n
}

// statusKey is the status filter a status belongs to.
func statusKey(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ---- search ----

// searchItems calls item for every entry of search.json, in order, with
// its key, value pairs; r is the receipt of a run's entry.
func (st *buildState) searchItems(item func(r *receiptRec, fields ...string)) {
	st.searchLoops(item)
	st.searchRuns(item)
	st.searchGaps(item)
}

// searchLoops gives the loops' entries of search.json to item.
func (st *buildState) searchLoops(item func(r *receiptRec, fields ...string)) {
	for _, d := range st.docs {
		item(nil, "kind", "loop", "id", d.LoopID, "title", termtext.Clip(d.Title, 200), "url", loopPath(d.LoopID),
			"status", d.Status, "owner", d.Meta.String("owner"), "priority", d.Meta.String("priority"))
	}
}

// searchRuns gives the runs' entries of search.json to item (their key:
// searchKeyOf).
func (st *buildState) searchRuns(item func(r *receiptRec, fields ...string)) {
	for _, r := range st.recs {
		loop, step, host, gate, by := runSearchFields(r)
		item(r, "kind", "run", "id", r.RunKey, "title", loop+" · "+step, "url", receiptPath(r.RunKey),
			"status", recStatus(r), "loop", loop, "when", fmtISO(r.Start), "host", host, "gate", gate, "by", by)
	}
}

// runSearchFields returns what search.json holds of a run besides its key
// and state: its loop and step, the host it ran on, its gate and who
// approved it (a git approval's author, or the variable of an
// environment one), so that the search box answers "what ran on this
// host" and "what did this person approve".
func runSearchFields(r *receiptRec) (loop, step, host, gate, by string) {
	rc := r.Receipt
	if rc == nil {
		return
	}
	loop, step, host, gate = rc.LoopID, rc.Step, rc.Host, rc.Gate
	if rc.Approval != nil {
		by = rc.Approval.Author
	}
	return
}

// searchGaps gives the gaps' entries of search.json to item.
func (st *buildState) searchGaps(item func(r *receiptRec, fields ...string)) {
	ids := make([]string, 0, len(st.gapByID))
	for id := range st.gapByID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := st.gapByID[id]
		title := g.Title
		if title == "" {
			title = firstLine(g.Description)
		}
		item(nil, "kind", "gap", "id", g.ID, "title", termtext.Clip(title, 200), "url", gapPath(g.ID),
			"status", g.Status, "severity", g.Severity, "loop", g.ParentLoop)
	}
}

// searchKeyOf returns the key of search.json: the hash of every entry's
// fields, as searchItems gives them. A run's fields are hashed as they
// are put together, without making the strings (for 20,000 runs, making
// them was most of the key's cost); searchKeyOf and searchItems must give
// the same key (TestSearchKey).
func (st *buildState) searchKeyOf() string {
	k := newKeyer(st.global, "search.json")
	fields := func(_ *receiptRec, fields ...string) {
		k.int(int64(len(fields)))
		for _, f := range fields {
			k.str(f)
		}
	}
	st.searchLoops(fields)
	var when [64]byte
	for _, r := range st.recs {
		loop, step, host, gate, by := runSearchFields(r)
		// The fields of searchRuns.
		k.int(20)
		k.str("kind").str("run").str("id").str(r.RunKey)
		k.str("title").num(int64(len(loop)+len(" · ")+len(step)), ':')
		k.put(loop)
		k.put(" · ")
		k.put(step)
		k.str("url").num(int64(len("receipts/")+len(r.RunKey)+len("/index.html")), ':')
		k.put("receipts/")
		k.put(r.RunKey)
		k.put("/index.html")
		k.str("status").str(recStatus(r)).str("loop").str(loop).str("when")
		if r.Start.IsZero() {
			k.str("")
		} else {
			k.bytes(r.Start.UTC().AppendFormat(when[:0], time.RFC3339))
		}
		k.str("host").str(host).str("gate").str(gate).str("by").str(by)
	}
	st.searchGaps(fields)
	return k.sum()
}

func (st *buildState) searchJob() job {
	return func(w *writer) error {
		// The key hashes every entry's fields: far less work than
		// writing the index (megabytes) only to find it unchanged.
		key := st.searchMemo
		if key == "" {
			key = st.searchKeyOf()
		}
		st.searchKey = key
		if w.reuse(key, "search.json") {
			return nil
		}
		// Streamed to the file: at 10,000 loops and 58,000 receipts it
		// is 22 MB, which a build would otherwise hold whole.
		return w.emitStream("search.json", key, func(out io.Writer) error {
			var item bytes.Buffer
			io.WriteString(out, "[")
			first := true
			st.searchItems(func(r *receiptRec, fields ...string) {
				if !first {
					io.WriteString(out, ",")
				}
				first = false
				io.WriteString(out, "\n")
				if r != nil && r.searchItem != nil {
					out.Write(r.searchItem)
					return
				}
				item.Reset()
				writeItem(&item, fields...)
				out.Write(item.Bytes())
				if r != nil && !st.b.oneShot {
					// Receipts never change: a later build reuses the entry.
					r.searchItem = bytes.Clone(item.Bytes())
				}
			})
			_, err := io.WriteString(out, "\n]\n")
			return err
		})
	}
}

// writeItem writes one search.json object from key, value pairs.
func writeItem(b *bytes.Buffer, fields ...string) {
	b.WriteByte('{')
	for i := 0; i+1 < len(fields); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, fields[i])
		b.WriteByte(':')
		writeJSONString(b, fields[i+1])
	}
	b.WriteByte('}')
}

// jsonMarshal is json.Marshal without HTML escaping differences mattering:
// used only for keys.
func jsonMarshal(v any) []byte {
	data, _ := json.Marshal(v)
	return data
}
