package site

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/par"
)

// dayBatch is how many day folders of the receipts a scan keeps open at
// once.
const dayBatch = 128

// racyWindow is how recent a folder's modification time may be for its
// cached listing to be trusted: file-system timestamps are coarse, so a
// folder changed twice within one tick keeps its mtime.
const racyWindow = 2 * time.Second

// receiptRec is one run folder with what the site derives from it.
type receiptRec struct {
	artifacts.Entry
	// sigState is the signature state, computed against the keys whose
	// file content is sigKeys (a long-lived builder sees keys change).
	sigState, sigKeys string
	// Raw is the receipt.json content (kept to show it on the page). A
	// one-shot build that took the receipt from ReceiptStateName leaves it
	// nil and reads it again from there (rawAt) for the page.
	Raw []byte
	// rawAt, when Raw is nil, is the record in ReceiptStateName that holds
	// the receipt.json content (receiptState.raw).
	rawAt stateEntry
	// Start and Finish are the parsed started_at and finished_at (the run
	// key's time when unreadable).
	Start, Finish time.Time
	// Missing is set when the folder has no receipt.json yet.
	Missing bool
	// ver caches the verification of output.log and artifacts, computed
	// by the receipt page's job.
	ver *verification
	// staticKey hashes the parts of the page's key that never change;
	// searchItem is the receipt's entry in search.json.
	staticKey  string
	searchItem []byte
	// rstat is the stat of receipt.json, as it was before the read, when
	// it may be recorded in ReceiptStateName (read whole, and last changed
	// before the racy window of the build that read it: see readFileStat),
	// else zero.
	rstat fileStat
	// fromState is set when the receipt was taken from ReceiptStateName.
	fromState bool
	// pre is what the scan that read the receipt took of its folder's
	// other files, for the page job of the same build.
	pre preStat
}

// preStat is what receiptCache.preStat took of a run folder's files in
// the scan numbered gen (receiptCache.gen): whether receipt.dsse.json
// exists and, when logTaken, the stat of output.log (logOK false: not a
// regular file, or none).
type preStat struct {
	gen             uint64
	dsse            bool
	log             fileStat
	logOK, logTaken bool
}

// dsseExists returns whether the scan of the build numbered gen found a
// receipt.dsse.json in the run folder.
func (r *receiptRec) dsseExists(gen uint64) (exists, known bool) {
	if r.pre.gen != gen || gen == 0 {
		return false, false
	}
	return r.pre.dsse, true
}

// logStat returns the stat of output.log taken by the scan of the build
// numbered gen, if it took one.
func (r *receiptRec) logStat(gen uint64) (st fileStat, ok, known bool) {
	if r.pre.gen != gen || gen == 0 || !r.pre.logTaken {
		return fileStat{}, false, false
	}
	return r.pre.log, r.pre.logOK, true
}

// dayListing is the cached listing of one YYYY/MM/DD folder.
type dayListing struct {
	mtime  time.Time
	listed time.Time
	recs   []*receiptRec
}

// receiptCache keeps the receipts read by earlier builds. Receipts are
// written once and never edited, so a day folder whose modification time is
// unchanged holds the same receipts; folders still without receipt.json are
// looked at again on every build.
type receiptCache struct {
	days map[string]*dayListing
	// state holds the receipts recorded by an earlier build (another
	// process); cutoff is the current build's sumCache.cutoff.
	state  *receiptState
	cutoff int64
	// gen numbers the scans (from 1), for receiptRec.pre.
	gen uint64
	// wantLog, when set, reports whether the page job of a run folder
	// will look the summary of its output.log up (its page is in the
	// manifest and a summary is recorded), so that the scan takes the
	// log's stat.
	wantLog func(r *receiptRec) bool
}

func newReceiptCache() *receiptCache { return &receiptCache{days: map[string]*dayListing{}} }

// receiptScan is the result of scanning the receipts folder.
type receiptScan struct {
	recs     []*receiptRec
	watch    []string
	warnings []string
}

