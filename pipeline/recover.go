package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
)

// recover finishes what a run that crashed left in the journal, before
// anything new runs:
//   - an intent without a result: the step's process is gone (or its group
//     is killed now, unless it is a live background step); an interrupted
//     receipt is written with whatever output was captured;
//   - a result without a receipt: the receipt is written from the journal;
//   - a receipt not yet committed: it is committed.
//
// Recovered receipts are committed per loop, with the loop's evidence block
// regenerated.
func (r *Runner) recover(ctx context.Context) error {
	if r.opts.Git != nil {
		if err := r.clearStaleIndexLock(); err != nil {
			return err
		}
		// From here on, every commit of this command records its lock.
		r.opts.Git.OnIndexLock = r.recordIndexLock
		r.opts.Git.OnLockPlaced = lockPlacedFault(r.opts.Fault)
	}
	order, entries, err := r.journal.Read()
	if err != nil {
		return err
	}
	r.sweepRuns(entries)
	elsewhere := map[string]bool{}
	byLoop := map[string]*loopRun{}
	var loopsOrder []string
	for _, key := range order {
		e := entries[key]
		if e.Done {
			continue
		}
		var rc *artifacts.Receipt
		switch {
		case e.Result != nil && e.Result.Receipt != nil:
			rc = e.Result.Receipt
			if r.otherBranch(e) {
				// Its run started on another branch (HEAD was moved while
				// it worked): that branch's to commit, not this one's.
				if !elsewhere[rc.LoopID] {
					elsewhere[rc.LoopID] = true
					r.report().Warn(fmt.Sprintf("%s: a run on branch %s left receipts in the working tree, uncommitted: check out %s and run spine, which commits them there; this run leaves the loop alone", rc.LoopID, e.Branch, e.Branch))
				}
				continue
			}
			if e.Written && r.receiptVanished(key) {
				if err := r.vanishedReceipt(key, rc); err != nil {
					return err
				}
				continue
			}
		case e.Intent != nil && e.Intent.Intent != nil:
			if backgroundAlive(e.Intent) {
				continue // still running: collected when it ends
			}
			if e.Intent.Background {
				if bg, ok := r.collectBackground(e); ok {
					rc = bg
					break
				}
			}
			note := "spine stopped while this step ran (crash, kill or reboot); its process was gone"
			if processAlive(e.Intent.PGID) {
				killGroup(e.Intent.PGID)
				note = fmt.Sprintf("spine stopped while this step ran; its process group %d was still running and has been killed", e.Intent.PGID)
			}
			c := *e.Intent.Intent
			c.Status = artifacts.StatusInterrupted
			c.ExitCode = -1
			c.FinishedAt = r.opts.Clock().UTC().Format(time.RFC3339Nano)
			if t, err := time.Parse(time.RFC3339Nano, c.StartedAt); err == nil {
				c.DurationMS = r.opts.Clock().Sub(t).Milliseconds()
			}
			c.Note = note
			if a := r.strayArtifact(c.LoopID, c.Step); a != nil {
				c.Artifacts = append(append([]artifacts.ArtifactRef{}, c.Artifacts...), *a)
				c.Note += "; the artifact it wrote is kept: " + a.Path
			}
			rc = &c
			if err := r.journal.Append(JournalRecord{Kind: recResult, RunKey: key, LoopID: c.LoopID, Step: c.Step, At: r.opts.Clock(), Receipt: rc}); err != nil {
				return err
			}
		default:
			continue
		}
		if relDir, err := r.store.RelDir(key); err == nil {
			r.removeTemps(rc.LoopID, rc.Step, relDir)
		}
		lr := byLoop[rc.LoopID]
		if lr == nil {
			lr = &loopRun{counts: map[string]int{}}
			byLoop[rc.LoopID] = lr
			loopsOrder = append(loopsOrder, rc.LoopID)
		}
		if err := r.recoverReceipt(lr, rc); err != nil {
			return err
		}
	}
	sort.Strings(loopsOrder)
	for _, id := range loopsOrder {
		lr := byLoop[id]
		// The stage's end rewrites the loop document: a kill then left
		// its temporary file.
		r.removeDocTemps(id)
		if len(lr.pending) == 0 {
			continue
		}
		if err := r.commitRecovered(id, lr); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// vanishedReceipt answers a run whose receipt was written and is gone
// from the working tree (Runner.receiptVanished): it is not written again
// (the journal has neither its output nor its place in the chain). Once a
// later run of the step stands for it (--retry, spine resolve) the
// journal forgets it; until then the step is held, and this says why.
func (r *Runner) vanishedReceipt(key string, rc *artifacts.Receipt) error {
	started, _ := time.Parse(time.RFC3339Nano, rc.StartedAt)
	if latest := r.history.Latest(rc.LoopID, loops.RunStepKey(rc.Stage, rc.Step)); latest != nil && latest.RunKey != key && latest.Started.After(started) {
		r.report().Notice(fmt.Sprintf("the receipt of %s/%s's run %s was lost; its later run %s stands for it", rc.LoopID, rc.Step, key, latest.RunKey))
		return r.journal.AppendNoSyncAll([]JournalRecord{{Kind: recDone, RunKey: key, At: r.opts.Clock()}})
	}
	r.report().Warn(fmt.Sprintf("the receipt of %s/%s's run %s is gone from the working tree (a git stash -u or git clean?): put it back (git stash pop), and the next run commits it; if it is lost, --retry %s or spine resolve %s", rc.LoopID, rc.Step, key, rc.Step, rc.Step))
	return nil
}

// recoverReceipt makes sure the receipt exists in the working tree and is
// queued for commit.
func (r *Runner) recoverReceipt(lr *loopRun, rc *artifacts.Receipt) error {
	p, err := r.store.ReceiptPath(rc.RunKey)
	if err != nil {
		return err
	}
	relDir, err := r.store.RelDir(rc.RunKey)
	if err != nil {
		return err
	}
	if existing, err := artifacts.ReadReceipt(p); err == nil && existing.RunKey != rc.RunKey || err != nil && !errors.Is(err, os.ErrNotExist) {
		// A receipt torn by a power failure (its write was not yet
		// flushed): the journal holds the truth, write it again.
		r.report().Notice(fmt.Sprintf("rewriting unreadable receipt %s from the journal", rc.RunKey))
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("recover receipt %s: %w", rc.RunKey, err)
		}
	}
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		logPath := r.logPath(rc.RunKey)
		sum, size, logErr := artifacts.HashFile(logPath)
		if logErr != nil && !errors.Is(logErr, os.ErrNotExist) {
			return fmt.Errorf("recover receipt %s: %w", rc.RunKey, logErr)
		}
		rc.Prev = r.history.ChainTip(rc.LoopID)
		if logErr == nil {
			// Linked, not copied, where it can be (as a run writes it):
			// a log that filled the disk needs no room again.
			if _, err := r.store.WriteLinked(rc, logPath, size, sum); err != nil {
				return fmt.Errorf("recover receipt %s: %w", rc.RunKey, err)
			}
		} else {
			rc.OutputSHA256 = ""
			if _, err := r.store.WriteReceipt(rc); err != nil {
				return fmt.Errorf("recover receipt %s: %w", rc.RunKey, err)
			}
		}
		run := readRun(r.opts.Root, relDir)
		r.history.Add(run)
		r.out.Receipts = append(r.out.Receipts, rc)
		r.report().Notice(fmt.Sprintf("recorded %s/%s from an earlier run: %s (%s)", rc.LoopID, rc.Step, rc.Status, rc.RunKey))
	} else if l := r.history.Latest(rc.LoopID, loops.RunStepKey(rc.Stage, rc.Step)); l == nil || l.RunKey != rc.RunKey {
		// Present on disk but not in the history read before (written
		// after the listing): add it.
		run := readRun(r.opts.Root, relDir)
		if run.Err == "" {
			r.history.Add(run)
		}
	}
	_ = os.Remove(r.logPath(rc.RunKey))
	_ = os.Remove(r.scriptPath(rc.RunKey))
	lr.pending = append(lr.pending, relDir+"/receipt.json", relDir+"/output.log")
	if sig, err := r.signReceipt(relDir); err != nil {
		return err
	} else if sig != "" {
		lr.pending = append(lr.pending, sig)
	}
	for _, a := range rc.Artifacts {
		lr.pending = append(lr.pending, a.Path)
	}
	lr.counts[rc.Status]++
	return nil
}

