package pipeline

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/loops"
)

// ledgerName is the file in the state folder that records every run of a
// destructive step this host started. Unlike the journal it is never
// compacted: it is the host's own memory that a destructive step ran, for
// when the receipt and the evidence block that say so are both gone from
// the working tree (a git revert or reset of spine's commit), which would
// otherwise make the step pending again.
const ledgerName = "destructive.log"

// LedgerEntry is one line of the ledger: a destructive step started.
type LedgerEntry struct {
	LoopID string `json:"loop_id"`
	// Path is the loop document's path in the repository (absent in
	// lines written before it was recorded).
	Path   string    `json:"path,omitempty"`
	Step   string    `json:"step"`
	RunKey string    `json:"run_key"`
	At     time.Time `json:"at"`
}

// ledgerPathKey is the key under which readLedger also files an entry:
// by its document's path (a NUL byte first, which no loop id holds), so
// that a loop whose id changed after the run is still found.
func ledgerPathKey(path, step string) [2]string { return [2]string{"\x00" + path, step} }

// ledger records in the ledger that step, if destructive, of the loop
// document doc starts as run key: just before its intent is journaled, so
// that a step whose line cannot be written does not start (nothing is
// journaled yet).
func (r *Runner) ledger(step *loops.Step, doc *loops.Document, key string, at time.Time) error {
	if !step.Destructive {
		return nil
	}
	return appendLedger(r.opts.StateDir, LedgerEntry{LoopID: doc.LoopID, Path: doc.Path, Step: step.Name, RunKey: key, At: at})
}

// appendLedger appends an entry to the ledger and makes it durable (and
// the ledger's name, when this append created it). The journal's intent,
// synced next, also records the run, but only until the run's end
// compacts the journal; the ledger is what remembers it after that, and a
// line still in the page cache then is lost with a power cut. One sync
// per destructive step, and only for those.
func appendLedger(stateDir string, e LedgerEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	p := filepath.Join(stateDir, ledgerName)
	_, statErr := os.Lstat(p)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("destructive-run ledger: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if werr == nil {
		werr = fsx.Fdatasync(f)
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil && errors.Is(statErr, fs.ErrNotExist) {
		werr = fsx.SyncDir(stateDir)
	}
	if werr != nil {
		return fmt.Errorf("destructive-run ledger: %w", werr)
	}
	return nil
}

// readLedger returns the ledger's entries by loop and step, oldest first,
// each also under ledgerPathKey of its document and step; none when there
// is no ledger. A line that does not decode (torn by a crash) is skipped.
func readLedger(stateDir string) (map[[2]string][]LedgerEntry, error) {
	f, err := os.Open(filepath.Join(stateDir, ledgerName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("destructive-run ledger: %w", err)
	}
	defer f.Close()
	out := map[[2]string][]LedgerEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e LedgerEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.LoopID == "" || e.Step == "" || e.RunKey == "" {
			continue
		}
		k := [2]string{e.LoopID, e.Step}
		out[k] = append(out[k], e)
		if e.Path != "" {
			k := ledgerPathKey(e.Path, e.Step)
			out[k] = append(out[k], e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("destructive-run ledger: %w", err)
	}
	return out, nil
}

// ranHere returns the latest run of a destructive step that this host's
// ledger records, under the loop's id or, when docPath is set, its
// document (the id changed since), whose receipt is not in the history,
// and that is later than the latest run the history has of the step (an
// older one was followed by a run whose receipt speaks for the step); nil
// when there is none.
func (p *Planner) ranHere(loopID, docPath, step string, latest *Run) *LedgerEntry {
	var found *LedgerEntry
	look := func(entries []LedgerEntry) {
		for i := len(entries) - 1; i >= 0; i-- {
			e := &entries[i]
			if latest != nil && !e.At.After(latest.Started) || found != nil && !e.At.After(found.At) {
				return
			}
			if p.History.ByKey(e.RunKey) == nil {
				found = e
				return
			}
		}
	}
	look(p.Ledger[[2]string{loopID, step}])
	if docPath != "" {
		look(p.Ledger[ledgerPathKey(docPath, step)])
	}
	return found
}

// CheckLedger returns a problem for every destructive step whose latest
// run this host's ledger records (see ledgerName) has no receipt, and no
// later receipt of the step speaks for it: the run the planner holds the
// step for (spine's commit undone, or the folder deleted). where names
// the ledger in the problems. A later --retry or spine resolve of the
// step answers it, also under the id the run's loop document has now
// (docs).
func CheckLedger(stateDir, where string, h *History, st *artifacts.Store, docs []*loops.Document) ([]artifacts.Problem, error) {
	ledger, err := readLedger(stateDir)
	if err != nil || len(ledger) == 0 {
		return nil, err
	}
	keys := make([][2]string, 0, len(ledger))
	for k := range ledger {
		if !strings.HasPrefix(k[0], "\x00") { // each entry once: by loop
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	idOf := map[string]string{}
	for _, d := range docs {
		idOf[d.Path] = d.LoopID
	}
	p := &Planner{History: h, Ledger: ledger, Receipts: st}
	var probs []artifacts.Problem
	for _, k := range keys {
		if e := p.ranHere(k[0], "", k[1], h.Latest(k[0], k[1])); e != nil {
			if id := idOf[e.Path]; id != "" && id != e.LoopID {
				if l := h.Latest(id, k[1]); l != nil && l.Started.After(e.At) {
					continue
				}
			}
			probs = append(probs, artifacts.Problem{
				RunKey:  e.RunKey,
				Path:    where,
				Problem: fmt.Sprintf("this host ran destructive step %s of %s as this run at %s, but %s/%s is missing", e.Step, e.LoopID, stamp(e.At), p.receiptDir(e.RunKey), artifacts.ReceiptFile),
			})
		}
	}
	return probs, nil
}
