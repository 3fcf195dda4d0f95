package pipeline

// Fault points: the places where a run's durable state changes. A test
// (or an operator rehearsing recovery) sets SPINE_FAULT=<point> and spine
// kills itself there; the next run must lose nothing and run nothing twice.
const (
	// FaultBeforeIntent: the step's running log (and the script file of
	// long code) is made, nothing is journaled: the step never started.
	FaultBeforeIntent = "before-intent"
	// FaultAfterIntent: the intent is journaled, the process not started.
	FaultAfterIntent = "after-intent"
	// FaultAfterExit: the step's process ended, nothing recorded yet.
	FaultAfterExit = "after-exit"
	// FaultAfterResult: the result is journaled, no receipt written.
	FaultAfterResult = "after-result"
	// FaultAfterReceipt: the receipt is written, not committed. A step
	// followed by another in its stage passes it once the next step's
	// process has ended (its receipt is written meanwhile, see
	// pendingReceipt), before that step's result is recorded.
	FaultAfterReceipt = "after-receipt"
	// FaultIndexLockRecorded: a stage's commit has recorded the index
	// lock it is about to take, which is not in place yet (made under a
	// temporary name: gitx.placeLock).
	FaultIndexLockRecorded = "index-lock-recorded"
	// FaultIndexLocked: a stage's commit holds .git/index.lock (recorded
	// in the journal) and has written nothing else.
	FaultIndexLocked = "index-locked"
	// FaultRefLockRecorded: a stage's commit has written its objects and
	// the new index, holds HEAD's lock, and has recorded the branch's
	// lock, which is not in place yet.
	FaultRefLockRecorded = "ref-lock-recorded"
	// FaultRefLocked: a stage's commit has written its objects and the new
	// index (to index.lock), and holds HEAD's lock and the branch's
	// (recorded in the journal); the branch has not moved.
	FaultRefLocked = "ref-locked"
	// FaultReceiptPending: a step's result is journaled, its receipt not
	// written yet, and the next step's process (its intent journaled) has
	// just started: the receipt is written while it runs.
	FaultReceiptPending = "receipt-pending"
	// FaultAfterCommit: the stage is committed, the journal not yet told.
	FaultAfterCommit = "after-commit"
	// FaultMidPush: a push found the remote moved on and moved the local
	// branch to the remote's head; spine's own commits are not (@1), or
	// only partly (@2...: after each replayed commit), replayed on it yet
	// (the originals are kept at refs/spine/replay-backup).
	FaultMidPush = "mid-push"
)

// FaultPoints lists every fault point, in the order a step passes them
// (FaultMidPush last: it is passed by `spine run --push` after the run).
var FaultPoints = []string{FaultBeforeIntent, FaultAfterIntent, FaultAfterExit, FaultAfterResult, FaultReceiptPending, FaultAfterReceipt, FaultIndexLockRecorded, FaultIndexLocked, FaultRefLockRecorded, FaultRefLocked, FaultAfterCommit, FaultMidPush}

// fault calls the configured fault hook at a point.
func (r *Runner) fault(point string) {
	if r.opts.Fault != nil {
		r.opts.Fault(point)
	}
}
