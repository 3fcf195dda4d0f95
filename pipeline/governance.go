package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/caps"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/gaps"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/packs"
)

// Governance actions are changes to a governed repository that run no step
// of a loop but are receipted and committed like one: a verify pack run by
// hand, a gap filed or closed, a loop closed. Each runs under the
// repository lock, writes its receipts into the loop's hash chain, and makes
// exactly one commit of exactly the files it wrote.

// Pseudo-loops, stages and capabilities of governance receipts.
const (
	// PacksLoopID is the loop id of verify packs run by hand (`spine pack
	// run`): their receipts form a chain of their own.
	// A loop document may not take it (loops refuses it).
	PacksLoopID = loops.PacksLoopID
	// GapsLoopID is the loop id of gap receipts whose gap names no valid
	// parent loop. A loop document may not take it.
	GapsLoopID = loops.GapsLoopID

	// StageManual is the stage of a pack run by hand.
	StageManual = loops.StageManual
	// StageGaps is the stage of gap ledger edits.
	StageGaps = loops.StageGaps
	// StageCloseout is the stage of a loop's closeout receipt.
	StageCloseout = loops.StageCloseout
	// StepClose is the step name of a loop's closeout receipt. Its
	// runs are not runs of a step of that name (History keeps the
	// governance stages' runs apart: loops.RunStepKey).
	StepClose = "close"

	// CapPackRun is the built-in capability of verify packs.
	CapPackRun = "verify.pack.run"
	// CapGapFile is the capability recorded when a gap is filed.
	CapGapFile = "gaps.file"
	// CapGapClose is the capability recorded when a gap is closed.
	CapGapClose = "gaps.close"
	// CapLoopClose is the capability recorded when a loop is closed.
	CapLoopClose = "loops.close"
)

// govTx is one governance action in progress: the receipts it wrote and
// the files to commit with them.
type govTx struct {
	r  *Runner
	lr *loopRun
	// subject is the commit's subject line, set by the action.
	subject string
	// undo restores what the action wrote, newest first, when it fails
	// or its commit does: a refused edit leaves no half-written state.
	undo []func() error
}

// rollback undoes what the action wrote, newest first.
func (tx *govTx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		if err := tx.undo[i](); err != nil {
			tx.r.log.Warn("undo a governance edit", "err", err)
		}
	}
	tx.undo = nil
}

// govern runs act under the repository lock, after finishing what a
// crashed run left, and commits every file act wrote in one commit with the
// Spine-Run and Spine-Host trailers. When act or the commit fails, the
// files act wrote through writeFile and write are restored (a pack's
// receipt, journaled like a step's, is left for recovery to commit).
func (r *Runner) govern(ctx context.Context, act func(ctx context.Context, tx *govTx) error) (*Outcome, error) {
	r.out = &Outcome{}
	release, err := LockRepo(ctx, r.opts.Git, r.opts.StateDir, r.opts.Wait, r.log)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := r.load(); err != nil {
		return nil, err
	}
	// load keeps the journal open between appends; close the one in use
	// when this command ends (a later load replaces and closes it).
	defer func() { r.detachGit(); r.journal.Close() }()
	if r.runID, err = randomID(r.opts.Rand); err != nil {
		return nil, err
	}
	if err := r.recover(ctx); err != nil {
		return r.out, fmt.Errorf("recovering the previous run: %w", err)
	}
	if len(r.out.Receipts) > 0 {
		if err := r.load(); err != nil {
			return r.out, err
		}
	}
	tx := &govTx{r: r, lr: &loopRun{counts: map[string]int{}}}
	if err := act(ctx, tx); err != nil {
		tx.rollback()
		return r.out, err
	}
	if len(tx.lr.pending) == 0 {
		return r.out, nil
	}
	now := r.opts.Clock().UTC()
	if r.opts.Git != nil {
		msg := tx.subject + "\n\nSpine-Run: " + r.runID + "\nSpine-Host: " + r.opts.Host + "\n"
		h, made, err := r.opts.Git.CommitFiles(tx.lr.pending, msg, r.opts.Git.Signature(r.opts.Host, now))
		if err != nil {
			tx.rollback()
			return r.out, fmt.Errorf("commit (nothing changed; try again): %w", err)
		}
		if made {
			r.out.Commits = append(r.out.Commits, h.String())
		}
	}
	for _, k := range runKeysOf(tx.lr.pending) {
		if err := r.journal.Append(JournalRecord{Kind: recDone, RunKey: k, At: now}); err != nil {
			return r.out, err
		}
	}
	r.housekeep(ctx)
	return r.out, nil
}

// record is a receipt of an action that runs no process.
type record struct {
	loopID, stage, step, capability, command string
	status                                   string
	note                                     string
	// output becomes output.log (redacted like step output).
	output string
	// gate and approval record how a gated action was decided.
	gate     string
	approval *artifacts.Approval
}

