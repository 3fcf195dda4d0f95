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
	"syscall"
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
	// CommandSHA is the command_sha256 the run's receipt records (absent
	// in lines written before it was recorded): with the step's name, it
	// finds the run when both the loop's id and its document's path
	// changed (ledgerCommandKey).
	CommandSHA string `json:"command_sha256,omitempty"`
}

// ledgerPathKey is the key under which readLedger also files an entry:
// by its document's path (a NUL byte first, which no loop id holds), so
// that a loop whose id changed after the run is still found.
func ledgerPathKey(path, step string) [2]string { return [2]string{"\x00" + path, step} }

// ledgerCommandKey is the key under which readLedger also files an entry
// by its step's command: a \x01 byte first, which no loop id holds.
func ledgerCommandKey(commandSHA, step string) [2]string {
	return [2]string{"\x01" + commandSHA, step}
}

// ledger records in the ledger that step, if destructive, of the loop
// document doc starts as run key: once its intent is journaled, before its
// process starts (a step whose line cannot be written does not start).
func (r *Runner) ledger(step *loops.Step, doc *loops.Document, rc *artifacts.Receipt, at time.Time) error {
	if !step.Destructive {
		return nil
	}
	return appendLedger(r.ledgerDir(), LedgerEntry{LoopID: doc.LoopID, Path: doc.Path, Step: step.Name,
		RunKey: rc.RunKey, At: at, CommandSHA: rc.CommandSHA256})
}

// appendLedger appends an entry to the ledger and makes it durable (and
// the ledger's name, when this append created it). The journal's intent,
// synced before, also records the run, but only until the run's end
// compacts the journal; the ledger is what remembers it after that, and a
// line still in the page cache then is lost with a power cut. One sync
// per destructive step, and only for those.
func appendLedger(stateDir string, e LedgerEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, fsx.DirMode); err != nil {
		return fmt.Errorf("destructive-run ledger: %w", err)
	}
	p := filepath.Join(stateDir, ledgerName)
	_, statErr := os.Lstat(p)
	// Its mode follows the umask, as the journal's: every operator who
	// runs spine in the clone (a group's, under umask 002) must read it
	// and append to it. It holds no secret: loop, step, run key, time
	// and the command's hash.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fsx.FileMode)
	if err != nil {
		return fmt.Errorf("destructive-run ledger: %w%s", err, ledgerPermHint(err, p))
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

// ledgerPermHint says what to do when the ledger at p cannot be opened for
// lack of permission (EACCES): most likely one made private (0600, as
// spine did before its mode followed the umask) by another operator of a
// clone several share. "" for other errors (an immutable file's EPERM
// among them: no chmod mends that).
func ledgerPermHint(err error, p string) string {
	if !errors.Is(err, syscall.EACCES) {
		return ""
	}
	if _, serr := os.Lstat(p); errors.Is(serr, fs.ErrNotExist) {
		// No ledger yet: its folder refuses the new file.
		return fmt.Sprintf(" (every operator who runs spine in this clone, or a linked working tree of it, must be able to create it; the owner of %s can run chmod g+rwx %s)", filepath.Dir(p), filepath.Dir(p))
	}
	return fmt.Sprintf(" (every operator who runs spine in this clone must read and append to it; its owner can run chmod g+rw %s)", p)
}

// readLedger returns the ledger's entries by loop and step, oldest first,
// each also under ledgerPathKey of its document and step and under
// ledgerCommandKey of its command and step; none when there is no
// ledger. A line that does not decode (torn by a crash) is skipped.
//
// With several folders (LedgerDirs), their ledgers are read as one.
func readLedger(dirs ...string) (map[[2]string][]LedgerEntry, error) {
	out := map[[2]string][]LedgerEntry{}
	for _, d := range dirs {
		if err := readLedgerInto(out, d); err != nil {
			return nil, err
		}
	}
	if len(dirs) > 1 {
		for _, es := range out {
			slices.SortStableFunc(es, func(a, b LedgerEntry) int { return a.At.Compare(b.At) })
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// LedgerDirs returns the folders whose ledgers record this host's
// destructive runs in the repository: ledgerDir, where runs append (see
// Options.LedgerDir; "" for stateDir), and stateDir, where a linked
// working tree's runs appended before they were shared.
func LedgerDirs(stateDir, ledgerDir string) []string {
	if ledgerDir == "" || ledgerDir == stateDir {
		return []string{stateDir}
	}
	return []string{ledgerDir, stateDir}
}

// readLedgerInto adds the entries of the ledger in stateDir to out.
func readLedgerInto(out map[[2]string][]LedgerEntry, stateDir string) error {
	p := filepath.Join(stateDir, ledgerName)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("destructive-run ledger: %w%s", err, ledgerPermHint(err, p))
	}
	defer f.Close()
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
		if e.CommandSHA != "" {
			k := ledgerCommandKey(e.CommandSHA, e.Step)
			out[k] = append(out[k], e)
		}
	}
	if err := sc.Err(); err != nil {
		// Its lines are a few hundred bytes: one over the bound is
		// damage, and the runs after it cannot be told apart. Planning
		// without them could run a destructive step again: stop, as for
		// a ledger that cannot be read at all.
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("destructive-run ledger %s: %w (a line over 1 MiB: the file is damaged; keep a copy, then remove the damaged line)", f.Name(), err)
		}
		return fmt.Errorf("destructive-run ledger %s: %w", f.Name(), err)
	}
	return nil
}

// ranHere returns the latest run of a destructive step that this host's
// ledger records whose receipt is not in the history, and that is later
// than the latest run the history has of the step (an older one was
// followed by a run whose receipt speaks for the step); nil when there is
// none. It finds the run under the loop's id; when docPath is set, under
// its document (the id changed since); and when command is set and the
// Planner knows every document (Docs), under the step's name and command,
// for a run whose loop id and document path are both no longer any
// document's (the id changed and the file was renamed).
func (p *Planner) ranHere(loopID, docPath, step, command string, latest *Run) *LedgerEntry {
	var found *LedgerEntry
	look := func(entries []LedgerEntry, take func(*LedgerEntry) bool) {
		for i := len(entries) - 1; i >= 0; i-- {
			e := &entries[i]
			if latest != nil && !e.At.After(latest.Started) || found != nil && !e.At.After(found.At) {
				return
			}
			if take != nil && !take(e) {
				continue
			}
			if p.History.ByKey(e.RunKey) == nil {
				found = e
				return
			}
		}
	}
	look(p.Ledger[[2]string{loopID, step}], nil)
	if docPath != "" {
		look(p.Ledger[ledgerPathKey(docPath, step)], nil)
	}
	if command != "" && p.Docs != nil {
		orphan := func(e *LedgerEntry) bool { return !p.isDocument(e.LoopID, e.Path) }
		raw := artifacts.CommandSHA256(command)
		look(p.Ledger[ledgerCommandKey(raw, step)], orphan)
		if stored, n := StoredCommand(command, p.Redactor); n > 0 {
			look(p.Ledger[ledgerCommandKey(artifacts.CommandSHA256(stored), step)], orphan)
		}
	}
	return found
}

// isDocument reports whether a loop document of Docs has the id loopID
// or the path docPath.
func (p *Planner) isDocument(loopID, docPath string) bool {
	keys := p.documentKeys()
	return keys[loopID] || docPath != "" && keys["\x00"+docPath]
}

// documentKeys returns Docs' ids, and their paths after a NUL, made on
// the first call.
func (p *Planner) documentKeys() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.docKeys == nil {
		p.docKeys = map[string]bool{}
		for _, d := range p.Docs {
			p.docKeys[d.LoopID] = true
			p.docKeys["\x00"+d.Path] = true
		}
	}
	return p.docKeys
}

