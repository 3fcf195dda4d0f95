package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/packs"
)

var stageTitleRe = regexp.MustCompile(`(?i)^(stage|phase|wave|step)[ -]?\d+\s*[:.\-—–]?\s*`)

// logPath is where a step's output streams while it runs: in the state
// folder, so the working tree only ever holds complete receipts. A crashed
// run's partial log becomes the interrupted receipt's output.log.
func (r *Runner) logPath(runKey string) string {
	return filepath.Join(r.opts.StateDir, "runs", runKey+".log")
}

// scriptPath is where a step's code goes when it is too long to pass to
// the shell as an argument (scriptArgv), beside its running log.
func (r *Runner) scriptPath(runKey string) string {
	return filepath.Join(r.opts.StateDir, "runs", runKey+".sh")
}

// stepArgv returns the argv that runs code with interp for the run runKey
// (scriptArgv). Code too long for a command line is first written to
// scriptPath (script set: its removal is the caller's); an error says why
// the step cannot start, for its refusal.
func (r *Runner) stepArgv(interp []string, code, runKey string) (argv []string, script bool, err error) {
	code = packs.UnderUmask(code, r.opts.StepUmask)
	argv, script = scriptArgv(interp, code, r.scriptPath(runKey))
	if script {
		if err := fsx.WriteFile(r.scriptPath(runKey), []byte(code), os.O_TRUNC, fsx.FileMode); err != nil {
			return nil, false, fmt.Errorf("its code (%d bytes, over the %d a command line carries) could not be written to a script file: %w", len(code), maxInlineScript, err)
		}
	}
	return argv, script, nil
}

// createArtifact makes the folder of the artifact at path and its
// temporary file (artifacts.CreateAtomic), which becomes path when the step
// ends.
func createArtifact(path string) (*artifacts.AtomicFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), fsx.DirMode); err != nil {
		return nil, err
	}
	return artifacts.CreateAtomic(path, fsx.FileMode)
}

// createLog creates (truncating) the running log at path, making its
// folder when it is missing (the run's first step) rather than checking
// for it every step. The file is opened with plain system calls:
// os.OpenFile would also try to register a regular file with the poller
// (four more calls per step).
func createLog(path string) (*os.File, error) {
	made := false
	for {
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, uint32(fsx.FileMode))
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case err == syscall.EINTR:
			continue
		case err == syscall.ENOENT && !made:
			if err := os.MkdirAll(filepath.Dir(path), fsx.DirMode); err != nil {
				return nil, err
			}
			made = true
			continue
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
}

// spareLogName is the empty running log made ahead of the step that uses
// it, in the runs folder (see makeSpareLog).
const spareLogName = ".spare.log"

// makeSpareLog makes an empty file in the runs folder for the next step's
// running log, while a process runs: openLog then only renames it. On a
// journaling file system creating a file (an inode, a directory entry)
// costs several times renaming one (measured on ext4 just after the
// intent's fsync: 170-360 µs against 25-50), and the step's start waits
// for it. The file is made exclusively, never through a link: it is a
// new, empty file that nothing else names. Any file of that name (left by
// a crash) is removed, once, and the making tried again; the name is
// normally free (the last spare was renamed away), so it is not removed
// first. Failing is harmless: the step creates its log as always.
func (r *Runner) makeSpareLog() {
	if r.spareLog {
		return
	}
	p := r.spareLogPath()
	removed := false
	for {
		fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, uint32(fsx.FileMode))
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EEXIST && !removed:
			if err := syscall.Unlink(p); err != nil && err != syscall.ENOENT {
				return
			}
			removed = true
			continue
		case err == nil:
			r.spareFD, r.spareLog = fd, true
		}
		return
	}
}

func (r *Runner) spareLogPath() string {
	return filepath.Join(r.opts.StateDir, "runs", spareLogName)
}

