package pipeline

import (
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/par"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
)

// State is where a step stands.
type State string

// Step states. Every state but done is reported by `spine plan`.
const (
	StateDone        State = "done"
	StatePending     State = "pending"
	StateRunning     State = "running"
	StateBlocked     State = "blocked"
	StateFailed      State = "failed"
	StateInterrupted State = "interrupted"
	StateEdited      State = "edited"
	StateWaiting     State = "waiting"
)

// Item is the plan for one step.
type Item struct {
	LoopID string `json:"loop_id"`
	Stage  string `json:"stage"`
	Name   string `json:"name"`
	State  State  `json:"state"`
	Reason string `json:"reason"`

	Doc       *loops.Document `json:"-"`
	StageIdx  int             `json:"-"`
	Step      *loops.Step     `json:"-"`
	Decision  *Decision       `json:"-"`
	Latest    *Run            `json:"-"`
	Gate      string          `json:"-"`
	NeedsMark bool            `json:"-"` // a blocked step without a blocked receipt yet
	// RetryNeeded is set on a step blocked at its gate under --retry
	// that failed or was interrupted before: once approved, it still
	// runs only with --retry.
	RetryNeeded bool `json:"-"`
	// Uncommitted is set on a step that would run, or be marked blocked,
	// but whose loop document has changes HEAD does not have (see
	// Planner.Uncommitted): the run skips the loop.
	Uncommitted bool `json:"-"`
}

// Runnable reports whether the run would execute the step now.
func (it *Item) Runnable() bool { return it.State == StatePending }

// Planner decides the state of every step.
type Planner struct {
	History *History
	Gates   *Gates
	// Host is this runner's host name; steps for other hosts wait.
	Host string
	// Retry names steps released from failed or interrupted.
	Retry map[string]bool
	// Journal entries not yet turned into receipts (by loop and step).
	Unfinished map[[2]string]*Entry
	// Elsewhere names, by loop id, the branch of a run whose receipts it
	// left uncommitted in the working tree when HEAD was moved to another
	// branch (see Runner.checkBranch): the loop waits until that branch
	// is checked out again, where the next run commits them.
	Elsewhere map[string]string
	// Behind holds, by loop id, why the loop waits because the remote's
	// branch has runs of it this clone could not follow (see RemoteRuns):
	// run on what the clone has, a step another host ran since would run
	// again.
	Behind map[string]string
	// Unfollowed, when set, says why the remote's branch could not be
	// fetched: a pending destructive step that no host= binds to a host
	// waits, since another host may have run it and pushed its receipt
	// (--retry runs it here).
	Unfollowed string
	// Vanished holds the run keys of Unfinished results whose receipts
	// were written and are gone from the working tree (see
	// Runner.receiptVanished): their steps are held for an operator.
	Vanished map[string]bool
	// Unrecorded says where a step stands whose run the journal holds
	// without a result: StateRunning (detached and alive, or in another
	// spine run, which holds the lock), a state for a background step that
	// finished (its receipt the next run writes), or "" when the run that
	// started it stopped (the step is interrupted).
	Unrecorded func(loopID, step string) (State, string)
	// CapGate returns the gate a registered capability requires ("" for
	// none), for steps whose cap names one.
	CapGate func(capName string) string
	Now     func() time.Time
	// Redactor redacts commands as receipts store them (StoredCommand), so
	// that a step whose receipt holds a redacted command is not taken for
	// edited. Root is the repository root, to read a recorded command.
	Redactor *artifacts.Redactor
	Root     string
	// Receipts is the receipt store, to name the folder of a missing
	// receipt (nil: the default receipts folder).
	Receipts *artifacts.Store
	// Docs are every loop document of the repository, whose evidence
	// blocks tell which step a damaged receipt's run was (see notOthers);
	// nil: a damaged receipt holds every step of its capability.
	Docs []*loops.Document
	// recordedBy indexes Docs' evidence: run key to the loops and steps
	// whose blocks record it.
	recordedBy map[string][][2]string

	// Ledger is this host's record of the destructive steps it started
	// (see ledgerName), by loop and step.
	Ledger map[[2]string][]LedgerEntry
	// docKeys holds Docs' ids and paths (see isDocument).
	docKeys map[string]bool
	// orphans indexes by step name ("n\x00" prefix) and by command hash
	// ("c\x00") the done runs of loops no document has the id of (see
	// orphanRun), as indexes into History.All().
	orphans map[string][]int
	// foreign caches evidence by document.
	foreign map[*loops.Document][]loops.EvidenceRun
	// mu guards the indexes and caches made as they are first needed
	// (recordedBy, docKeys, orphans, foreign), and serializes the calls of Gates
	// and Uncommitted, which read git: PlanLoops plans documents on
	// several goroutines.
	mu sync.Mutex
	// Uncommitted, when set, reports why a loop document has changes
	// HEAD does not have ("" when it has none; see halfEdited). It is
	// asked only of documents with a step that would run: such a step
	// waits, as the run skips its loop rather than run uncommitted text.
	Uncommitted func(doc *loops.Document) string
}

