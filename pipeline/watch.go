package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/gofrs/flock"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
)

// Outlook is what a run with given options would find.
type Outlook struct {
	// Work is set when the run would do something: a step ready to run, a
	// gate refusal not yet recorded, or a step the journal says ended (or
	// died) without its receipt committed. Reason names the first found.
	Work   bool
	Reason string
	// Held counts the steps waiting for an operator (a gate, a failure, an
	// interruption, a manual step): a run would exit 3.
	Held int
	// Invalid are the loops a run would skip as invalid (lint errors,
	// or a document that could not be read), and why, as the run would
	// say it: a run would exit 2.
	Invalid []Skip
	// Holder is the pid of another run holding the repository's run lock
	// (0: none): its steps are not work for this one, which would wait.
	Holder int
}

// Look plans without running: it takes no lock and changes nothing but
// the receipt index cache. Loops whose document has uncommitted changes
// count as no work (a run skips them).
func Look(opts Options) (Outlook, error) {
	var out Outlook
	out.Holder = repoHolder(opts)
	if replayPending(opts.Git) {
		// Only a run recovers it (and a push is refused until then).
		out.Work, out.Reason = true, "an interrupted push left spine's unpushed commits at "+backupRef
	}
	j, err := OpenJournal(opts.StateDir)
	if err != nil {
		return out, err
	}
	order, entries, err := j.Read()
	if err != nil {
		return out, err
	}
	for _, key := range order {
		e := entries[key]
		if e.Done || out.Work {
			continue
		}
		if e.Result != nil {
			out.Work, out.Reason = true, fmt.Sprintf("step run %s finished; its receipt is not committed yet", key)
		}
		// A live process is a step still running (in the background, or
		// under another run that holds the lock): not work for now. One
		// whose run is gone (no run holds the lock; it was killed) is:
		// the next run records the step as interrupted and kills what
		// is left of its group.
		if e.Intent != nil && !backgroundAlive(e.Intent) {
			switch {
			case !processAlive(e.Intent.PGID):
				out.Work, out.Reason = true, fmt.Sprintf("step run %s ended without a receipt", key)
			case out.Holder == 0:
				out.Work, out.Reason = true, fmt.Sprintf("step run %s lost its run (killed?) while its process group %d still runs", key, e.Intent.PGID)
			}
		}
	}
	p, err := Plan(opts)
	if err != nil {
		return out, err
	}
	if opts.Loop == "" {
		out.Invalid = unreadableSkips(opts.Set)
	}
	for _, doc := range opts.Set.Docs {
		if opts.Loop != "" && doc.LoopID != opts.Loop {
			continue
		}
		items := p.PlanLoop(doc)
		if InvalidLoop(doc, items) {
			out.Invalid = append(out.Invalid, InvalidSkip(doc))
		}
		for _, it := range items {
			if OperatorHold(it) {
				out.Held++
			}
			if out.Work || it.Uncommitted || (it.State != StatePending && !(it.State == StateBlocked && it.NeedsMark)) {
				continue
			}
			out.Work, out.Reason = true, fmt.Sprintf("%s/%s is %s", it.LoopID, it.Name, it.State)
		}
	}
	return out, nil
}

// OwnCommit returns the Spine-Run trailer of HEAD when HEAD is a commit
// spine made ("" otherwise).
func OwnCommit(g *gitx.Repo) string {
	if g == nil {
		return ""
	}
	c, err := g.HeadCommit()
	if err != nil || c == nil {
		return ""
	}
	return gitx.Trailer(c.Message, "Spine-Run")
}

// SyncResult is what Sync did.
type SyncResult struct {
	// Remote is false when the remote has no such branch (yet).
	Remote bool
	// From and To are the local head before and after.
	From, To string
	// Push is set when local commits had to be pushed first.
	Push *PushResult
	// Tip is the remote branch's head the fetch found ("" before a fetch,
	// or when the remote has no such branch).
	Tip string
}

// Moved reports whether the local head changed.
func (s *SyncResult) Moved() bool { return s != nil && s.From != s.To }