// write writes the receipt of rec, chained after the loop's last receipt,
// and queues its files for the commit.
func (tx *govTx) write(rec record) (*artifacts.Receipt, error) {
	r := tx.r
	now := r.opts.Clock()
	key, err := r.newRunKey(rec.capability, now)
	if err != nil {
		return nil, err
	}
	red := r.redactor()
	out, n := red.RedactString(rec.output)
	command, nc := StoredCommand(rec.command, red)
	note, nn := red.RedactString(oneLine(rec.note))
	rc := &artifacts.Receipt{
		RunKey: key, LoopID: rec.loopID, Stage: rec.stage, Step: rec.step,
		Capability: rec.capability, Command: command,
		CommandSHA256: artifacts.CommandSHA256(command),
		Host:          r.opts.Host, User: r.opts.User, Workdir: r.opts.Root,
		StartedAt: now.UTC().Format(time.RFC3339Nano), FinishedAt: now.UTC().Format(time.RFC3339Nano),
		Status: rec.status, SpineVersion: r.opts.Version, Artifacts: []artifacts.ArtifactRef{},
		Note: note, Redactions: n + nc + nn, Gate: rec.gate, Approval: rec.approval,
	}
	switch rec.status {
	case artifacts.StatusPass:
	case artifacts.StatusBlocked:
		rc.ExitCode = -1
	default:
		rc.ExitCode = 1
	}
	if r.opts.Git != nil {
		if h, err := r.opts.Git.Head(); err == nil && !h.IsZero() {
			rc.SourceCommit = h.String()
		}
	}
	dir, err := r.store.RelDir(key)
	if err != nil {
		return nil, err
	}
	full, err := artifacts.SafeJoin(r.opts.Root, dir)
	if err != nil {
		return nil, err
	}
	tx.undo = append(tx.undo, func() error { return os.RemoveAll(full) })
	if err := r.writeReceipt(tx.lr, rc, strings.NewReader(out)); err != nil {
		return nil, err
	}
	return rc, nil
}

// BlockedError is returned by a governance action whose capability needs
// an approval that was not given: nothing changed but the blocked receipt,
// which is committed (the refusal is evidence too).
type BlockedError struct {
	Capability, Gate, Reason string
	Receipt                  *artifacts.Receipt
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("capability %s runs only behind gate %s: %s; nothing changed (blocked receipt %s)", e.Capability, e.Gate, e.Reason, e.Receipt.RunKey)
}

// decide applies the capability registry to a governance action: an
// action whose capability needs approval runs only behind its gate, like a
// step with that cap. doc (may be nil) is the loop whose approvals count:
// NAME=yes, or an approver's committed approvals: entry.
// ok is false when the gate is not approved.
func (tx *govTx) decide(capName string, doc *loops.Document) (gate string, approval *artifacts.Approval, reason string, ok bool) {
	r := tx.r
	if r.opts.CapGate == nil {
		return "", nil, "", true
	}
	if gate = r.opts.CapGate(capName); gate == "" {
		return "", nil, "", true
	}
	if doc == nil {
		doc = &loops.Document{}
	}
	// The action is no step of the document: its approval is all.
	d := r.planner.Gates.Check(doc, nil, gate)
	if !d.Approved {
		return gate, nil, d.Reason + "; capability " + capName + " requires it", false
	}
	return gate, d.Approval, "", true
}

// block writes the blocked receipt of a refused action and returns the
// error the action ends with.
func (tx *govTx) block(rec record, reason string) (*BlockedError, error) {
	rec.status, rec.note = artifacts.StatusBlocked, reason
	rc, err := tx.write(rec)
	if err != nil {
		return nil, err
	}
	what := rec.step
	if rec.capability == CapGapFile {
		// The id it would have had: nothing was filed under it.
		what = "(not filed)"
	}
	tx.subject = oneLine(fmt.Sprintf("spine(%s): %s %s blocked — gate %s not approved", rec.loopID, rec.capability, what, rec.gate))
	return &BlockedError{Capability: rec.capability, Gate: rec.gate, Reason: reason, Receipt: rc}, nil
}

// writeFile replaces a repository file atomically and queues it for the
// commit.
func (tx *govTx) writeFile(rel string, data []byte) error {
	full, err := artifacts.SafeJoin(tx.r.opts.Root, rel)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		tx.undo = append(tx.undo, func() error {
			if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		})
		// A first ledger may be configured in a folder not made yet.
		if err := os.MkdirAll(filepath.Dir(full), fsx.DirMode); err != nil {
			return fmt.Errorf("write %s: %w", rel, err)
		}
	case err != nil:
		return fmt.Errorf("write %s: %w", rel, err)
	default:
		tx.undo = append(tx.undo, func() error { return artifacts.WriteFileAtomic(full, old, fsx.FileMode) })
	}
	if err := artifacts.WriteFileAtomic(full, data, fsx.FileMode); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	tx.lr.pending = append(tx.lr.pending, filepath.ToSlash(rel))
	return nil
}

// readClean reads a repository file that spine is about to edit and
// refuses when it has changes git does not have: spine never commits
// someone's half-edit. A file that exists neither on disk nor in HEAD
// reads as empty (missing reports it).
func (r *Runner) readClean(rel string) (data []byte, missing bool, err error) {
	full, err := artifacts.SafeJoin(r.opts.Root, rel)
	if err != nil {
		return nil, false, err
	}
	data, err = os.ReadFile(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		missing = true
		data = nil
	case err != nil:
		return nil, false, err
	}
	if r.opts.Git == nil {
		return data, missing, nil
	}
	_, inHead, err := r.opts.Git.HeadEntry(filepath.ToSlash(rel))
	if err != nil {
		return nil, false, err
	}
	if missing && !inHead {
		return nil, true, nil
	}
	dirty, err := r.opts.Git.Dirty(filepath.ToSlash(rel), data)
	if err != nil {
		return nil, false, err
	}
	if dirty {
		return nil, false, fmt.Errorf("%s has uncommitted changes (or is not committed); commit or revert them first: spine does not commit someone's half-edit", rel)
	}
	return data, missing, nil
}