// reasonOtherHost starts the reason of a step that runs on another host;
// a step waiting behind it says which (PlanLoop).
const reasonOtherHost = "runs on host "

// runnableStatus reports whether a loop of this status runs.
func runnableStatus(status string) bool { return status == "active" }

// PlanLoop returns the plan for every step of doc, in document order,
// done steps included.
func (p *Planner) PlanLoop(doc *loops.Document) []Item {
	n := 0
	for si := range doc.Stages {
		n += len(doc.Stages[si].Steps)
	}
	items := make([]Item, 0, n)
	hold := "" // why later steps wait: an earlier step is not done
	// loopHeld: the loop itself does not run (errors, its status), so a
	// manual step waits for that, not for its tick.
	loopHeld := true
	if doc.HasErrors() {
		for _, pr := range doc.Problems {
			if pr.Level == loops.LevelError {
				hold = fmt.Sprintf("document has errors (%s); fix them (spine lint)", pr.String())
				break
			}
		}
	} else if b := p.Elsewhere[doc.LoopID]; b != "" {
		hold = fmt.Sprintf("a run on branch %s left its receipts in the working tree, uncommitted (HEAD was moved while it worked): check out %s and run spine, which commits them there", b, b)
	} else if why := p.Behind[doc.LoopID]; why != "" {
		hold = why
	} else if !runnableStatus(doc.Status) {
		hold = fmt.Sprintf("loop status is %q; only active loops run", doc.Status)
		if doc.Status == "" {
			hold = "loop has no status; set status: active to run it"
		}
	} else {
		loopHeld = false
	}
	loopHost := doc.Meta.String("host")
	for si := range doc.Stages {
		st := &doc.Stages[si]
		for k := range st.Steps {
			step := &st.Steps[k]
			it := Item{LoopID: doc.LoopID, Stage: st.Title, Name: step.Name, Doc: doc, StageIdx: si, Step: step}
			if step.Kind == loops.KindManual {
				switch {
				case step.Checked:
					it.State, it.Reason = StateDone, "checked"
				case loopHeld:
					it.State, it.Reason = StateWaiting, hold
				default:
					it.State, it.Reason = StateWaiting, fmt.Sprintf("waiting for manual step '%s' to be checked in git", step.Name)
					if hold == "" {
						hold = it.Reason
					}
				}
				items = append(items, it)
				continue
			}
			p.stepState(&it, loopHost)
			if hold != "" && it.State != StateDone && it.State != StateEdited {
				switch {
				case it.State == StateBlocked && !loopHeld:
					// Say what the gate needs as well, so that the
					// approval can be given while the step waits.
					it.State, it.Reason, it.NeedsMark = StateWaiting, hold+"; then: "+it.Reason, false
				case it.State == StatePending || it.State == StateBlocked:
					it.State, it.Reason, it.NeedsMark = StateWaiting, hold, false
				case it.State == StateWaiting && loopHeld:
					// The loop does not run at all (errors, its
					// status): that is what the step waits for, not
					// another step or another host.
					it.Reason = hold
				case (it.State == StateFailed || it.State == StateInterrupted) && loopHeld:
					// Its --retry runs nothing until the loop runs.
					it.Reason = hold + "; then: " + it.Reason
				}
			}
			if hold == "" && it.State != StateDone && it.State != StateEdited && it.State != StatePending {
				hold = fmt.Sprintf("waiting for step %s (%s)", step.Name, it.State)
				if it.State == StateWaiting && strings.HasPrefix(it.Reason, reasonOtherHost) {
					// Which host it waits for, not only that it waits.
					hold = fmt.Sprintf("waiting for step %s, which %s", step.Name, it.Reason)
				}
			}
			items = append(items, it)
		}
	}
	p.holdUncommitted(doc, items)
	return items
}