// commitRecovered commits a loop's recovered receipts with its evidence
// regenerated (when the document is committed and holds no change but
// spine's own, see halfEdited).
func (r *Runner) commitRecovered(loopID string, lr *loopRun) error {
	doc := r.opts.Set.ByID(loopID)
	now := r.opts.Clock().UTC()
	if doc != nil && r.opts.Git != nil {
		if half, leftover, err := halfEdited(r.opts.Git, doc.Path, doc.Source); err == nil && !half {
			if leftover {
				r.report().Notice(leftoverNotice(doc.Path))
			}
			if src, err := r.regenerate(doc, doc.Source, now); err == nil {
				full, err := artifacts.SafeJoin(r.opts.Root, doc.Path)
				if err == nil && artifacts.WriteFileAtomic(full, src, fsx.FileMode) == nil {
					lr.pending = append(lr.pending, doc.Path)
					// Later stages of this run start from the new bytes.
					r.reparsed(doc, src)
				}
			}
		}
	}
	if r.opts.Git == nil {
		return nil
	}
	msg := fmt.Sprintf("spine(%s): record %d receipt(s) left by an earlier run\n\nSpine-Run: %s\nSpine-Host: %s\n", loopID, len(runKeysOf(lr.pending)), r.runID, r.opts.Host)
	// The receipts recovered above were written with Store.DeferSync: as in
	// finishStage, they are durable before the commit refers to them, and
	// the commit is durable before a done record lets the journal forget
	// them (else a power failure could leave a done run without its
	// receipt, and the step would run again).
	if err := r.syncFS(); err != nil {
		return err
	}
	h, made, err := r.opts.Git.CommitFiles(lr.pending, msg, r.opts.Git.Signature(r.opts.Host, now))
	if err != nil {
		return fmt.Errorf("commit recovered receipts of %s: %w", loopID, err)
	}
	if made {
		r.out.Commits = append(r.out.Commits, h.String())
		r.head = h
	}
	if err := r.syncFS(); err != nil {
		return err
	}
	for _, k := range runKeysOf(lr.pending) {
		if err := r.journal.Append(JournalRecord{Kind: recDone, RunKey: k, At: now}); err != nil {
			return err
		}
	}
	return nil
}