// scan lists every run folder under root/rel (YYYY/MM/DD/<RUN_KEY>),
// reusing the cache, and returns them in run order.
func (c *receiptCache) scan(root, rel string) (*receiptScan, error) {
	res := &receiptScan{}
	base, err := artifacts.SafeJoin(root, rel)
	if err != nil {
		return nil, fmt.Errorf("receipts folder: %w", err)
	}
	fi, err := os.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) {
		c.days = map[string]*dayListing{}
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("receipts folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("receipts folder %s is not a directory", base)
	}
	res.watch = append(res.watch, base)
	type dayRef struct{ abs, rel string }
	var days []dayRef
	years, err := digitDirs(base, 4)
	if err != nil {
		return nil, err
	}
	for _, y := range years {
		res.watch = append(res.watch, filepath.Join(base, y))
		months, err := digitDirs(filepath.Join(base, y), 2)
		if err != nil {
			return nil, err
		}
		for _, m := range months {
			res.watch = append(res.watch, filepath.Join(base, y, m))
			ds, err := digitDirs(filepath.Join(base, y, m), 2)
			if err != nil {
				return nil, err
			}
			for _, d := range ds {
				days = append(days, dayRef{filepath.Join(base, y, m, d), path.Join(rel, y, m, d)})
			}
		}
	}
	now := time.Now()
	fresh := map[string]*dayListing{}
	c.gen++
	var warnMu sync.Mutex
	// The day folders to list: those not cached, or changed.
	type listing struct {
		d   dayRef
		old *dayListing
		st  fs.FileInfo
		dd  *dayDir
		err error
		// dl is the new listing, fresh its run folders to read, warnings
		// what listing it found to warn about.
		dl       *dayListing
		fresh    []*receiptRec
		warnings []string
	}
	var lists []*listing
	for _, d := range days {
		res.watch = append(res.watch, d.abs)
		st, err := os.Lstat(d.abs)
		if err != nil {
			return nil, fmt.Errorf("receipts: %w", err)
		}
		old := c.days[d.abs]
		if old != nil && old.mtime.Equal(st.ModTime()) && old.listed.Sub(st.ModTime()) > racyWindow && !hasMissing(old.recs) {
			fresh[d.abs] = old
			continue
		}
		lists = append(lists, &listing{d: d, old: old, st: st})
	}
	// list lists the day folder of l and makes its run folders' records
	// (those of the old listing kept, but for runs without a receipt or
	// with an unreadable one).
	list := func(l *listing) {
		var des []fs.DirEntry
		if l.dd, des, l.err = openDayDir(l.d.abs); l.err != nil {
			return
		}
		prev := map[string]*receiptRec{}
		if l.old != nil {
			for _, r := range l.old.recs {
				if !r.Missing && r.Err == nil {
					prev[r.RunKey] = r
				}
			}
		}
		l.dl = &dayListing{mtime: l.st.ModTime(), listed: now}
		for _, de := range des {
			name := de.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			if !de.IsDir() {
				if de.Type()&fs.ModeSymlink != 0 && artifacts.ValidRunKey(name) {
					l.warnings = append(l.warnings, fmt.Sprintf("receipts: %s/%s is a symbolic link; not followed", l.d.rel, name))
				}
				continue
			}
			if r, ok := prev[name]; ok {
				l.dl.recs = append(l.dl.recs, r)
				continue
			}
			r := &receiptRec{Entry: artifacts.Entry{RunKey: name, Dir: l.d.rel + "/" + name}}
			l.dl.recs = append(l.dl.recs, r)
			l.fresh = append(l.fresh, r)
		}
	}
	// The folders are listed, then their new run folders read, in
	// batches of dayBatch: each batch's folders stay open until its run
	// folders are read (relative to them), and a batch bounds the
	// descriptors open at once. Both steps run on every core.
	type runRef struct {
		r   *receiptRec
		day *dayDir
	}
	var toRead []runRef
	for len(lists) > 0 {
		batch := lists[:min(len(lists), dayBatch)]
		lists = lists[len(batch):]
		par.Do(len(batch), 0, func(i int) { list(batch[i]) })
		toRead = toRead[:0]
		var lerr error
		for _, l := range batch {
			if l.err != nil {
				lerr = fmt.Errorf("receipts: %w", l.err)
				break
			}
			res.warnings = append(res.warnings, l.warnings...)
			for _, r := range l.fresh {
				toRead = append(toRead, runRef{r, l.dd})
			}
			fresh[l.d.abs] = l.dl
		}
		if lerr == nil {
			par.Do(len(toRead), 0, func(i int) {
				r := toRead[i].r
				c.readReceipt(toRead[i].day, r)
				if r.Missing {
					warnMu.Lock()
					res.watch = append(res.watch, filepath.Join(root, filepath.FromSlash(r.Dir)))
					warnMu.Unlock()
				}
			})
		}
		for _, l := range batch {
			if l.dd != nil {
				l.dd.close()
			}
		}
		if lerr != nil {
			return nil, lerr
		}
	}
	c.days = fresh

	// A run folder without its receipt is watched (the receipt may come
	// while a server runs), once: a set, as there may be thousands.
	watched := make(map[string]bool, len(res.watch))
	for _, w := range res.watch {
		watched[w] = true
	}
	for _, d := range days {
		for _, r := range fresh[d.abs].recs {
			res.recs = append(res.recs, r)
			if p := filepath.Join(root, filepath.FromSlash(r.Dir)); r.Missing && !watched[p] {
				watched[p] = true
				res.watch = append(res.watch, p)
			}
		}
	}
	sortRuns(res.recs)
	sort.Strings(res.watch)
	return res, nil
}