// openLog returns the running log at path, created (see createLog) or,
// when a spare one was made ahead (makeSpareLog), renamed into place.
func (r *Runner) openLog(path string) (*os.File, error) {
	if r.spareLog {
		fd := r.spareFD
		r.spareLog = false
		// syscall.Rename, not os.Rename: the latter first stats path (to
		// refuse renaming onto a folder, which rename(2) refuses anyway
		// for a file), one more call on the step's way to its start.
		if err := syscall.Rename(r.spareLogPath(), path); err == nil {
			return os.NewFile(uintptr(fd), path), nil
		}
		syscall.Close(fd)
		_ = os.Remove(r.spareLogPath())
	}
	return createLog(path)
}

// closeSpareLog removes the spare running log, if one was made.
func (r *Runner) closeSpareLog() {
	if r.spareLog {
		r.spareLog = false
		syscall.Close(r.spareFD)
		_ = os.Remove(r.spareLogPath())
	}
}

// redactor builds the redactor of this run: the values of policy.secret_env
// variables plus the well-known token shapes.
func (r *Runner) redactor() *artifacts.Redactor {
	var secrets []string
	for _, name := range append(slices.Clone(r.opts.Config.Policy.SecretEnv), gitx.TokenEnv) {
		if v, ok := r.opts.LookupEnv(name); ok && v != "" {
			secrets = append(secrets, v)
		}
	}
	return artifacts.NewRedactor(secrets)
}

// errNotStarted is execute's error for a step it did not start because
// the run was asked to stop: nothing ran, and the step stays pending.
var errNotStarted = errors.New("stopped before the step started")