// reparsed replaces a document of the set with its rewritten bytes.
func (r *Runner) reparsed(doc *loops.Document, src []byte) {
	*doc = *loops.Parse(doc.Path, src)
}

// recordIndexLock journals a lock file a commit is about to put in place
// (its index.lock, then HEAD's and the lock of the branch it moves: made
// under a temporary name, it is renamed to its path only once this record
// is written, see gitx.placeLock), with this process's pid and start
// time (see clearStaleIndexLock). It does not sync: a lock that outlives a
// reboot was left by a process the reboot killed, and without the record
// the next run names the lock and stops, as git does.
func (r *Runner) recordIndexLock(lk gitx.IndexLock) error {
	if err := r.journal.AppendNoSync(lockRecord(lk, r.opts.Clock())); err != nil {
		return err
	}
	switch {
	case lk.Ref == "":
		r.fault(FaultIndexLockRecorded)
	case !lk.LogOnly:
		r.fault(FaultRefLockRecorded)
	}
	return nil
}

// lockPlacedFault returns the gitx.Repo.OnLockPlaced that passes the
// fault points of a git change holding its locks to fault (nil: none).
func lockPlacedFault(fault func(string)) func(ref string, logOnly bool) error {
	return func(ref string, logOnly bool) error {
		if fault == nil {
			return nil
		}
		switch {
		case ref == "":
			fault(FaultIndexLocked)
		case !logOnly:
			// HEAD's lock for its log comes before the branch's.
			fault(FaultRefLocked)
		}
		return nil
	}
}