// sortDirEntries sorts des by name, as os.ReadDir does.
func sortDirEntries(des []fs.DirEntry) {
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
}

func hasMissing(recs []*receiptRec) bool {
	for _, r := range recs {
		if r.Missing {
			return true
		}
	}
	return false
}

// readReceipt reads and decodes one run folder's receipt.json (in the
// day folder day), or takes it from the recorded state when the file's
// stat is the recorded one. It also takes what the page job will ask of
// the folder's other files (preStat).
func (c *receiptCache) readReceipt(day *dayDir, r *receiptRec) {
	c.preStat(day, r)
	if c.state.take(r, func() (fileStat, bool) { return day.lstat(r.RunKey, artifacts.ReceiptFile) }) {
		r.Start, r.Finish = runTimes(r)
		return
	}
	data, st, err := day.readFileStat(r.RunKey, artifacts.ReceiptFile, artifacts.MaxReceiptSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Missing = true
		r.Err = fmt.Errorf("no %s in the run folder (the run is still going, or was interrupted before its receipt was written): %w", artifacts.ReceiptFile, fs.ErrNotExist)
	case err != nil:
		// Named by its path in the repository: the page is published,
		// and the same repository built elsewhere gives the same bytes.
		r.Err = fmt.Errorf("read receipt: %s", strings.ReplaceAll(err.Error(), filepath.Join(day.abs, r.RunKey), r.Dir))
	default:
		r.Raw = data
		r.Hash = artifacts.ChainHash(data)
		rc, _, err := artifacts.DecodeReceiptShared(data)
		if err != nil {
			r.Err = fmt.Errorf("receipt.json is not a valid receipt: %w", err)
		} else {
			r.Receipt = rc
			if st.Mtime < c.cutoff && st.Ctime < c.cutoff {
				r.rstat = st
			}
		}
	}
	r.Start, r.Finish = runTimes(r)
}

// preStat takes, beside the read of receipt.json and relative to the
// same open day folder, what the page job of a new run folder asks of
// its other files: whether receipt.dsse.json exists (signature), and the
// stat of output.log when the job will look its summary up rather than
// read it (c.wantLog). They hold for this scan's build only (gen).
func (c *receiptCache) preStat(day *dayDir, r *receiptRec) {
	r.pre = preStat{gen: c.gen, dsse: day.exists(r.RunKey, artifacts.DSSEFile)}
	if c.wantLog != nil && c.wantLog(r) {
		r.pre.log, r.pre.logOK = day.lstat(r.RunKey, artifacts.OutputFile)
		r.pre.logTaken = true
	}
}

// runTimes returns a run's start and finish: the receipt's times, else the
// run key's time.
func runTimes(r *receiptRec) (time.Time, time.Time) {
	var keyTime time.Time
	if k, err := artifacts.ParseRunKey(r.RunKey); err == nil {
		keyTime = k.Time
	}
	if r.Receipt == nil {
		return keyTime, keyTime
	}
	start, err := time.Parse(time.RFC3339Nano, r.Receipt.StartedAt)
	if err != nil {
		start = keyTime
	}
	finish, err := time.Parse(time.RFC3339Nano, r.Receipt.FinishedAt)
	if err != nil || finish.Before(start) {
		finish = start
		if r.Receipt.DurationMS > 0 {
			finish = start.Add(time.Duration(r.Receipt.DurationMS) * time.Millisecond)
		}
	}
	return start.UTC(), finish.UTC()
}

// sortRuns sorts in run order, as artifacts.SortEntries does: by start
// time, then run key.
func sortRuns(recs []*receiptRec) {
	sort.SliceStable(recs, func(i, j int) bool {
		if c := recs[i].Start.Compare(recs[j].Start); c != 0 {
			return c < 0
		}
		return recs[i].RunKey < recs[j].RunKey
	})
}