// PlanLoops returns PlanLoop's plan of each of docs, in their order, made
// as PlanEach makes them.
func (p *Planner) PlanLoops(docs []*loops.Document) [][]Item {
	plans := make([][]Item, len(docs))
	p.PlanEach(docs, func(i int, items []Item) { plans[i] = items })
	return plans
}

// PlanEach calls fn with PlanLoop's plan of each of docs and its index.
// The documents are planned on up to GOMAXPROCS goroutines, and fn is
// called on the one that planned the document, so that a caller keeping
// less than the items (a state per step) never holds every plan at once:
// each plan reads only what the Planner was made with, and the few
// lookups that read git (gates, uncommitted changes) take turns.
func (p *Planner) PlanEach(docs []*loops.Document, fn func(i int, items []Item)) {
	// A goroutine for every 64 documents at most: a few documents are
	// planned faster than goroutines start.
	par.Do(len(docs), min(runtime.GOMAXPROCS(0), len(docs)/64+1), func(i int) { fn(i, p.PlanLoop(docs[i])) })
}

// holdUncommitted makes the steps of items that would run wait when doc
// has uncommitted changes, and marks them (and a blocked step not yet
// marked, which the run would mark) Uncommitted.
func (p *Planner) holdUncommitted(doc *loops.Document, items []Item) {
	if p.Uncommitted == nil {
		return
	}
	work := func(it *Item) bool { return it.State == StatePending || it.State == StateBlocked && it.NeedsMark }
	if !slices.ContainsFunc(items, func(it Item) bool { return work(&it) }) {
		return
	}
	p.mu.Lock()
	why := p.Uncommitted(doc)
	p.mu.Unlock()
	if why == "" {
		return
	}
	for i := range items {
		it := &items[i]
		if !work(it) {
			continue
		}
		it.Uncommitted = true
		if it.State == StatePending {
			it.State, it.Reason = StateWaiting, why
		}
	}
}

// recorded reports whether the history holds the receipt of the step's
// run key (a journaled result whose receipt is written, if not committed).
func (p *Planner) recorded(loopID, step, runKey string) bool {
	latest := p.History.Latest(loopID, step)
	return latest != nil && latest.RunKey == runKey
}