// Sync brings the clone up to date with the remote branch: it fetches;
// with push, commits only the clone has are pushed first (replayed when the
// remote moved on; without push such a clone is left as it is); then the
// branch is fast-forwarded to the remote's head, which rewrites only the
// files that differ, and refuses (unless DiscardLocalChanges) when one of
// them holds uncommitted changes. It never changes the working tree while
// a run holds the lock.
func Sync(ctx context.Context, o PushOptions, push bool) (*SyncResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	g := o.Git
	head, err := g.Head()
	if err != nil {
		return nil, err
	}
	res := &SyncResult{From: head.String(), To: head.String()}
	if replayPending(g) {
		return res, ErrReplayPending
	}
	tip, err := g.Fetch(ctx, o.Remote, o.Branch)
	if err != nil {
		return res, err
	}
	if tip.IsZero() {
		return res, nil
	}
	res.Remote, res.Tip = true, tip.String()
	if tip == head {
		return res, nil
	}
	behind := head.IsZero()
	if !behind {
		if behind, err = g.IsAncestor(head, tip); err != nil {
			return res, err
		}
	}
	if !behind && !push {
		o.notice(nil, fmt.Sprintf("this clone has commits %s/%s does not; not following it without pushing", o.Remote, o.Branch))
		return res, nil
	}
	if !behind {
		pr, err := Push(ctx, o)
		res.Push = pr
		if err != nil {
			if !o.DiscardLocalChanges || !errors.Is(err, ErrReplayRefused) {
				return res, err
			}
			// spine's own clone holds commits it cannot replay: keep them
			// under a ref and follow the remote.
			keep := fmt.Sprintf("refs/spine/abandoned/%d", o.Clock().Unix())
			if serr := g.SetRef(keep, head, "spine: keep commits that cannot be pushed"); serr != nil {
				return res, serr
			}
			o.notice(nil, fmt.Sprintf("local commits that cannot be pushed are kept at %s: %v", keep, err))
		} else {
			h, _ := g.Head()
			res.To = h.String()
			return res, nil
		}
	}
	unlock, err := o.lock(ctx)
	if err != nil {
		return res, err
	}
	defer unlock()
	if now, err := g.Head(); err != nil {
		return res, err
	} else if now != head {
		return res, errors.New("HEAD moved during the sync (a run committed); the next sync follows")
	}
	if err := switchOverLeftovers(g, o.Root, tip, o.DiscardLocalChanges); err != nil {
		return res, fmt.Errorf("update to %s/%s: %w", o.Remote, o.Branch, err)
	}
	res.To = tip.String()
	return res, nil
}

// BehindLoops returns, by loop id, why each loop waits that has runs on
// the remote's branch (res.Tip, fetched) this clone did not follow (its
// head res.To): a receipt the remote has and HEAD has not. A sync that
// fetched and could not move the clone (syncErr: an operator's edit in the
// way, a replay refused) left it behind, and running such a loop on what
// it has would run again a step another host ran since. Nil when the
// clone is not behind or nothing can be told.
func BehindLoops(g *gitx.Repo, receipts string, res *SyncResult, syncErr error) map[string]string {
	if g == nil || res == nil || res.Tip == "" || res.Tip == res.To {
		return nil
	}
	head, tip := plumbing.NewHash(res.To), plumbing.NewHash(res.Tip)
	if ok, err := g.IsAncestor(tip, head); err == nil && ok {
		return nil // the clone has everything the remote has
	}
	changes, err := g.Diff(head, tip)
	if err != nil {
		return nil
	}
	prefix := strings.Trim(receipts, "/") + "/"
	out := map[string]string{}
	for _, ch := range changes {
		if ch.To.Hash.IsZero() || !strings.HasPrefix(ch.Path, prefix) || path.Base(ch.Path) != artifacts.ReceiptFile {
			continue
		}
		data, err := g.Blob(ch.To.Hash)
		if err != nil {
			continue
		}
		var rc struct {
			LoopID string `json:"loop_id"`
		}
		if json.Unmarshal(data, &rc) != nil || rc.LoopID == "" {
			continue
		}
		why := "the remote's branch has runs of this loop that this clone has not followed"
		if syncErr != nil {
			why += " (" + syncErr.Error() + ")"
		}
		out[rc.LoopID] = why + "; it waits until the clone follows the remote"
	}
	return out
}

// UnfollowedReason returns why the clone knows nothing of the remote's
// branch after a sync that failed before the fetch gave its head (the
// remote unreachable, a refused credential): another host may have run,
// and pushed, any step no host= binds to one. "" when the sync fetched
// (BehindLoops then tells which loops the remote has runs of) or did not
// fail.
func UnfollowedReason(remote string, res *SyncResult, syncErr error) string {
	if syncErr == nil || res != nil && res.Tip != "" {
		return ""
	}
	return fmt.Sprintf("could not follow %s (%v)", remote, syncErr)
}