// digitDirs returns the sorted names of the real subdirectories of dir
// whose names are n ASCII digits.
func digitDirs(dir string, n int) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	var out []string
	for _, de := range des {
		name := de.Name()
		if de.IsDir() && len(name) == n && strings.Trim(name, "0123456789") == "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// artifactRuns maps each artifact path that receipts record, with the
// loop recording it, to the run key of the loop's last receipt (recs in
// run order) recording it, as spine verify takes them
// (artifacts.ArtifactWriter): a receipt of another loop takes no path
// over.
func artifactRuns(recs []*receiptRec) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if !artifacts.ArtifactWriter(&r.Entry) {
			continue
		}
		for _, a := range r.Receipt.Artifacts {
			out[artifacts.ArtifactKey(r.Receipt.LoopID, a.Path)] = r.RunKey
		}
	}
	return out
}

// sameArtifactRuns reports whether the last runs of r's artifacts are
// those of the last build.
func sameArtifactRuns(p, st *buildState, r *receiptRec) bool {
	if r.Receipt == nil {
		return true
	}
	for _, a := range r.Receipt.Artifacts {
		k := artifacts.ArtifactKey(r.Receipt.LoopID, a.Path)
		if p.artifactRun[k] != st.artifactRun[k] {
			return false
		}
	}
	return true
}

// rewrittenBy returns the later run of r's loop whose artifact file
// replaced r's artifact at path p, or "" when the file is r's.
func (st *buildState) rewrittenBy(r *receiptRec, p string) string {
	if r.Receipt == nil {
		return ""
	}
	if last := st.artifactRun[artifacts.ArtifactKey(r.Receipt.LoopID, p)]; last != "" && last != r.RunKey {
		return last
	}
	return ""
}

// chainStates checks the hash chain of each loop's receipts (recs in run
// order), with the rules of artifacts.VerifyEntries: the first receipt of a
// loop has an empty prev; every other one's prev is the hash of an existing
// receipt of the same loop; no two receipts name the same prev. It returns
// the problem of each receipt whose link is broken, by run key.
func chainStates(recs []*receiptRec) map[string]string {
	byHash := make(map[string]*receiptRec, len(recs))
	for _, r := range recs {
		if r.Hash != "" {
			byHash[r.Hash] = r
		}
	}
	out := map[string]string{}
	byLoop := map[string][]*receiptRec{}
	var order []string
	for _, r := range recs {
		if r.Receipt == nil || r.Receipt.LoopID == "" {
			continue
		}
		id := r.Receipt.LoopID
		if _, ok := byLoop[id]; !ok {
			order = append(order, id)
		}
		byLoop[id] = append(byLoop[id], r)
	}
	for _, loop := range order {
		es := byLoop[loop]
		followers := map[string]*receiptRec{}
		var first *receiptRec
		for i, e := range es {
			prev := e.Receipt.Prev
			if prev == "" {
				if first != nil {
					out[e.RunKey] = fmt.Sprintf("prev is empty, but the chain of loop %s already starts at %s: a second chain start", loop, first.RunKey)
				} else {
					first = e
				}
				continue
			}
			target, ok := byHash[prev]
			switch {
			case !ok && i == 0:
				out[e.RunKey] = fmt.Sprintf("prev %s matches no receipt: the receipt before it in loop %s was removed or edited", short(prev), loop)
				continue
			case !ok:
				before := es[i-1]
				out[e.RunKey] = fmt.Sprintf("prev %s matches no receipt (the receipt before it, %s, hashes to %s): %s was edited, or a receipt of loop %s between them was removed",
					short(prev), before.RunKey, short(before.Hash), before.RunKey, loop)
				continue
			case target.Receipt == nil:
			case target.Receipt.LoopID != loop:
				out[e.RunKey] = fmt.Sprintf("prev %s is the receipt %s of another loop, %s", short(prev), target.RunKey, target.Receipt.LoopID)
				continue
			}
			if other, dup := followers[prev]; dup {
				out[e.RunKey] = fmt.Sprintf("prev %s (%s) is also the prev of %s: the chain of loop %s forks", short(prev), target.RunKey, other.RunKey, loop)
				continue
			}
			followers[prev] = e
		}
	}
	return out
}

// short abbreviates a hash.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