// stepState sets the state of a command or verify step from its history.
func (p *Planner) stepState(it *Item, loopHost string) {
	step := it.Step
	key := [2]string{it.LoopID, step.Name}
	// A lost receipt's run (Vanished) with --retry: the step runs again.
	if e := p.Unfinished[key]; e != nil && e.Result != nil && e.Result.Receipt != nil && !p.recorded(it.LoopID, step.Name, e.Result.Receipt.RunKey) &&
		!(p.Vanished[e.Result.Receipt.RunKey] && p.Retry[step.Name]) {
		// It ran, and its result is journaled, but the run stopped before
		// writing its receipt (a full disk): the next run writes it. Its
		// run folder may hold output.log without receipt.json, which is
		// not a damaged receipt to restore or remove.
		rc := e.Result.Receipt
		at := e.Result.At
		if t, err := time.Parse(time.RFC3339Nano, rc.StartedAt); err == nil {
			at = t
		}
		if p.Vanished[rc.RunKey] {
			it.State = StateFailed
			it.Reason = fmt.Sprintf("ran at %s (%s, exit %d, %s), and its receipt, written then, is gone from the working tree (a git stash -u or git clean while it ran?): put it back (git stash pop), and the next run commits it; if it is lost, --retry %s or spine resolve %s", stamp(at), rc.Status, rc.ExitCode, rc.RunKey, step.Name, step.Name)
			return
		}
		ran := fmt.Sprintf("ran at %s (%s, exit %d, %s); its receipt is not written yet: the next spine run writes it from the journal", stamp(at), rc.Status, rc.ExitCode, rc.RunKey)
		switch rc.Status {
		case artifacts.StatusFail:
			if !rc.AllowFailure {
				it.State, it.Reason = StateFailed, ran
				return
			}
		case artifacts.StatusInterrupted:
			it.State, it.Reason = StateInterrupted, ran
			return
		}
		it.State, it.Reason = StateWaiting, ran
		return
	}
	if e := p.Unfinished[key]; e != nil && e.Result == nil {
		it.State = StateInterrupted
		it.Reason = fmt.Sprintf("spine stopped while this step ran (started %s); the next run records it as interrupted", e.Intent.At.UTC().Format(time.RFC3339))
		if p.Unrecorded != nil {
			if st, why := p.Unrecorded(it.LoopID, step.Name); st != "" {
				it.State, it.Reason = st, why
			}
		}
		return
	}
	host := loopHost
	if step.Host != "" {
		host = step.Host
	}
	latest := p.History.Latest(it.LoopID, step.Name)
	moved := ""
	if latest == nil || !latest.Done() {
		if m := p.movedRun(it.Doc, step.Name, false); m != nil && (latest == nil || runBefore(latest, m)) {
			latest = m
			moved = fmt.Sprintf(" (run as loop %s, recorded in this document's evidence block)", m.LoopID)
		}
	}
	it.Latest = latest
	if latest != nil && latest.Done() {
		if !p.sameCommand(latest, step.Command) {
			it.State, it.Reason = StateEdited, fmt.Sprintf("edited after it ran (%s at %s%s); not re-run", latest.Status, stamp(latest.Started), moved)
			return
		}
		it.State, it.Reason = StateDone, latest.Status+" "+latest.RunKey+moved
		return
	}
	// A receipt that cannot be read may be this step's pass: running the
	// step again could repeat a destructive change. The operator restores
	// the receipt, removes its folder, or says --retry.
	if len(p.History.damaged) > 0 && !p.Retry[step.Name] {
		if bad := p.notOthers(p.History.Damaged(artifacts.SanitizeCapability(step.Capability())), it.LoopID, step.Name); len(bad) > 0 {
			why := bad[0].Err
			if i := strings.LastIndex(why, artifacts.ReceiptFile+": "); i >= 0 {
				why = why[i+len(artifacts.ReceiptFile)+2:] // the path is named below
			}
			it.State = StateFailed
			it.Reason = fmt.Sprintf("%s cannot be read (%s) and may be this step's run: restore it from git history or remove its folder; --retry %s runs the step anyway", path.Join(bad[0].Dir, artifacts.ReceiptFile), why, step.Name)
			if len(bad) > 1 {
				it.Reason += fmt.Sprintf(" (%d such receipts)", len(bad))
			}
			return
		}
	}
	// A run the loop's evidence block records, whose receipt is gone from
	// the working tree, may be this step's pass: the same as a damaged
	// receipt.
	if !p.Retry[step.Name] {
		if why := p.lostReason(it.Doc, step.Name); why != "" {
			it.State = StateFailed
			it.Reason = why
			return
		}
	}
	if latest == nil && step.Destructive && !p.Retry[step.Name] {
		if old := p.renamedFrom(it.Doc, step); old != nil {
			it.State = StateFailed
			it.Reason = fmt.Sprintf("destructive, and its command is that of step %s, which passed at %s (%s) and is no longer in the document: renamed after it ran? --retry %s runs it", old.Step, stamp(old.Started), old.RunKey, step.Name)
			return
		}
		if old := p.orphanRun(step); old != nil {
			it.State = StateFailed
			it.Reason = fmt.Sprintf("destructive, and its command passed at %s as step %s of loop %s (%s), which no document has now (the loop's id changed, or it was removed): if this is new work, --retry %s runs it", stamp(old.Started), old.Step, old.LoopID, old.RunKey, step.Name)
			return
		}
	}
	// A destructive run whose receipt and evidence bullet are both gone
	// (spine's commit reverted or reset away) is still known to the host
	// that ran it.
	if step.Destructive && !p.Retry[step.Name] {
		if e := p.ranHere(it.LoopID, it.Doc.Path, step.Name, step.Command, latest); e != nil {
			it.State = StateFailed
			dir := p.receiptDir(e.RunKey)
			as := ""
			if e.LoopID != it.LoopID {
				as = " (as loop " + e.LoopID + ")"
			}
			it.Reason = fmt.Sprintf("destructive, and this host ran it%s as %s at %s, but its receipt folder %s is not in the working tree (spine's commit reverted or reset away, or the folder deleted?): restore it from git history (git log --all -- %s); --retry %s runs the step again", as, e.RunKey, stamp(e.At), dir, dir, step.Name)
			return
		}
	}
	if host != "" && !strings.EqualFold(host, p.Host) {
		it.State, it.Reason = StateWaiting, fmt.Sprintf(reasonOtherHost+"%s (this is %s)", host, p.Host)
		return
	}
	// The hold of a failed or interrupted run stays under the blocked
	// marks of later runs (a --retry refused at the gate writes one): an
	// approval alone must not run it again.
	held := latest
	if latest != nil && latest.Status == artifacts.StatusBlocked {
		if ran := p.LatestRan(it.Doc, step.Name); ran != nil {
			held = ran
		}
	}
	if held != nil {
		changed := !p.sameCommand(held, step.Command)
		switch held.Status {
		case artifacts.StatusFail:
			if !changed && !p.Retry[step.Name] {
				it.State = StateFailed
				it.Reason = fmt.Sprintf("failed at %s, exit %d%s; change its command, or --retry %s (a changed attribute, such as timeout, is no new command)", stamp(held.Started), held.ExitCode, noteClause(held.Note), step.Name)
				if strings.HasPrefix(held.Note, artifacts.ResolvedNote) {
					// No process ran: an operator's verdict (spine resolve).
					it.Reason = fmt.Sprintf("%s (at %s); change its command, or --retry %s", held.Note, stamp(held.Started), step.Name)
				}
				// A retry passes the gate first: say so when it would not.
				if gate := p.gateOf(step); gate != "" {
					p.mu.Lock()
					d := p.Gates.Check(it.Doc, step, gate)
					p.mu.Unlock()
					if !d.Approved {
						it.Reason += "; a retry would be blocked: " + d.Reason
					}
				}
				return
			}
		case artifacts.StatusInterrupted:
			if !changed && !step.Idempotent && !p.Retry[step.Name] {
				it.State = StateInterrupted
				it.Reason = fmt.Sprintf("interrupted at %s and not idempotent; --retry %s or spine resolve %s", stamp(held.Started), step.Name, step.Name)
				return
			}
		}
	}
	// Not fetched at all: another host may have run it (see Unfollowed).
	if host == "" && step.Destructive && p.Unfollowed != "" && !p.Retry[step.Name] {
		it.State, it.Reason = StateWaiting, fmt.Sprintf("%s: destructive and bound to no host (host=), it may have run on another host since; it waits until the remote can be followed (--retry %s runs it here)", p.Unfollowed, step.Name)
		return
	}
	if step.After != "" {
		if ok, why := p.afterDone(it.Doc, step.After); !ok {
			it.State, it.Reason = StateWaiting, why
			return
		}
	}
	gate := p.gateOf(step)
	it.Gate = gate
	if gate != "" {
		p.mu.Lock()
		d := p.Gates.Check(it.Doc, step, gate)
		p.mu.Unlock()
		it.Decision = &d
		if !d.Approved {
			it.State, it.Reason = StateBlocked, d.Reason
			if step.Gate == "" {
				it.Reason += fmt.Sprintf("; capability %s requires it", step.Cap)
			}
			if p.Retry[step.Name] && held != nil && (held.Status == artifacts.StatusFail || held.Status == artifacts.StatusInterrupted) && p.sameCommand(held, step.Command) {
				// A --retry refused at the gate: the approval alone will
				// not run the step, held as it is.
				it.RetryNeeded = true
				it.Reason += fmt.Sprintf("; it %s at %s: once approved, --retry %s runs it", map[bool]string{true: "failed", false: "was interrupted"}[held.Status == artifacts.StatusFail], stamp(held.Started), step.Name)
			}
			it.NeedsMark = latest == nil || latest.Status != artifacts.StatusBlocked
			return
		}
	}
	it.State, it.Reason = StatePending, "ready to run"
	if latest != nil {
		switch latest.Status {
		case artifacts.StatusFail:
			it.Reason = "re-run: " + map[bool]string{true: "--retry", false: "edited since it failed"}[p.Retry[step.Name]]
		case artifacts.StatusInterrupted:
			it.Reason = "re-run after interruption"
		case artifacts.StatusBlocked:
			it.Reason = "gate " + gate + " now approved"
		}
	}
}