// VerifyPack runs a verify pack by hand (`spine pack run`): the built-in
// capability verify.pack.run under the pseudo-loop PacksLoopID, stage
// StageManual, step = the pack's name. The receipt records every check and
// the `N/M PASS` summary, output.log holds the checks' output, and both are
// committed. The receipt's status is fail when a blocking check failed.
func (r *Runner) VerifyPack(ctx context.Context, pack string) (*artifacts.Receipt, error) {
	// A pack nobody committed is refused before anything is written (a
	// run of it would record a failure that never ran).
	if why := r.packFileChange(pack); why != "" {
		return nil, errors.New(why)
	}
	var rc *artifacts.Receipt
	var blocked *BlockedError
	_, err := r.govern(ctx, func(ctx context.Context, tx *govTx) error {
		doc := &loops.Document{LoopID: PacksLoopID}
		step := &loops.Step{Kind: loops.KindVerify, Lang: "verify", Name: pack, Pack: pack, Command: "spine pack run " + pack}
		tx.lr.doc, tx.lr.src = doc, nil
		it := &Item{LoopID: PacksLoopID, Stage: StageManual, Name: pack, State: StatePending, Doc: doc, Step: step}
		gate, approval, reason, ok := tx.decide(CapPackRun, nil)
		if !ok {
			var err error
			blocked, err = tx.block(record{loopID: PacksLoopID, stage: StageManual, step: pack, capability: CapPackRun,
				command: step.Command, gate: gate}, reason)
			if blocked != nil {
				rc = blocked.Receipt
			}
			return err
		}
		it.Gate = gate
		if approval != nil {
			it.Decision = &Decision{Approved: true, Approval: approval}
		}
		var err error
		if rc, err = r.execute(ctx, tx.lr, it); err != nil {
			return err
		}
		summary := rc.Summary
		if summary == "" {
			summary = rc.Status
		}
		tx.subject = fmt.Sprintf("spine(%s): verify %s — %s", PacksLoopID, pack, summary)
		return nil
	})
	if err == nil && blocked != nil {
		err = blocked
	}
	return rc, err
}

// GapFiling is what `spine gap file` records.
type GapFiling struct {
	// Loop is the loop that discovered the gap and owns its fix
	// (discovered_by and parent_loop).
	Loop        string
	Title       string
	Description string
	Type        string
	Severity    string
	// Command is the command line recorded in the receipt.
	Command string
}

// GapEdit is the outcome of a gap ledger edit.
type GapEdit struct {
	Gap     gaps.Gap
	Receipt *artifacts.Receipt
	// Commit is the commit made ("" when git is not in use).
	Commit string
	// Problems are the ledger's findings after the edit.
	Problems []gaps.Problem
}

// ErrGapNotFound is wrapped by CloseGap for an id the ledger lacks.
var ErrGapNotFound = gaps.ErrNotFound

// openLedger reads the ledger for an edit, refusing uncommitted changes.
func (r *Runner) openLedger() (*gaps.Ledger, string, error) {
	rel := filepath.ToSlash(r.opts.Config.Gaps)
	data, _, err := r.readClean(rel)
	if err != nil {
		return nil, rel, err
	}
	l, err := gaps.Parse(rel, data)
	if err != nil {
		return nil, rel, err
	}
	return l, rel, nil
}

// FileGap appends a gap to the ledger with the next free id, discovered by
// and parented to f.Loop on today's UTC date, writes a gaps.file receipt in
// that loop's chain (stage "gaps", step = the gap id), and commits exactly
// the ledger and the receipt: `spine(gaps): file GAP-OP-N <title>`. Every
// byte of the ledger outside the new entry is kept.
func (r *Runner) FileGap(ctx context.Context, f GapFiling) (*GapEdit, error) {
	res := &GapEdit{}
	// The operator's text goes into the ledger, the commit message and
	// the site: redacted as the receipt's copy of the command line is.
	red := r.redactor()
	f.Title, _ = red.RedactString(f.Title)
	f.Description, _ = red.RedactString(f.Description)
	var blocked *BlockedError
	out, err := r.govern(ctx, func(_ context.Context, tx *govTx) error {
		doc := r.opts.Set.ByID(f.Loop)
		if doc == nil {
			return fmt.Errorf("no loop %q in this repository: a gap belongs to a loop (--loop)", f.Loop)
		}
		l, rel, err := r.openLedger()
		if err != nil {
			return err
		}
		gate, approval, reason, ok := tx.decide(CapGapFile, doc)
		if !ok {
			blocked, err = tx.block(record{loopID: f.Loop, stage: StageGaps, step: l.NextID(), capability: CapGapFile,
				command: f.Command, gate: gate, output: "not filed: " + f.Title + "\n"}, reason)
			return err
		}
		before, _ := l.Bytes()
		now := r.opts.Clock().UTC()
		g, err := l.File(gaps.NewGap{
			Title: f.Title, Description: f.Description, Type: f.Type, Severity: f.Severity,
			DiscoveredBy: f.Loop, DiscoveredAt: now.Format("2006-01-02"), ParentLoop: f.Loop,
		})
		if err != nil {
			return err
		}
		after, _ := l.Bytes()
		if err := tx.writeFile(rel, after); err != nil {
			return err
		}
		res.Gap, res.Problems = g, l.Problems
		res.Receipt, err = tx.write(record{
			loopID: f.Loop, stage: StageGaps, step: g.ID, capability: CapGapFile, command: f.Command,
			status: artifacts.StatusPass, note: "filed " + g.ID + ": " + gapTitle(g), gate: gate, approval: approval,
			output: fmt.Sprintf("%s:%d: filed %s\n%s", rel, g.Line, g.ID, LineDiff(before, after)),
		})
		if err != nil {
			return err
		}
		tx.subject = oneLine(fmt.Sprintf("spine(gaps): file %s %s", g.ID, gapTitle(g)))
		return nil
	})
	return res, finish(res, out, err, blocked)
}