// Watcher runs cycles of fetch, run and push: the loop behind `spine
// watch`, and one cycle of it behind the post-receive hook's worker.
type Watcher struct {
	// Root is the clone's working tree.
	Root string
	// Load returns fresh options for a run (documents are re-read every
	// cycle, and again after the clone moved).
	Load func() (Options, error)
	// Remote and Branch name what is followed ("" remote: none; local
	// runs only). An empty branch is the current branch.
	Remote, Branch string
	// Push sends spine's commits to the remote after each run.
	Push bool
	// Interval is the pause between cycles of Run.
	Interval time.Duration
	// DiscardLocalChanges: see PushOptions (the hook's own clone only).
	DiscardLocalChanges bool
	// Attempts and Backoff configure pushes (see PushOptions).
	Attempts int
	Backoff  time.Duration
	Log      *slog.Logger
	// Notice receives one-line messages for the operator.
	Notice func(string)
	// Ran is called after each run with its outcome.
	Ran func(*Outcome)
}

// CycleResult is what one cycle did.
type CycleResult struct {
	Sync *SyncResult
	// Ran is set when a run was started; Outcome is its result.
	Ran     bool
	Outcome *Outcome
	Push    *PushResult
	// Idle says why nothing ran.
	Idle string
	// Invalid are the loops skipped as invalid when nothing ran (see
	// Outlook): a push of a document with lint errors is not "nothing
	// pending" without a word about it.
	Invalid []Skip
}

func (w *Watcher) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return w.Log
}

func (w *Watcher) notice(msg string) {
	if w.Notice != nil {
		w.Notice(msg)
	}
}

func (w *Watcher) pushOptions(o Options) PushOptions {
	p := NewPushOptions(o, w.Remote, w.Branch)
	p.Attempts, p.Backoff = w.Attempts, w.Backoff
	p.DiscardLocalChanges = w.DiscardLocalChanges
	p.Notice = w.Notice
	p.Log = w.log()
	return p
}

// Cycle fetches and follows the remote, runs when something is pending
// (a step ready, a gate newly approved, a background step that ended) and
// pushes what the run committed. When ctx is cancelled during the run, the
// step that was running is recorded as interrupted by the runner and the
// result is still pushed (with a bounded, uncancelled context).
func (w *Watcher) Cycle(ctx context.Context) (*CycleResult, error) {
	res := &CycleResult{}
	opts, err := w.Load()
	if err != nil {
		return res, err
	}
	follow := w.Remote != "" && opts.Git != nil && opts.Git.HasRemote(w.Remote)
	if follow {
		// As git fetch does after it fetched: the fetches leave packs
		// that git's housekeeping tidies (a run that committed did it
		// already, and a push that fetched does it itself).
		defer func() {
			committed := res.Outcome != nil && len(res.Outcome.Commits) > 0
			pushed := res.Push.keptHouse() || (res.Sync != nil && res.Sync.Push.keptHouse())
			if !committed && !pushed {
				Housekeep(ctx, opts.Git, w.log())
			}
		}()
	}
	var syncErr error
	if follow {
		res.Sync, err = Sync(ctx, w.pushOptions(opts), w.Push)
		// A loop the remote has runs of that the clone did not follow
		// waits (BehindLoops; none once the clone moved to the remote).
		opts.Behind = BehindLoops(opts.Git, opts.Config.Receipts, res.Sync, err)
		opts.Unfollowed = UnfollowedReason(w.Remote, res.Sync, err)
		if err != nil {
			// Local work (a background step that ended) still runs; the
			// error is reported at the end of the cycle.
			syncErr = fmt.Errorf("sync with %s: %w", w.Remote, err)
			w.log().Warn("could not follow the remote; running what is pending locally", "err", err)
		} else if res.Sync.Moved() {
			w.log().Info("followed the remote", "remote", w.Remote, "from", short(res.Sync.From), "to", short(res.Sync.To))
			if opts, err = w.Load(); err != nil {
				return res, err
			}
		}
	}
	look, err := Look(opts)
	if err != nil {
		return res, err
	}
	if !look.Work {
		res.Idle, res.Invalid = "nothing pending", look.Invalid
		if id := OwnCommit(opts.Git); id != "" {
			res.Idle = fmt.Sprintf("nothing to do: HEAD is spine's own commit (Spine-Run: %s)", id)
		}
		if look.Holder != 0 {
			res.Idle += fmt.Sprintf("; another spine run (pid %d) holds the repository's lock", look.Holder)
		}
		if look.Held > 0 {
			// As spine run says it: the log must not read all clear.
			res.Idle += fmt.Sprintf("; %d step(s) wait for an operator (spine plan says why)", look.Held)
		}
	} else {
		w.log().Info("running", "why", look.Reason)
		res.Ran = true
		res.Outcome, err = NewRunner(opts).Run(ctx)
		if w.Ran != nil && res.Outcome != nil {
			w.Ran(res.Outcome)
		}
		var locked *LockedError
		switch {
		case errors.As(err, &locked):
			res.Ran, res.Idle = false, locked.Error()
		case err != nil && !errors.Is(err, context.Canceled):
			return res, err
		}
	}
	if follow && w.Push {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		res.Push, err = Push(pctx, w.pushOptions(opts))
		if err != nil {
			return res, errors.Join(syncErr, err)
		}
		if res.Push.Pushed {
			// The push replayed this clone's commits on the remote's
			// head: the clone follows it now, whatever kept the sync
			// from it (spine's own uncommitted evidence, which the run
			// committed).
			syncErr = nil
		}
	}
	return res, syncErr
}