// notOthers returns the runs of bad that may be loopID's step: those no
// evidence block records, and those one records as that step. A damaged
// receipt tells its capability only; where an evidence block says whose
// run it was, the steps of other loops with that capability need not wait
// for it.
func (p *Planner) notOthers(bad []Run, loopID, step string) []Run {
	if len(bad) == 0 || p.Docs == nil {
		return bad
	}
	out := bad[:0:0]
	for _, r := range bad {
		owners := p.recorders(r.RunKey)
		if len(owners) == 0 || slices.Contains(owners, [2]string{loopID, step}) {
			out = append(out, r)
		}
	}
	return out
}

// recorders returns the loops and steps whose evidence blocks (of Docs)
// record the run key.
func (p *Planner) recorders(key string) [][2]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.recordedBy == nil {
		p.recordedBy = map[string][][2]string{}
		for _, d := range p.Docs {
			for _, e := range d.Evidence {
				p.recordedBy[e.RunKey] = append(p.recordedBy[e.RunKey], [2]string{d.LoopID, e.Step})
			}
		}
	}
	return p.recordedBy[key]
}

// ownedByItsLoop reports whether the run is its own loop's: a document
// with the run's loop id records it in its evidence block (the loop that
// made it is still there, under that id). A bullet elsewhere naming it is
// a copy's or a hand edit's, not a trace of a renamed loop.
func (p *Planner) ownedByItsLoop(run *Run) bool {
	return slices.ContainsFunc(p.recorders(run.RunKey), func(o [2]string) bool { return o[0] == run.LoopID })
}