// execute runs one pending step and writes its receipt.
//
// In a loop run (lr.overlap), the receipt of a step whose process ran is
// not written here: it becomes the run's pending receipt, written while
// the next step's process runs (see pendingReceipt), or before anything
// else that needs it.
func (r *Runner) execute(ctx context.Context, lr *loopRun, it *Item) (*artifacts.Receipt, error) {
	step := it.Step
	// A verify pack runs in this process: nothing to overlap with. A
	// destructive step starts only once the previous step's receipt is
	// written: a receipt that cannot be stored (a full disk) stops the
	// run before it, not after it ran.
	if step.Kind == loops.KindVerify || step.Destructive {
		if err := r.flushReceipt(); err != nil {
			return nil, err
		}
	}
	started := r.opts.Clock()
	key, err := r.newRunKey(step.Capability(), started)
	if err != nil {
		return nil, err
	}
	rc := r.newReceipt(lr, it, key, started)
	relDir, err := r.store.RelDir(key)
	if err != nil {
		return nil, err
	}
	// The artifact's path is checked before anything runs.
	var artifactRel, artifactAbs string
	if step.Artifact != "" {
		artifactRel, err = artifacts.ArtifactRelPath(r.opts.Config.Artifacts, lr.doc.Slug(), step.Artifact)
		if err == nil {
			artifactAbs, err = artifacts.ArtifactPath(r.opts.Root, r.opts.Config.Artifacts, lr.doc.Slug(), step.Artifact)
		}
		if err == nil {
			// A folder there could not be replaced by the file once the
			// step has run.
			if fi, statErr := os.Lstat(artifactAbs); statErr == nil && fi.IsDir() {
				err = fmt.Errorf("%s is a folder, not a file", artifactRel)
			}
		}
		if err != nil {
			return r.refuse(lr, it, rc, fmt.Sprintf("artifact %q refused: %v", step.Artifact, err))
		}
	}
	argv, ok := Interpreter(step.Lang)
	if step.Kind == loops.KindCommand && !ok {
		return r.refuse(lr, it, rc, fmt.Sprintf("language %q is not runnable", step.Lang))
	}
	logPath := r.logPath(key)
	logFile, err := r.openLog(logPath)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", step.Name, err)
	}
	// The running log goes once its receipt is written; it stays while a
	// receipt is pending or could not be written (the next run's recovery
	// takes the output from it).
	keepLog := false
	defer func() {
		if !keepLog {
			_ = os.Remove(logPath)
		}
	}()
	defer logFile.Close()
	var cmdArgv []string
	if step.Kind == loops.KindCommand {
		var script bool
		if cmdArgv, script, err = r.stepArgv(argv, step.Command, key); err != nil {
			return r.refuse(lr, it, rc, err.Error())
		}
		if script {
			// Gone once the step is over (or by the next run's recovery).
			defer os.Remove(r.scriptPath(key))
		}
	}
	intent := JournalRecord{Kind: recIntent, RunKey: key, LoopID: lr.doc.LoopID, Step: step.Name, Stage: it.Stage, Dir: relDir, At: started, Intent: rc}
	var sink io.Writer = logFile
	var tee *liveTee
	if w := r.report().StepStart(it, key); w != nil {
		// The terminal is fed apart from the log: the step never waits
		// for it, and a log that fails does not silence it.
		tee = &liveTee{log: logFile, live: newLiveFeed(w)}
		sink = tee
		defer tee.live.Close()
	}
	out := artifacts.NewOutput(sink, r.opts.Clock, r.opts.OutputLimit, r.redactor())
	out.SetLive(tee != nil)
	env := append(slices.Clone(r.stepEnviron()),
		"SPINE_LOOP_ID="+lr.doc.LoopID, "SPINE_RUN_KEY="+key, "SPINE_STEP="+step.Name,
		"SPINE_ARTIFACT_DIR="+filepath.Join(r.opts.Root, filepath.FromSlash(r.opts.Config.Artifacts), lr.doc.Slug()))
	// The intent is durable before anything starts: after a crash the next
	// run knows this step may have run.
	line, err := encodeRecord(intent)
	if err != nil {
		return nil, err
	}
	r.fault(FaultBeforeIntent)
	if err := r.journal.appendLine(line, true); err != nil {
		return nil, err
	}
	r.fault(FaultAfterIntent)
	// A stop asked while the previous step ended may not have cancelled
	// ctx yet: the signal's goroutines run now (the intent's fsync let
	// them, and so does this yield). Asked, the step is not started: its
	// intent is forgotten (nothing ran) and it stays pending.
	runtime.Gosched()
	if ctx.Err() != nil {
		if err := r.journal.append(JournalRecord{Kind: recDone, RunKey: key, At: r.opts.Clock()}, true); err != nil {
			return nil, err
		}
		return nil, errNotStarted
	}
	// What else must be in place before the process starts is made only
	// now that the intent is durable, so that a crash before it leaves
	// nothing the next run would not know of, and one after it an intent,
	// which recovery turns into an interrupted receipt (removing the
	// artifact's temporary file, removeTemps):
	//   - a destructive step's line in this host's ledger (ledger): a
	//     line written before the intent, with no intent after it, would
	//     hold the step as run on this host though it never started;
	//   - the artifact's temporary file in the working tree.
	// Either failing fails the step without running it; a ledger that
	// cannot be written also stops the run (every destructive step would
	// fail the same way), with the result journaled.
	var artifactFile *artifacts.AtomicFile
	ledgerErr := r.ledger(step, lr.doc, rc, started)
	startErr := ledgerErr
	if startErr == nil && artifactAbs != "" {
		var err error
		if artifactFile, err = createArtifact(artifactAbs); err == nil {
			defer artifactFile.Abort()
			out.TeeStdout(artifactFile)
		} else {
			startErr = fmt.Errorf("artifact %s: %w", step.Artifact, err)
		}
	}
	// prevWritten is set when the previous step's pending receipt was
	// written while this step's process ran (see During), prevErr is how.
	prevWritten := false
	var prevErr error
	var during func()
	if p := r.pending; p != nil {
		during = func() {
			// The process runs (its intent and pid are journaled): the
			// previous step's receipt is written meanwhile, here, while
			// another goroutine waits for the process and its output.
			r.pending = nil
			r.fault(FaultReceiptPending)
			prevWritten, prevErr = true, r.writePending(p)
			if prevErr == nil {
				r.makeSpareLog()
			}
		}
	}
	// A step's stdout and stderr share one pipe, read in the order they
	// were written, unless its stdout is an artifact of its own.
	stdout, stderr := out.Stream(artifacts.StreamCombined), io.Writer(nil)
	if artifactAbs != "" {
		stdout, stderr = out.Stream(artifacts.StreamStdout), out.Stream(artifacts.StreamStderr)
	}
	var res procResult
	switch {
	case startErr != nil:
		if during != nil {
			during()
		}
		now := r.opts.Clock()
		res = procResult{ExitCode: -1, Start: now, End: now, Err: startErr}
	case step.Kind == loops.KindVerify:
		res = r.runVerify(ctx, step, out, env, rc)
	default:
		res = runProcess(ctx, procSpec{
			Argv: cmdArgv, Dir: r.opts.Root, Env: env,
			Path: r.paths.resolve(argv[0]), Stdin: r.stdin(),
			Stdout: stdout, Stderr: stderr,
			Timeout: r.stepTimeout(step), Bufs: &r.copyBufs,
			OnStart: func(pid int) error {
				intent.PID, intent.PGID = pid, pid
				var err error
				if l, ok := withPID(line, pid); ok {
					err = r.journal.appendLine(l, false)
				} else {
					err = r.journal.AppendNoSync(intent)
				}
				if err == nil {
					// The journal grows, if it must, while the process
					// runs rather than before the next one starts.
					r.journal.reserve(journalRoom)
				}
				return err
			},
			During: during,
		})
	}
	if prevWritten && prevErr == nil {
		r.fault(FaultAfterReceipt)
	}
	r.fault(FaultAfterExit)
	// A write of the step's output or artifact that failed (a full disk)
	// loses nothing that is known: the step ran, and how it ended. Its
	// result is journaled, with a note of what could not be stored, and
	// the run stops on storeErr; the next run writes the receipt from the
	// journal, with the output.log that was written (recover).
	_ = out.Close()
	var storeErr error
	logErr := out.LogErr()
	if tee != nil {
		// Everything shown before the step's result line.
		tee.live.Close()
		if logErr == nil && tee.err != nil {
			logErr = fmt.Errorf("output: write log: %w", tee.err)
		}
	}
	if logErr != nil {
		storeErr = fmt.Errorf("step %s: %w", step.Name, logErr)
	}
	if ledgerErr != nil {
		storeErr = errors.Join(storeErr, fmt.Errorf("step %s: not run: %w", step.Name, ledgerErr))
	}
	rc.FinishedAt = res.End.UTC().Format(time.RFC3339Nano)
	rc.StartedAt = res.Start.UTC().Format(time.RFC3339Nano)
	rc.DurationMS = res.End.Sub(res.Start).Milliseconds()
	rc.ExitCode = res.ExitCode
	rc.OutputTruncated = out.Truncated()
	rc.OutputBytes = out.Bytes()
	rc.Redactions += out.Redactions() // plus those of the command
	switch {
	case res.Stopped:
		rc.Status = artifacts.StatusInterrupted
	case res.ExitCode == 0 && res.Err == nil && rc.Status == "":
		rc.Status = artifacts.StatusPass
	case rc.Status == "":
		rc.Status = artifacts.StatusFail
	}
	if note := describeEnd(res, r.stepTimeout(step)); note != "" && rc.Note == "" {
		rc.Note = note
	}
	rc.Note = joinNote(rc.Note, cutNote(out))
	if logErr != nil {
		rc.Note = joinNote(rc.Note, fmt.Sprintf("spine could not store all of the output (%v); output.log holds what was written", logErr))
	}
	if artifactFile != nil {
		err := out.TeeErr()
		if err == nil {
			err = artifactFile.Commit()
		}
		var sum string
		var size int64
		if err == nil {
			sum, size, err = artifacts.HashFile(artifactAbs)
		}
		if err != nil {
			// Not stored: no artifact is recorded, and none half-written
			// is left in place.
			artifactFile.Abort()
			rc.Note = joinNote(rc.Note, fmt.Sprintf("artifact %s not stored: %v", step.Artifact, err))
			storeErr = errors.Join(storeErr, fmt.Errorf("step %s: artifact: %w", step.Name, err))
		} else {
			rc.Artifacts = append(rc.Artifacts, artifacts.ArtifactRef{Path: artifactRel, SHA256: sum, Size: size})
		}
	}
	// Not fsynced: if a power failure loses it, the durable intent makes
	// the step interrupted (held), never run twice; the next intent's or
	// the stage's sync flushes it.
	//
	// Why one fsync per step is enough, and the result of step N can
	// share the fsync of step N+1's intent (the same file: fsync flushes
	// every earlier write of it) without weakening exactly-once: a crash
	// (power failure) before that fsync loses at most this result; the
	// intent, fsynced before the process started, survives, so the next
	// run finds an intent without a result and writes an interrupted
	// receipt: the step is re-run only if it is idempotent, else held for
	// the operator, never run twice. No receipt can exist without its
	// result surviving: receipts and logs are made durable only by the
	// stage's syncfs, which also flushes this file, before the commit. A
	// mere kill of spine (no power failure) loses nothing written: the
	// page cache keeps it. The last step of a stage: the stage's syncfs
	// flushes its result before the commit, and the commit before the
	// done records.
	//
	// A result that stops the run (storeErr) is made durable now.
	if err := r.journal.append(JournalRecord{Kind: recResult, RunKey: key, LoopID: rc.LoopID, Step: rc.Step, At: r.opts.Clock(), Receipt: rc}, storeErr != nil); err != nil {
		return nil, errors.Join(prevErr, storeErr, err)
	}
	r.fault(FaultAfterResult)
	// The log is complete and closed: it becomes output.log as it is (see
	// Store.WriteLinked), its hash the one computed while it was written.
	if err := logFile.Close(); err != nil {
		return nil, errors.Join(prevErr, storeErr, fmt.Errorf("step %s: %w", step.Name, err))
	}
	keepLog = true
	if prevErr != nil || storeErr != nil {
		// The previous receipt is not written: this one, which chains
		// on it, must not be either. Both results are in the journal;
		// the next run writes the receipts in order (recover). Or this
		// step's output or artifact could not all be stored: the next
		// run writes its receipt from the journal.
		return nil, errors.Join(prevErr, storeErr)
	}
	p := &pendingReceipt{lr: lr, rc: rc, logPath: logPath, size: out.Size(), sum: out.SHA256()}
	if lr.overlap {
		r.pending = p
		r.report().StepEnd(it, rc)
		return rc, nil
	}
	if err := r.writePending(p); err != nil {
		return nil, err
	}
	r.fault(FaultAfterReceipt)
	r.report().StepEnd(it, rc)
	return rc, nil
}