// Run repeats Cycle every Interval until ctx is cancelled (SIGTERM), which
// ends it cleanly: between cycles at once, during a run once the running
// step is recorded as interrupted and the result pushed. A failing cycle is
// logged and retried at the next interval.
func (w *Watcher) Run(ctx context.Context) error {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	// said is what the last idle cycle said of invalid loops: a warning
	// each interval would bury everything else in the log.
	var said []Skip
	for {
		res, err := w.Cycle(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log().Error("watch cycle failed; retrying at the next interval", "err", err)
			w.notice("cycle failed: " + err.Error())
		case err == nil && res.Idle != "" && !res.Ran:
			w.log().Debug("idle", "why", res.Idle)
			if !slices.Equal(res.Invalid, said) {
				for _, s := range res.Invalid {
					w.log().Warn("loop skipped: its document is invalid", "loop", s.What, "why", s.Why)
				}
				said = res.Invalid
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Triggered runs, as the post-receive hook starts them: every push leaves
// a request in a folder; one worker at a time (an flock) takes requests
// and runs a cycle per request, so a push that lands while a run is going
// is picked up by a follow-up cycle and never lost.
const (
	// RequestFile is the file whose presence in the folder requests a run
	// (the hook script writes it too).
	RequestFile = "rerun"
	workerLock  = "worker.lock"
)

// RequestRun records that a run is wanted (a push arrived).
func RequestRun(dir string) error {
	if err := os.MkdirAll(dir, fsx.DirMode); err != nil {
		return fmt.Errorf("request a run: %w", err)
	}
	p := filepath.Join(dir, RequestFile)
	if err := os.WriteFile(p, []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), fsx.FileMode); err != nil {
		return fmt.Errorf("request a run: %w", err)
	}
	return nil
}

// TryWorkerLock takes the worker lock of dir (the one Drain holds while it
// runs cycles) without waiting; ok is false while a worker holds it.
// unlock releases it.
func TryWorkerLock(dir string) (unlock func(), ok bool, err error) {
	fl := flock.New(filepath.Join(dir, workerLock), flock.SetPermissions(fsx.FileMode))
	if ok, err = fl.TryLock(); err != nil || !ok {
		return nil, false, err
	}
	return func() { _ = fl.Unlock() }, true, nil
}

// Drain runs cycle while runs are requested in dir, at most maxCycles times
// in a row, under the worker lock. When another worker holds the lock it
// returns at once: that worker sees the request before it exits. After
// releasing the lock it looks once more, so a request that arrived just as
// the worker was finishing is not left behind.
func Drain(ctx context.Context, dir string, maxCycles int, cycle func(context.Context) error, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	req := filepath.Join(dir, RequestFile)
	requested := func() bool {
		_, err := os.Stat(req)
		return err == nil
	}
	var errs []error
	cycles := 0
	for requested() && cycles < maxCycles && ctx.Err() == nil {
		fl := flock.New(filepath.Join(dir, workerLock), flock.SetPermissions(fsx.FileMode))
		ok, err := fl.TryLock()
		if err != nil {
			return fmt.Errorf("worker lock: %w", err)
		}
		if !ok {
			log.Info("another worker is running; it picks this request up")
			return nil
		}
		for requested() && cycles < maxCycles && ctx.Err() == nil {
			if err := os.Remove(req); err != nil && !errors.Is(err, os.ErrNotExist) {
				_ = fl.Unlock()
				return fmt.Errorf("take request: %w", err)
			}
			cycles++
			if err := cycle(ctx); err != nil {
				log.Error("cycle failed", "cycle", cycles, "err", err)
				errs = append(errs, err)
			}
		}
		_ = fl.Unlock()
	}
	if requested() && cycles >= maxCycles {
		log.Warn("stopping after the maximum number of cycles in a row; the next push continues", "cycles", cycles)
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%d of %d cycle(s) failed: %s", len(errs), cycles, strings.Join(msgs, "; "))
	}
	return nil
}