// CheckLedger returns a problem for every destructive step whose latest
// run this host's ledger (in dirs: LedgerDirs) records (see ledgerName) has no receipt, and no
// later receipt of the step speaks for it: the run the planner holds the
// step for (spine's commit undone, or the folder deleted). where names
// the ledger in the problems. A later --retry or spine resolve of the
// step answers it, also under the id the run's loop document has now
// (docs).
func CheckLedger(dirs []string, where string, h *History, st *artifacts.Store, docs []*loops.Document) ([]artifacts.Problem, error) {
	ledger, err := readLedger(dirs...)
	if err != nil || len(ledger) == 0 {
		return nil, err
	}
	keys := make([][2]string, 0, len(ledger))
	for k := range ledger {
		if !strings.HasPrefix(k[0], "\x00") && !strings.HasPrefix(k[0], "\x01") { // each entry once: by loop
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	p := &Planner{History: h, Ledger: ledger, Receipts: st, Docs: docs, Redactor: artifacts.NewRedactor(nil)}
	var probs []artifacts.Problem
	for _, k := range keys {
		if e := p.ranHere(k[0], "", k[1], "", h.Latest(k[0], k[1])); e != nil {
			if p.answeredAsNamedNow(e) {
				continue
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

// answeredAsNamedNow reports whether the ledger's run e was answered by
// a later run (a --retry, a spine resolve) of its step in the loop as it
// is named now: the document at the run's path under another id, or,
// when neither the run's id nor its path is any document's, a document
// with a step of the same name and command (ranHere's matches).
func (p *Planner) answeredAsNamedNow(e *LedgerEntry) bool {
	orphan := !p.isDocument(e.LoopID, e.Path)
	for _, d := range p.Docs {
		renamed := e.Path != "" && d.Path == e.Path && d.LoopID != e.LoopID
		if !renamed && !(orphan && e.CommandSHA != "") {
			continue
		}
		if !renamed {
			if _, s := d.Step(e.Step); s == nil || !CommandMatches(e.CommandSHA, s.Command, p.Redactor, nil) {
				continue
			}
		}
		if l := p.History.Latest(d.LoopID, e.Step); l != nil && l.Started.After(e.At) {
			return true
		}
	}
	return false
}