// receiptDir names the receipt folder of run key (the key itself when it
// names none).
func (p *Planner) receiptDir(key string) string {
	st := p.Receipts
	if st == nil {
		st = &artifacts.Store{}
	}
	if d, err := st.RelDir(key); err == nil {
		return d
	}
	return key
}

// lostReason returns why step waits for a lost run (see LostRuns), or ""
// when none holds it. A lost pass, failure or interruption holds the step
// as its receipt would; a lost blocked or skipped run changes nothing, as
// the gate or the condition is checked again.
func (p *Planner) lostReason(doc *loops.Document, step string) string {
	lost := p.LostRuns(doc)
	var hold []loops.EvidenceRun
	for _, e := range lost {
		if governanceKey(e.RunKey) && loops.RunStepKey(e.Stage, e.Step) != e.Step {
			// A loop close or a gap edit (its capability and its
			// stage, which no step of a document has: a step may name
			// the capability), not a run of a step.
			continue
		}
		switch e.Status {
		case artifacts.StatusPass, artifacts.StatusFail, artifacts.StatusInterrupted:
			if e.Step == step {
				hold = append(hold, e)
			}
		}
	}
	if len(hold) == 0 {
		return ""
	}
	e := hold[len(hold)-1]
	dir := p.receiptDir(e.RunKey)
	why := fmt.Sprintf("%s:%d records run %s (%s) of this step, but its receipt folder %s is missing: restore it from git (git checkout HEAD -- %s); --retry %s runs the step anyway", doc.Path, e.Line, e.RunKey, e.Status, dir, dir, step)
	if link := linkOnPath(p.Root, dir); link != "" {
		why = fmt.Sprintf("%s:%d records run %s (%s) of this step, but its receipt folder %s is behind a symbolic link, %s, which spine does not follow: put the folder there instead of the link; --retry %s runs the step anyway", doc.Path, e.Line, e.RunKey, e.Status, dir, link, step)
	}
	if len(hold) > 1 {
		why += fmt.Sprintf(" (%d such runs)", len(hold))
	}
	return why
}