// finish fills in the commit of an edit and turns a refusal into its
// error.
func finish(res *GapEdit, out *Outcome, err error, blocked *BlockedError) error {
	if out != nil && len(out.Commits) > 0 {
		res.Commit = out.Commits[len(out.Commits)-1]
	}
	if err == nil && blocked != nil {
		res.Receipt = blocked.Receipt
		return blocked
	}
	return err
}

// CloseGap marks a gap fixed in fixedIn (status fixed, fixed_in, fixed_at,
// the note appended to notes), writes a gaps.close receipt in the chain of
// the gap's parent loop (GapsLoopID when it names none), and commits exactly
// the ledger and the receipt: `spine(gaps): close GAP-OP-N fixed in LOOP`.
// An id the ledger lacks fails with ErrGapNotFound; an id written twice is
// refused (fix the ledger first).
func (r *Runner) CloseGap(ctx context.Context, id, fixedIn, note, command string) (*GapEdit, error) {
	res := &GapEdit{}
	red := r.redactor()
	fixedIn, _ = red.RedactString(fixedIn)
	note, _ = red.RedactString(note)
	var blocked *BlockedError
	out, err := r.govern(ctx, func(_ context.Context, tx *govTx) error {
		l, rel, err := r.openLedger()
		if err != nil {
			return err
		}
		var lines []string
		for _, g := range l.Gaps {
			if g.ID == strings.TrimSpace(id) {
				lines = append(lines, fmt.Sprintf("%s:%d", rel, g.Line))
			}
		}
		switch {
		case len(lines) == 0:
			return fmt.Errorf("%s: %w %s", rel, ErrGapNotFound, id)
		case len(lines) > 1:
			return fmt.Errorf("gap %s is written %d times (%s); fix the ledger first", id, len(lines), strings.Join(lines, ", "))
		}
		g, _ := l.Lookup(id)
		loopID := strings.TrimSpace(g.ParentLoop)
		if !loops.ValidLoopID(loopID) {
			loopID = GapsLoopID
		}
		gate, approval, reason, ok := tx.decide(CapGapClose, r.opts.Set.ByID(loopID))
		if !ok {
			blocked, err = tx.block(record{loopID: loopID, stage: StageGaps, step: g.ID, capability: CapGapClose,
				command: command, gate: gate, output: "not closed: " + g.ID + "\n"}, reason)
			return err
		}
		before, _ := l.Bytes()
		if err := l.Close(id, fixedIn, note, r.opts.Clock()); err != nil {
			return err
		}
		after, _ := l.Bytes()
		g, _ = l.Lookup(id)
		if err := tx.writeFile(rel, after); err != nil {
			return err
		}
		res.Gap, res.Problems = g, l.Problems
		msg := "closed " + g.ID + ": fixed in " + fixedIn
		if note != "" {
			msg += "; " + note
		}
		res.Receipt, err = tx.write(record{
			loopID: loopID, stage: StageGaps, step: g.ID, capability: CapGapClose, command: command,
			status: artifacts.StatusPass, note: msg, gate: gate, approval: approval,
			output: fmt.Sprintf("%s:%d: closed %s, fixed in %s\n%s", rel, g.Line, g.ID, fixedIn, LineDiff(before, after)),
		})
		if err != nil {
			return err
		}
		tx.subject = oneLine(fmt.Sprintf("spine(gaps): close %s fixed in %s", g.ID, fixedIn))
		return nil
	})
	return res, finish(res, out, err, blocked)
}

func gapTitle(g gaps.Gap) string {
	if t := strings.TrimSpace(g.Title); t != "" {
		return t
	}
	first, _, _ := strings.Cut(strings.TrimSpace(g.Description), "\n")
	return first
}

// OutstandingError is returned by CloseLoop when the loop still has work:
// steps not done, gates not approved, open gaps. Items lists each, one line
// apiece.
type OutstandingError struct {
	LoopID string
	Items  []string
}

func (e *OutstandingError) Error() string {
	return fmt.Sprintf("loop %s is not finished (%d outstanding):\n  %s\nfinish or resolve them, or close anyway with --force (recorded in the closeout receipt)",
		e.LoopID, len(e.Items), strings.Join(e.Items, "\n  "))
}

// ErrNotClosable is wrapped by CloseLoop errors about the document itself
// (unknown loop, already closed, no frontmatter, uncommitted changes).
var ErrNotClosable = errors.New("cannot close loop")

// LoopClose is the outcome of closing a loop.
type LoopClose struct {
	Path    string
	Receipt *artifacts.Receipt
	// Outstanding is what was not finished (closed with force).
	Outstanding []string
	// ClosedAt is the closed_at value written (RFC 3339, UTC).
	ClosedAt string
	Commit   string
}