// pendingReceipt is a step's receipt not written yet: its result is in
// the journal (the receipt whole, the intent fsynced), its output complete
// in the running log. While a loop runs, the receipt of step N is written
// once the process of step N+1 has started, while it runs (runProcess's
// During: the run's goroutine writes, another waits for the process), so
// the receipt's file system calls overlap the process's start and life
// (milliseconds, more than spine's own work) instead of preceding it; a
// step that runs no process, a blocked receipt, the stage's commit and
// the end of the loop write it first (flushReceipt). Only the run's
// goroutine touches the run's state, as before.
//
// Safety: the receipts of a loop are still written one at a time and in
// run order, so each one's prev is the receipt before it (N+1's is made
// after N's, and not at all if N's failed: the error stops the loop after
// the current step, and the next run writes both from the journal, in
// order). A crash (SIGKILL) while a
// receipt is pending or half-written leaves what a crash just after the
// result record always left: a result without a receipt, which the next
// run's recovery writes (rewriting a torn receipt.json, replacing a linked
// output.log from the running log, removing temporary files) before
// anything new runs; the next step's intent, fsynced before its process
// started, makes that step interrupted. The stage's commit waits for every
// receipt of the stage.
type pendingReceipt struct {
	lr      *loopRun
	rc      *artifacts.Receipt
	logPath string
	size    int64
	sum     string
}