// LostRuns returns the runs doc's evidence block records that have no
// receipt in the history: runs spine made and committed whose receipt
// folder is gone from the working tree (deleted by hand, by a clean, by a
// checkout of another branch).
func (p *Planner) LostRuns(doc *loops.Document) []loops.EvidenceRun {
	var lost []loops.EvidenceRun
	for _, e := range p.evidence(doc) {
		if p.History.ByKey(e.RunKey) == nil {
			lost = append(lost, e)
		}
	}
	return lost
}

// evidence returns the runs doc's evidence block records, or nil when all
// of them are runs of this loop in the history, which then already says
// all the block could: the usual case, which leaves the index of every
// run key (ByKey) unbuilt.
func (p *Planner) evidence(doc *loops.Document) []loops.EvidenceRun {
	if len(doc.Evidence) == 0 {
		return nil
	}
	p.mu.Lock()
	ev, ok := p.foreign[doc]
	p.mu.Unlock()
	if ok {
		return ev
	}
	own := p.History.Loop(doc.LoopID)
	ownKeys := make(map[string]bool, len(own))
	for i := range own {
		ownKeys[own[i].RunKey] = true
	}
	if slices.ContainsFunc(doc.Evidence, func(e loops.EvidenceRun) bool { return !ownKeys[e.RunKey] }) {
		ev = doc.Evidence
	}
	p.mu.Lock()
	if p.foreign == nil {
		p.foreign = map[*loops.Document][]loops.EvidenceRun{}
	}
	p.foreign[doc] = ev
	p.mu.Unlock()
	return ev
}

// gateOf returns the gate step needs: its own, else its capability's
// (CapGate), else "".
func (p *Planner) gateOf(step *loops.Step) string {
	if step.Gate == "" && p.CapGate != nil && step.Cap != "" {
		return p.CapGate(step.Cap)
	}
	return step.Gate
}

// renamedFrom returns the latest pass of this loop whose step is no longer
// in doc and whose command is step's, or nil. A step's name is its
// identity, so a renamed step is a new step; for a destructive one that is
// more likely an edit of the name than a wish to run it again, and it is
// held for the operator. The loop's runs are those under its id and those
// its evidence block records under an id it had before (see movedRun).
func (p *Planner) renamedFrom(doc *loops.Document, step *loops.Step) *Run {
	var latest *Run
	consider := func(run *Run) {
		if !run.Done() || run.governance() || run.Step == step.Name || latest != nil && !runBefore(latest, run) {
			return
		}
		if _, s := doc.Step(run.Step); s != nil {
			return
		}
		if p.sameCommand(run, step.Command) {
			latest = run
		}
	}
	runs := p.History.Loop(doc.LoopID)
	for i := len(runs) - 1; i >= 0 && latest == nil; i-- {
		consider(&runs[i])
	}
	for _, e := range p.evidence(doc) {
		if run := p.History.ByKey(e.RunKey); run != nil && run.Err == "" && run.LoopID != doc.LoopID {
			consider(run)
		}
	}
	return latest
}