// Outstanding lists what keeps a loop from closing: every step that is not
// done (or edited after it passed), with its state and reason, and every
// open gap whose parent_loop is the loop, with its ledger line.
func (r *Runner) Outstanding(doc *loops.Document) ([]string, error) {
	var out []string
	for _, it := range r.planner.PlanLoop(doc) {
		if it.State == StateDone || it.State == StateEdited {
			continue
		}
		out = append(out, fmt.Sprintf("step %s (%s): %s: %s", it.Name, it.Stage, it.State, it.Reason))
	}
	rel := filepath.ToSlash(r.opts.Config.Gaps)
	full, err := artifacts.SafeJoin(r.opts.Root, rel)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(full)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	if g := r.opts.Git; g != nil {
		// The loop closes on the ledger as committed: a gap marked fixed
		// in the working tree only would stay open, orphaned.
		if dirty, err := g.Dirty(rel, data); err != nil {
			return nil, err
		} else if dirty {
			return nil, fmt.Errorf("%w: %s has uncommitted changes; commit them first (a loop closes on the committed ledger)", ErrNotClosable, rel)
		}
	}
	l, err := gaps.Parse(rel, data)
	if err != nil {
		return nil, err
	}
	for _, g := range l.Gaps {
		if g.IsOpen() && strings.TrimSpace(g.ParentLoop) == doc.LoopID {
			out = append(out, oneLine(fmt.Sprintf("gap %s (%s:%d) is %s: %s", g.ID, rel, g.Line, statusWord(g.Status), gapTitle(g))))
		}
	}
	return out, nil
}

func statusWord(s string) string {
	if s == "" {
		return "open"
	}
	return s
}

// CloseLoop closes a loop: it refuses (OutstandingError) while steps are
// not done, gates wait or gaps parented to the loop are open, unless force
// is set, in which case what was outstanding goes into the receipt's note
// and output. It sets `status: closed` and `closed_at` in the document's
// frontmatter (every other byte kept; documents without frontmatter are
// refused), writes a loops.close receipt (stage "closeout", step "close"),
// regenerates the evidence block and heartbeat, and commits the document and
// the receipt.
func (r *Runner) CloseLoop(ctx context.Context, loopID string, force bool, command string) (*LoopClose, error) {
	res := &LoopClose{}
	var blocked *BlockedError
	out, err := r.govern(ctx, func(_ context.Context, tx *govTx) error {
		doc := r.opts.Set.ByID(loopID)
		if doc == nil {
			return fmt.Errorf("%w: no loop %q in this repository", ErrNotClosable, loopID)
		}
		res.Path = doc.Path
		if doc.Status == "closed" {
			at := doc.Meta.String("closed_at")
			if at != "" {
				at = " at " + at
			}
			return fmt.Errorf("%w: %s:%d: loop %s is already closed%s", ErrNotClosable, doc.Path, max(doc.Meta.Line("status"), 1), loopID, at)
		}
		if doc.MetaSource != loops.SourceFrontmatter && doc.MetaSource != loops.SourceFrontmatterLines {
			return fmt.Errorf("%w: %s:1: the document has no YAML frontmatter, so spine cannot record status: closed; add a frontmatter block (--- loop_id/status ---) or close it by hand", ErrNotClosable, doc.Path)
		}
		if r.opts.Git != nil {
			if dirty, err := r.opts.Git.Dirty(doc.Path, doc.Source); err != nil {
				return err
			} else if dirty {
				return fmt.Errorf("%w: %s has uncommitted changes; commit them first", ErrNotClosable, doc.Path)
			}
		}
		outstanding, err := r.Outstanding(doc)
		if err != nil {
			return err
		}
		res.Outstanding = outstanding
		if len(outstanding) > 0 && !force {
			return &OutstandingError{LoopID: loopID, Items: outstanding}
		}
		gate, approval, reason, ok := tx.decide(CapLoopClose, doc)
		if !ok {
			blocked, err = tx.block(record{loopID: doc.LoopID, stage: StageCloseout, step: StepClose, capability: CapLoopClose,
				command: command, gate: gate, output: "not closed\n"}, reason)
			return err
		}
		now := r.opts.Clock().UTC()
		res.ClosedAt = now.Format(time.RFC3339)
		src, err := loops.SetFrontmatter(doc.Source, "status", "closed")
		if err == nil {
			src, err = loops.SetFrontmatter(src, "closed_at", loops.QuoteYAML(res.ClosedAt))
		}
		if errors.Is(err, loops.ErrNoFrontmatter) {
			return fmt.Errorf("%w: %s:1: the document has no frontmatter block; add status: closed by hand", ErrNotClosable, doc.Path)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrNotClosable, doc.Path, err)
		}
		note := "closed by " + r.opts.User
		output := fmt.Sprintf("%s: status: closed, closed_at: %s\n", doc.Path, now.Format(time.RFC3339))
		if len(outstanding) > 0 {
			note = fmt.Sprintf("closed by %s with --force; %d outstanding: %s", r.opts.User, len(outstanding), strings.Join(outstanding, "; "))
			output += "closed with --force; outstanding:\n  " + strings.Join(outstanding, "\n  ") + "\n"
		}
		tx.lr.doc = doc
		res.Receipt, err = tx.write(record{
			loopID: doc.LoopID, stage: StageCloseout, step: StepClose, capability: CapLoopClose,
			command: command, status: artifacts.StatusPass, note: note, output: output, gate: gate, approval: approval,
		})
		if err != nil {
			return err
		}
		if regen, err := r.regenerate(doc, src, now); err == nil {
			src = regen
		} else {
			r.report().Warn(fmt.Sprintf("%s: evidence not updated: %v", doc.Path, err))
		}
		if err := tx.writeFile(doc.Path, src); err != nil {
			return err
		}
		tx.subject = fmt.Sprintf("spine(%s): close loop", doc.LoopID)
		if len(outstanding) > 0 {
			tx.subject += fmt.Sprintf(" — forced, %d outstanding", len(outstanding))
		}
		return nil
	})
	if out != nil && len(out.Commits) > 0 {
		res.Commit = out.Commits[len(out.Commits)-1]
	}
	if err == nil && blocked != nil {
		res.Receipt = blocked.Receipt
		return res, blocked
	}
	return res, err
}