// writePending chains and writes a pending receipt, then removes its
// running log (kept when the write failed, for the next run's recovery).
func (r *Runner) writePending(p *pendingReceipt) error {
	if err := r.storeReceipt(p.lr, p.rc, func() (*artifacts.WriteResult, error) {
		return r.store.WriteLinked(p.rc, p.logPath, p.size, p.sum)
	}); err != nil {
		return err
	}
	_ = os.Remove(p.logPath)
	return nil
}

// flushReceipt writes the run's pending receipt, if any.
func (r *Runner) flushReceipt() error {
	p := r.pending
	if p == nil {
		return nil
	}
	r.pending = nil
	if err := r.writePending(p); err != nil {
		return err
	}
	r.fault(FaultAfterReceipt)
	return nil
}

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// cutNote says what of a step's output was not stored: output.log and
// the stdout artifact (when out has one) keep the output up to the limit
// and end with a line saying how much was dropped.
func cutNote(out *artifacts.OutputWriter) string {
	var note string
	if out.Truncated() {
		note = fmt.Sprintf("output cut at %d bytes of %d", out.Kept(), out.Bytes())
	}
	if out.StdoutTruncated() {
		note = joinNote(note, fmt.Sprintf("artifact cut at %d bytes of stdout, ending with a line that says so", out.StdoutKept()))
	}
	return note
}