// orphanRun returns the latest pass (or allowed failure) of a step of
// step's name or command in a loop whose id no document has now, or nil.
// A loop document given a new id (its evidence block dropped, as when a
// document is reused for the next wave) has no runs: its steps are new.
// Its approvals may still be the old loop's (an approval follows a loop
// renamed in a commit), so without this a destructive step that passed
// would run again, approved by the approval it already ran under; also
// when the step was renamed in the same edit (its command finds it).
func (p *Planner) orphanRun(step *loops.Step) *Run {
	ids := p.documentKeys()
	p.mu.Lock()
	if p.orphans == nil {
		p.orphans = map[string][]int{}
		runs := p.History.All()
		for i := range runs {
			r := &runs[i]
			if r.Err == "" && r.Done() && !r.governance() && !ids[r.LoopID] {
				p.orphans["n\x00"+r.Step] = append(p.orphans["n\x00"+r.Step], i)
				if r.CommandSHA != "" {
					p.orphans["c\x00"+r.CommandSHA] = append(p.orphans["c\x00"+r.CommandSHA], i)
				}
			}
		}
	}
	idx := slices.Clone(p.orphans["n\x00"+step.Name])
	idx = append(idx, p.orphans["c\x00"+artifacts.CommandSHA256(step.Command)]...)
	if stored, n := StoredCommand(step.Command, p.Redactor); n > 0 {
		idx = append(idx, p.orphans["c\x00"+artifacts.CommandSHA256(stored)]...)
	}
	p.mu.Unlock()
	slices.Sort(idx) // history order
	runs := p.History.All()
	for k := len(idx) - 1; k >= 0; k-- {
		if r := &runs[idx[k]]; p.sameCommand(r, step.Command) {
			return r
		}
	}
	return nil
}

// LatestRan returns the latest run of doc's step that was not a blocked
// gate's mark (History.LatestRan): the loop's under its id, or one its
// evidence block records under an id it had before (movedRun); nil when
// there is none. It is the run a blocked mark written on top of it (a
// --retry refused at the gate) must not hide: its hold, and what an
// operator's verdict resolves.
func (p *Planner) LatestRan(doc *loops.Document, step string) *Run {
	ran := p.History.LatestRan(doc.LoopID, step)
	if m := p.movedRun(doc, step, true); m != nil && (ran == nil || runBefore(ran, m)) {
		ran = m
	}
	return ran
}

// movedRun returns the latest run of step that doc's evidence block
// records under another loop id, or nil. A loop whose id changed (a typo
// fixed in loop_id, a title or file renamed when the id comes from them)
// keeps its runs: they name the old id, and without this its passed
// steps would be pending again. A run that a document with its loop id
// records in its own evidence block is that loop's, not this one's: a
// bullet naming it (a copy of the loop, or an edit of the block by hand)
// must not make a step, gated or not, count as run. A new document that
// merely takes the old id (it records none of the runs) changes nothing.
// With ranOnly, blocked marks are passed over (see LatestRan).
func (p *Planner) movedRun(doc *loops.Document, step string, ranOnly bool) *Run {
	var latest *Run
	for _, e := range p.evidence(doc) {
		if e.Step != step {
			continue
		}
		run := p.History.ByKey(e.RunKey)
		if run == nil || run.Err != "" || run.governance() || run.LoopID == doc.LoopID || run.Step != step || p.ownedByItsLoop(run) ||
			ranOnly && run.Status == artifacts.StatusBlocked {
			continue
		}
		if latest == nil || runBefore(latest, run) {
			latest = run
		}
	}
	return latest
}

// afterDone checks an `after` dependency: "step" in the same loop, or
// "LOOP-ID/step" (also "LOOP-ID:step") in another.
func (p *Planner) afterDone(doc *loops.Document, after string) (bool, string) {
	loopID, step := loops.AfterRef(after)
	if loopID == "" {
		loopID = doc.LoopID
	}
	r := p.History.Latest(loopID, step)
	if r != nil && r.Done() {
		return true, ""
	}
	return false, fmt.Sprintf("waiting for %s/%s to pass (after=%s)", loopID, step, after)
}

// noteClause returns a failed run's note (killed by a signal, timed out,
// not run and why) as " (note)" for its reason, its first line cut to
// fit one; empty when the run has none.
func noteClause(note string) string {
	note, _, _ = strings.Cut(note, "\n")
	if note = strings.TrimSpace(note); note == "" {
		return ""
	}
	return " (" + termtext.Clip(note, 160) + ")"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format("2006-01-02T15:04Z")
}