// LineDiff renders the lines that differ between before and after (one
// changed region: the lines between their common first and last lines) as
// `- old` and `+ new` lines, for the output.log of a ledger edit.
func LineDiff(before, after []byte) string {
	a := splitLines(before)
	b := splitLines(after)
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	var sb strings.Builder
	if p < len(a)-s || p < len(b)-s {
		fmt.Fprintf(&sb, "@@ line %d @@\n", p+1)
	}
	for _, l := range a[p : len(a)-s] {
		sb.WriteString("- " + l + "\n")
	}
	for _, l := range b[p : len(b)-s] {
		sb.WriteString("+ " + l + "\n")
	}
	return sb.String()
}

func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.Split(s, "\n")
}

// DerivedGate is the gate a capability that needs approval but names no
// gate runs behind: ALLOW_ and its name upper-cased, every character that
// cannot be in an environment variable name turned into '_'
// (gaps.close → ALLOW_GAPS_CLOSE).
func DerivedGate(capName string) string {
	var b strings.Builder
	b.WriteString("ALLOW_")
	for _, c := range []byte(strings.ToUpper(capName)) {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// CapabilityGate returns the gate a capability requires: "" when it needs
// no approval, its gate, or DerivedGate when it names none, so that a
// destructive or manual capability is never run unapproved.
func CapabilityGate(c caps.Capability) string {
	if !c.NeedsApproval() {
		return ""
	}
	if g := strings.TrimSpace(c.Gate); g != "" {
		return g
	}
	return DerivedGate(c.Name)
}

// LoadCommittedCapabilities is LoadCapabilities reading the registry as
// HEAD holds it (at the path HEAD's spine.yaml names): the gates a step's
// capability requires are the committed ones, never a working tree's
// half-edit. Without git it reads the working tree.
func LoadCommittedCapabilities(g *gitx.Repo, root string, cfg *config.Config) (*caps.Registry, []caps.Problem, error) {
	if g == nil {
		return LoadCapabilities(root, cfg)
	}
	rel := filepath.ToSlash(cfg.Capabilities)
	if data, ok, err := g.HeadFile(config.FileName); err == nil && ok {
		if c, err := config.Parse(config.FileName, data); err == nil {
			rel = filepath.ToSlash(c.Capabilities)
		}
	}
	if _, err := artifacts.SafeJoin(root, rel); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", rel, err)
	}
	data, ok, err := g.HeadFile(path.Clean(rel))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s at HEAD: %w", rel, err)
	}
	if !ok {
		return nil, nil, nil
	}
	return caps.Parse(rel, data)
}

// LoadCapabilities reads the capability registry named by the configuration.
// A missing file is no registry (nil, nil, nil). Invalid YAML is an error
// naming file:line; every other fault is a finding.
func LoadCapabilities(root string, cfg *config.Config) (*caps.Registry, []caps.Problem, error) {
	rel := filepath.ToSlash(cfg.Capabilities)
	full, err := artifacts.SafeJoin(root, rel)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", rel, err)
	}
	data, err := os.ReadFile(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", rel, err)
	}
	return caps.Parse(rel, data)
}

// CapabilityPolicy returns the CapGate and CapTimeout functions of Options
// for a registry (nil functions for a nil registry).
func CapabilityPolicy(reg *caps.Registry) (gate func(string) string, timeout func(string) time.Duration) {
	if reg == nil {
		return nil, nil
	}
	// Decided once per registry: planning asks for every step.
	gates := map[string]string{}
	timeouts := map[string]time.Duration{}
	for _, c := range reg.Caps {
		if _, seen := gates[c.Name]; seen {
			continue // Lookup's rule: the first entry of a name counts
		}
		gates[c.Name] = CapabilityGate(c)
		if c.Timeout > 0 {
			timeouts[c.Name] = c.Timeout
		}
	}
	gate = func(name string) string { return gates[name] }
	timeout = func(name string) time.Duration { return timeouts[name] }
	return gate, timeout
}

// RegistryGates returns the gates of every capability of reg that needs
// one (CapabilityGate), sorted, for Options.CapGates: spine's own actions'
// gates too (a gap filed, a pack run by hand), which no step names.
func RegistryGates(reg *caps.Registry) []string {
	if reg == nil {
		return nil
	}
	var gates []string
	for _, c := range reg.Caps {
		if g := CapabilityGate(c); g != "" {
			gates = append(gates, g)
		}
	}
	slices.Sort(gates)
	return slices.Compact(gates)
}

// stepTimeout is a step's timeout: its own, else its capability's.
func (r *Runner) stepTimeout(step *loops.Step) time.Duration {
	if step.Timeout > 0 || r.opts.CapTimeout == nil {
		return step.Timeout
	}
	return r.opts.CapTimeout(step.Capability())
}