// refuse records a step that spine will not run (a bad artifact name, an
// unknown language) as a failed receipt, without starting anything.
func (r *Runner) refuse(lr *loopRun, it *Item, rc *artifacts.Receipt, why string) (*artifacts.Receipt, error) {
	rc.FinishedAt = rc.StartedAt
	rc.Status = artifacts.StatusFail
	rc.ExitCode = -1
	rc.Note = "not run: " + why
	// Journaled as a step's result is, so that a run stopped before the
	// stage's commit (a later step's output could not be stored) leaves
	// a receipt the next run's recovery commits with the others.
	if err := r.journal.append(JournalRecord{Kind: recResult, RunKey: rc.RunKey, LoopID: rc.LoopID, Step: rc.Step, At: r.opts.Clock(), Receipt: rc}, false); err != nil {
		return nil, err
	}
	if err := r.writeReceipt(lr, rc, nil); err != nil {
		return nil, err
	}
	r.report().StepEnd(it, rc)
	return rc, nil
}

// runVerify runs a verify step's pack through the configured runner.
func (r *Runner) runVerify(ctx context.Context, step *loops.Step, out *artifacts.OutputWriter, env []string, rc *artifacts.Receipt) procResult {
	res := procResult{Start: time.Now()}
	if r.opts.Verify == nil {
		fmt.Fprintf(out.Stream(artifacts.StreamStderr), "verify packs are not available in this build\n")
		res.End, res.ExitCode = time.Now(), 1
		return res
	}
	checks, summary, failed, err := r.opts.Verify.RunPack(ctx, step.Pack, out.Stream(artifacts.StreamStdout), env)
	res.End = time.Now()
	// Each check's command as it ran, stored as a step's is.
	for i := range checks {
		var n int
		checks[i].Command, n = StoredCommand(checks[i].Command, r.redactor())
		rc.Redactions += n
		if checks[i].Command != "" {
			checks[i].CommandSHA256 = artifacts.CommandSHA256(checks[i].Command)
		}
	}
	rc.Checks, rc.Summary = checks, summary
	switch {
	case err != nil:
		fmt.Fprintf(out.Stream(artifacts.StreamStderr), "verify pack %s: %v\n", step.Pack, err)
		res.ExitCode = 1
	case failed:
		res.ExitCode = 1
	}
	if ctx.Err() != nil {
		res.Stopped = true
	}
	return res
}