// attachLockJournal records in j, until detach, the lock files g's git
// changes take (as Runner.recordIndexLock does for a run), once those
// that dead spine processes left are cleared (clearStaleLocks, saying so
// through notice); fault gets the fault points of a change holding its
// locks. It serves the git changes made outside a run's own journal: a
// push's or a sync's, and the recovery of an interrupted push.
func attachLockJournal(j *Journal, g *gitx.Repo, clock func() time.Time, fault, notice func(string)) (detach func(), err error) {
	if err := clearStaleLocks(j, g, notice); err != nil {
		return nil, err
	}
	g.OnIndexLock = func(lk gitx.IndexLock) error { return j.AppendNoSync(lockRecord(lk, clock())) }
	g.OnLockPlaced = lockPlacedFault(fault)
	return func() { g.OnIndexLock, g.OnLockPlaced = nil, nil }, nil
}

// clearStaleIndexLock removes the lock files (.git/index.lock, HEAD.lock,
// a branch's <ref>.lock) the journal records as taken by a commit of a spine process
// that is gone: the process died mid-commit, and every run after it would
// stop on them. A lock spine did not record (another git process's, or one
// whose record a power failure lost) is left for the commit to name. It
// runs under the repository lock, so no other spine run is committing.
func (r *Runner) clearStaleIndexLock() error {
	return clearStaleLocks(r.journal, r.opts.Git, r.report().Notice)
}

// journalingLocks runs fn, which changes the repository before the run's
// journal is open (recoverInterruptedPush), once the lock files a dead
// spine process left are cleared, with the lock files fn takes journaled.
func (r *Runner) journalingLocks(fn func() error) error {
	g := r.opts.Git
	if g == nil {
		return fn()
	}
	j, err := OpenJournal(r.opts.StateDir)
	if err != nil {
		return err
	}
	defer j.Close()
	detach, err := attachLockJournal(j, g, r.opts.Clock, r.opts.Fault, r.report().Notice)
	if err != nil {
		return err
	}
	defer detach()
	return fn()
}

// clearStaleLocks removes the lock files journal j records as taken by a
// spine process that is gone (see Runner.clearStaleIndexLock), saying so
// through notice.
func clearStaleLocks(j *Journal, g *gitx.Repo, notice func(string)) error {
	recs, err := j.IndexLocks()
	if err != nil || len(recs) == 0 {
		return err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		if rec.PID == os.Getpid() || rec.PID > 0 && pidAlive(rec.PID) && startedAt(rec.PID, rec.StartTicks) {
			continue
		}
		removed, err := g.RemoveStaleIndexLock(*rec.Lock)
		if err != nil {
			return fmt.Errorf("stale lock: %w", err)
		}
		if removed {
			notice(fmt.Sprintf("removed %s, left by spine (pid %d) when it stopped while committing at %s", rec.Lock.Path, rec.PID, rec.At.UTC().Format(time.RFC3339)))
		}
	}
	return nil
}

// lockRecord is the journal record of a lock file a commit of process pid
// is about to put in place (see Runner.recordIndexLock).
func lockRecord(lk gitx.IndexLock, at time.Time) JournalRecord {
	pid := os.Getpid()
	return JournalRecord{Kind: recIndexLock, At: at, PID: pid, StartTicks: procStartTicks(pid), Lock: &lk}
}

// detachGit stops recording the repository's index locks in this run's
// journal (see recover): the command is over, its journal closed.
func (r *Runner) detachGit() {
	if r.opts.Git != nil {
		r.opts.Git.OnIndexLock = nil
		r.opts.Git.OnLockPlaced = nil
	}
}

// pidAlive reports whether process pid exists and has not exited (a
// zombie waiting to be reaped has).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return (err == nil || errors.Is(err, syscall.EPERM)) && !procGone(pid)
}