// GovernanceFindings are the lint findings about what surrounds the loop
// documents, each naming file:line:
//   - the gap ledger's findings (duplicate ids, values outside the
//     documented sets) and its orphaned gaps (open, parent loop closed or
//     missing), as warnings;
//   - the capability registry's findings, and steps whose capability needs
//     approval but that name no gate (a warning saying which gate they run
//     behind), or whose cap is not in the registry;
//   - the verify packs' findings, and verify steps naming a pack that does
//     not exist.
//
// reg is the parsed registry (nil when there is none).
func GovernanceFindings(root string, cfg *config.Config, set *loops.Set, reg *caps.Registry) []loops.Problem {
	var out []loops.Problem
	add := func(path string, line int, level string, msg string) {
		out = append(out, loops.Problem{Path: path, Line: line, Level: loops.Level(level), Message: msg})
	}

	// The gap ledger.
	rel := filepath.ToSlash(cfg.Gaps)
	if full, err := artifacts.SafeJoin(root, rel); err == nil {
		data, err := os.ReadFile(full)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			add(rel, 0, string(loops.LevelError), fmt.Sprintf("read gap ledger: %v", err))
		default:
			l, err := gaps.Parse(rel, data)
			if err != nil {
				out = append(out, ErrorFinding(rel, err))
				break
			}
			for _, p := range l.Problems {
				add(p.Path, p.Line, string(p.Level), p.Message)
			}
			status := map[string]string{}
			for _, d := range set.Docs {
				if _, dup := status[d.LoopID]; !dup {
					status[d.LoopID] = d.Status
				}
			}
			for _, g := range gaps.Orphans(l, status) {
				parent := strings.TrimSpace(g.ParentLoop)
				why := "does not exist"
				if _, ok := status[parent]; ok {
					why = "is closed"
				}
				add(rel, g.Line, string(loops.LevelWarning), fmt.Sprintf("orphaned gap %s: it is %s but its parent loop %s %s; close it (spine gap close %s --fixed-in LOOP) or re-parent it", g.ID, statusWord(g.Status), parent, why, g.ID))
			}
		}
	}

	// The capability registry.
	if reg != nil {
		for _, d := range set.Docs {
			for si := range d.Stages {
				for k := range d.Stages[si].Steps {
					s := &d.Stages[si].Steps[k]
					if s.Kind == loops.KindManual || s.Cap == "" {
						continue
					}
					c, ok := reg.Lookup(s.Cap)
					if !ok {
						add(d.Path, s.Line, string(loops.LevelWarning), fmt.Sprintf("step %s: capability %s is not in %s", s.Name, s.Cap, reg.Path))
						continue
					}
					gate := CapabilityGate(c)
					if gate == "" || s.Gate != "" {
						continue
					}
					what := "needs manual approval"
					if c.Destructive() {
						what = "is destructive"
					}
					add(d.Path, s.Line, string(loops.LevelWarning), fmt.Sprintf("step %s: capability %s %s; it runs only behind gate %s; add gate=%s", s.Name, s.Cap, what, gate, gate))
				}
			}
		}
	}

	// Steps that wait for a step of another loop, and approvals that open
	// no gate: both would wait, or be ignored, without a word.
	byID := map[string]*loops.Document{}
	for _, d := range set.Docs {
		if _, dup := byID[d.LoopID]; !dup {
			byID[d.LoopID] = d
		}
	}
	for _, d := range set.Docs {
		gates := map[string]bool{}
		for si := range d.Stages {
			for k := range d.Stages[si].Steps {
				s := &d.Stages[si].Steps[k]
				if s.Kind == loops.KindManual {
					continue
				}
				gate := s.Gate
				if gate == "" && reg != nil && s.Cap != "" {
					if c, ok := reg.Lookup(s.Cap); ok {
						gate = CapabilityGate(c)
					}
				}
				gates[gate] = true
				loopID, name := loops.AfterRef(s.After)
				if s.After == "" || loopID == "" || loopID == d.LoopID || loops.ReservedLoopID(loopID) {
					continue // its own loop's, or spine's: the document's finding
				}
				switch other := byID[loopID]; {
				case other == nil:
					add(d.Path, s.Line, string(loops.LevelWarning), fmt.Sprintf("step %s: after=%s names loop %s, which no document here has; the step waits until a receipt of %s passes", s.Name, s.After, loopID, s.After))
				case func() bool { _, st := other.Step(name); return st == nil }():
					add(d.Path, s.Line, string(loops.LevelWarning), fmt.Sprintf("step %s: after=%s names no step of loop %s (%s); the step waits until a receipt of it passes", s.Name, s.After, loopID, other.Path))
				}
			}
		}
		for _, a := range d.Meta.Approvals() {
			if !gates[a] {
				add(d.Path, max(1, d.Meta.Line("approvals")), string(loops.LevelWarning), fmt.Sprintf("approvals: %s opens no gate of this loop (its gates: %s)", a, gateList(gates)))
			}
		}
	}

	for _, c := range afterCycles(set.Docs, byID) {
		add(c.doc.Path, c.line, string(loops.LevelWarning), c.msg)
	}

	// Verify packs.
	all, probs := packs.LoadDir(filepath.Join(root, filepath.FromSlash(cfg.VerifyDir)))
	for _, p := range probs {
		path := p.Path
		if r, err := filepath.Rel(root, p.Path); err == nil && !strings.HasPrefix(r, "..") {
			path = filepath.ToSlash(r)
		}
		add(path, p.Line, string(p.Level), strings.ReplaceAll(p.Message, root+string(filepath.Separator), ""))
	}
	for _, d := range set.Docs {
		for si := range d.Stages {
			for k := range d.Stages[si].Steps {
				s := &d.Stages[si].Steps[k]
				if s.Kind != loops.KindVerify || s.Pack == "" {
					continue
				}
				if _, ok := packs.Lookup(all, s.Pack); !ok && !packFileHasErrors(probs, s.Pack) {
					add(d.Path, s.Line, string(loops.LevelWarning), fmt.Sprintf("verify step %s: no verify pack %q in %s/ (spine pack list)", s.Name, s.Pack, cfg.VerifyDir))
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Line < out[j].Line
	})
	return out
}

// ErrorFinding turns an error reading path ("path:line: message", as the
// ledger, registry and pack parsers word them) into an error-level finding.
func ErrorFinding(path string, err error) loops.Problem {
	msg := err.Error()
	line := 0
	if rest, ok := strings.CutPrefix(msg, path+":"); ok {
		var n int
		if _, scanErr := fmt.Sscanf(rest, "%d:", &n); scanErr == nil {
			line = n
			_, msg, _ = strings.Cut(rest, ": ")
		} else {
			// "path: message": the finding names the path once.
			msg = strings.TrimPrefix(rest, " ")
		}
	}
	return loops.Problem{Path: path, Line: line, Level: loops.LevelError, Message: msg}
}

// CapabilityFindings turns the registry's findings into lint findings.
func CapabilityFindings(probs []caps.Problem) []loops.Problem {
	out := make([]loops.Problem, 0, len(probs))
	for _, p := range probs {
		out = append(out, loops.Problem{Path: p.Path, Line: p.Line, Level: loops.Level(p.Level), Message: p.Message})
	}
	return out
}

// gateList names the gates of a loop (gates holds "" for ungated steps).
func gateList(gates map[string]bool) string {
	var names []string
	for g := range gates {
		if g != "" {
			names = append(names, g)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// packFileHasErrors reports whether the verify folder's file for pack
// (<pack>.yaml or .yml) has an error finding: it is named, so "no verify
// pack" would only contradict it.
func packFileHasErrors(probs []packs.Problem, pack string) bool {
	for _, p := range probs {
		if b := filepath.Base(p.Path); p.Level == packs.LevelError && (b == pack+".yaml" || b == pack+".yml") {
			return true
		}
	}
	return false
}

// stepRef names a step of a loop.
type stepRef struct{ loop, step string }

func (r stepRef) String() string { return r.loop + "/" + r.step }

// afterCycle is a cycle of waits through an after= across loops, reported
// at that step.
type afterCycle struct {
	doc  *loops.Document
	line int
	msg  string
}

// afterCycles finds steps that wait for each other across loops: each step
// waits for the step before it in its loop, and for its after= step; a
// cycle of such waits, which only an after= naming another loop can close,
// means none of its steps runs until one of them has passed already (a
// receipt from before the documents said so). Each cycle is reported once,
// at the first step with such an after= on it. byID is the first document
// of each loop id.
func afterCycles(docs []*loops.Document, byID map[string]*loops.Document) []afterCycle {
	waits := map[stepRef][]stepRef{}
	line := map[stepRef]int{}
	var order []stepRef
	for _, d := range docs {
		if byID[d.LoopID] != d {
			continue
		}
		var prev *stepRef
		for si := range d.Stages {
			for k := range d.Stages[si].Steps {
				s := &d.Stages[si].Steps[k]
				n := stepRef{d.LoopID, s.Name}
				if _, dup := line[n]; dup {
					continue // the document's own finding
				}
				line[n] = s.Line
				order = append(order, n)
				if prev != nil {
					waits[n] = append(waits[n], *prev)
				}
				if loopID, name := loops.AfterRef(s.After); s.After != "" && loopID != "" && loopID != d.LoopID {
					waits[n] = append(waits[n], stepRef{loopID, name})
				}
				prev = &n
			}
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[stepRef]int{}
	var out []afterCycle
	var path []stepRef
	var visit func(n stepRef)
	visit = func(n stepRef) {
		state[n] = onPath
		path = append(path, n)
		for _, m := range waits[n] {
			switch state[m] {
			case unseen:
				if _, known := line[m]; known {
					visit(m)
				}
			case onPath:
				i := slices.Index(path, m)
				out = append(out, cycleAt(path[i:], byID, line))
			}
		}
		path = path[:len(path)-1]
		state[n] = done
	}
	for _, n := range order {
		if state[n] == unseen {
			visit(n)
		}
	}
	return out
}

// cycleAt reports the cycle of waits cyc (each waits for the next, the
// last for the first) at its first step whose after= names another loop.
func cycleAt(cyc []stepRef, byID map[string]*loops.Document, line map[stepRef]int) afterCycle {
	at := 0
	for i, n := range cyc {
		next := cyc[(i+1)%len(cyc)]
		if next.loop != n.loop {
			at = i
			break
		}
	}
	names := make([]string, 0, len(cyc)+1)
	for i := range len(cyc) + 1 {
		names = append(names, cyc[(at+i)%len(cyc)].String())
	}
	n := cyc[at]
	_, s := byID[n.loop].Step(n.step)
	return afterCycle{doc: byID[n.loop], line: line[n], msg: fmt.Sprintf("step %s: after=%s closes a cycle of waits (%s, each waiting for the next): none of these steps runs until one of them has passed", n.step, s.After, strings.Join(names, " → "))}
}
