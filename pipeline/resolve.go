package pipeline

import (
	"context"
	"fmt"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/loops"
)

// Resolve records an operator's verdict on a held step (interrupted,
// failed or blocked) without running it: a receipt with status pass or
// fail and the operator's note, committed like a stage. A pass lets the
// loop continue; a fail keeps it held until --retry or an edit. A step
// that is not held is refused, and so is a pass of a gated step whose
// gate is not approved, or a fail of one allowed to fail (the receipt
// records the approval).
func (r *Runner) Resolve(ctx context.Context, loopID, stepName, status, note string) (*artifacts.Receipt, error) {
	if status != artifacts.StatusPass && status != artifacts.StatusFail {
		return nil, fmt.Errorf("resolve: --as must be pass or fail, not %q", status)
	}
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
		return nil, fmt.Errorf("recovering the previous run: %w", err)
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	doc, stageIdx, step, err := r.findStep(loopID, stepName)
	if err != nil {
		return nil, err
	}
	if half, leftover, err := halfEdited(r.opts.Git, doc.Path, doc.Source); err != nil {
		return nil, err
	} else if half {
		return nil, fmt.Errorf("%s has uncommitted changes; commit them first", doc.Path)
	} else if leftover {
		r.report().Notice(leftoverNotice(doc.Path))
	}
	// Only a held step takes a verdict, and a pass of a gated one needs
	// its gate approved, as a run does: resolve is not a way round a gate.
	var planned *Item
	items := r.planner.PlanLoop(doc)
	for i := range items {
		if items[i].Step == step {
			planned = &items[i]
		}
	}
	if planned == nil {
		return nil, fmt.Errorf("%s/%s: not planned", doc.LoopID, step.Name)
	}
	switch planned.State {
	case StateFailed, StateInterrupted, StateBlocked:
	default:
		return nil, fmt.Errorf("%s/%s is %s (%s), not held: spine resolve takes a verdict on a failed, interrupted or blocked step", doc.LoopID, step.Name, planned.State, planned.Reason)
	}
	var approval *artifacts.Approval
	gate := r.planner.gateOf(step)
	// A fail of a step allowed to fail lets its loop go on as a pass
	// does: it needs the gate too.
	if gate != "" && (status == artifacts.StatusPass || step.AllowFailure) {
		d := r.planner.Gates.Check(doc, step, gate)
		if !d.Approved {
			why := ""
			if status != artifacts.StatusPass {
				why = " (allow_failure: a failure lets the loop go on, as a pass does)"
			}
			return nil, fmt.Errorf("%s/%s: --as %s needs its gate approved, as a run does%s: %s", doc.LoopID, step.Name, status, why, d.Reason)
		}
		approval = d.Approval
	}
	it := &Item{LoopID: doc.LoopID, Stage: doc.Stages[stageIdx].Title, Name: step.Name, Doc: doc, StageIdx: stageIdx, Step: step, Gate: gate}
	now := r.opts.Clock()
	key, err := r.newRunKey(step.Capability(), now)
	if err != nil {
		return nil, err
	}
	lr := &loopRun{doc: doc, src: doc.Source, counts: map[string]int{}}
	rc := r.newReceipt(lr, it, key, now)
	rc.FinishedAt = rc.StartedAt
	rc.Approval = approval
	rc.Status = status
	rc.ExitCode = map[string]int{artifacts.StatusPass: 0, artifacts.StatusFail: 1}[status]
	// The run it resolves: a blocked mark (a --retry refused at the gate)
	// is not it.
	latest := r.planner.LatestRan(doc, step.Name)
	if latest == nil {
		latest = r.history.Latest(doc.LoopID, step.Name)
	}
	if latest == nil {
		latest = r.planner.movedRun(doc, step.Name, false)
	}
	if latest != nil {
		note = fmt.Sprintf("%s (was %s: %s)", note, latest.Status, latest.RunKey)
	}
	// The note is the operator's text, stored like a step's output: in
	// the receipt, the evidence block, the commit and the site.
	note, n := r.redactor().RedactString(note)
	rc.Redactions += n
	rc.Note = fmt.Sprintf("%s%s as %s: %s", artifacts.ResolvedNote, r.opts.User, status, note)
	// Journaled as a step's result is: a resolve stopped before its
	// commit (killed, or the index locked by another git) leaves a receipt
	// that the next command's recovery commits with the loop's evidence,
	// instead of an evidence bullet committed without its receipt.
	if err := r.journal.Append(JournalRecord{Kind: recResult, RunKey: key, LoopID: doc.LoopID, Step: step.Name, At: now, Receipt: rc}); err != nil {
		return nil, err
	}
	if err := r.writeReceipt(lr, rc, nil); err != nil {
		return nil, &NotCommittedError{RunKey: key, Err: err}
	}
	if err := r.finishStage(lr, stageIdx); err != nil {
		return nil, &NotCommittedError{RunKey: key, Err: err}
	}
	r.housekeep(ctx)
	return rc, nil
}

// NotCommittedError is a verdict spine resolve recorded (journaled, its
// receipt written or to be written) but could not commit: the next spine
// command commits it. It is a failure to store, not a refusal.
type NotCommittedError struct {
	RunKey string
	Err    error
}

func (e *NotCommittedError) Error() string {
	return fmt.Sprintf("%v; the verdict %s is recorded, and the next spine command commits it", e.Err, e.RunKey)
}

func (e *NotCommittedError) Unwrap() error { return e.Err }

// findStep locates a command step by name, in loopID or (when empty) in
// the one loop that has it.
func (r *Runner) findStep(loopID, name string) (*loops.Document, int, *loops.Step, error) {
	var found []*loops.Document
	for _, d := range r.opts.Set.Docs {
		if loopID != "" && d.LoopID != loopID {
			continue
		}
		if _, s := d.Step(name); s != nil {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		if loopID != "" {
			return nil, 0, nil, fmt.Errorf("loop %s has no step %q", loopID, name)
		}
		return nil, 0, nil, fmt.Errorf("no loop has a step %q", name)
	case 1:
	default:
		return nil, 0, nil, fmt.Errorf("step %q is in %d loops (%s, %s, ...): name one with --loop", name, len(found), found[0].LoopID, found[1].LoopID)
	}
	d := found[0]
	for si := range d.Stages {
		for k := range d.Stages[si].Steps {
			s := &d.Stages[si].Steps[k]
			if s.Kind != loops.KindManual && s.Name == name {
				return d, si, s, nil
			}
		}
	}
	return nil, 0, nil, fmt.Errorf("step %q not found", name)
}
