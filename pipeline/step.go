package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/loops"
)

var stageTitleRe = regexp.MustCompile(`(?i)^(stage|phase|wave|step)[ -]?\d+\s*[:.\-—–]?\s*`)

// logPath is where a step's output streams while it runs: in the state
// folder, so the working tree only ever holds complete receipts. A crashed
// run's partial log becomes the interrupted receipt's output.log.
func (r *Runner) logPath(runKey string) string {
	return filepath.Join(r.opts.StateDir, "runs", runKey+".log")
}

// createLog creates (truncating) the running log at path, making its
// folder when it is missing (the run's first step) rather than checking
// for it every step. The file is opened with plain system calls:
// os.OpenFile would also try to register a regular file with the poller
// (four more calls per step).
func createLog(path string) (*os.File, error) {
	made := false
	for {
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0o644)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case err == syscall.EINTR:
			continue
		case err == syscall.ENOENT && !made:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
			made = true
			continue
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
}

// redactor builds the redactor of this run: the values of policy.secret_env
// variables plus the well-known token shapes.
func (r *Runner) redactor() *artifacts.Redactor {
	var secrets []string
	for _, name := range r.opts.Config.Policy.SecretEnv {
		if v, ok := r.opts.LookupEnv(name); ok && v != "" {
			secrets = append(secrets, v)
		}
	}
	return artifacts.NewRedactor(secrets)
}

// execute runs one pending step and writes its receipt.
func (r *Runner) execute(ctx context.Context, lr *loopRun, it *Item) (*artifacts.Receipt, error) {
	step := it.Step
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
		if err != nil {
			return r.refuse(lr, it, rc, fmt.Sprintf("artifact %q refused: %v", step.Artifact, err))
		}
	}
	argv, ok := Interpreter(step.Lang)
	if step.Kind == loops.KindCommand && !ok {
		return r.refuse(lr, it, rc, fmt.Sprintf("language %q is not runnable", step.Lang))
	}
	logPath := r.logPath(key)
	logFile, err := createLog(logPath)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", step.Name, err)
	}
	defer os.Remove(logPath)
	defer logFile.Close()
	intent := JournalRecord{Kind: recIntent, RunKey: key, LoopID: lr.doc.LoopID, Step: step.Name, Stage: it.Stage, Dir: relDir, At: started, Intent: rc}
	var sink io.Writer = logFile
	live := false
	if w := r.report().StepStart(it, key); w != nil {
		sink, live = io.MultiWriter(logFile, w), true
	}
	out := artifacts.NewOutput(sink, r.opts.Clock, r.opts.OutputLimit, r.redactor())
	out.SetLive(live)
	var artifactFile *artifacts.AtomicFile
	if artifactAbs != "" {
		if err := os.MkdirAll(filepath.Dir(artifactAbs), 0o755); err != nil {
			return nil, fmt.Errorf("step %s: artifact folder: %w", step.Name, err)
		}
		if artifactFile, err = artifacts.CreateAtomic(artifactAbs, 0o644); err != nil {
			return nil, fmt.Errorf("step %s: artifact: %w", step.Name, err)
		}
		defer artifactFile.Abort()
		out.TeeStdout(artifactFile)
	}
	env := append(append([]string{}, r.opts.Env...),
		"SPINE_LOOP_ID="+lr.doc.LoopID, "SPINE_RUN_KEY="+key, "SPINE_STEP="+step.Name,
		"SPINE_ARTIFACT_DIR="+filepath.Join(r.opts.Root, filepath.FromSlash(r.opts.Config.Artifacts), lr.doc.Slug()))
	// The intent is durable before anything starts: after a crash the next
	// run knows this step may have run.
	line, err := encodeRecord(intent)
	if err != nil {
		return nil, err
	}
	if err := r.journal.appendLine(line, true); err != nil {
		return nil, err
	}
	r.fault(FaultAfterIntent)
	var res procResult
	switch step.Kind {
	case loops.KindVerify:
		res = r.runVerify(ctx, step, out, env, rc)
	default:
		res = runProcess(ctx, procSpec{
			Argv: append(append([]string{}, argv...), step.Command), Dir: r.opts.Root, Env: env,
			Path: r.paths.resolve(argv[0]), Stdin: r.stdin(),
			Stdout: out.Stream(artifacts.StreamStdout), Stderr: out.Stream(artifacts.StreamStderr),
			Timeout: r.stepTimeout(step), Bufs: &r.copyBufs,
			OnStart: func(pid int) error {
				intent.PID, intent.PGID = pid, pid
				if l, ok := withPID(line, pid); ok {
					return r.journal.appendLine(l, false)
				}
				return r.journal.AppendNoSync(intent)
			},
		})
	}
	r.fault(FaultAfterExit)
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("step %s: output: %w", step.Name, err)
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
	if rc.OutputTruncated {
		rc.Note = joinNote(rc.Note, fmt.Sprintf("output cut at %d bytes of %d", r.outputLimit(), rc.OutputBytes))
	}
	if artifactFile != nil {
		if err := artifactFile.Commit(); err != nil {
			return nil, fmt.Errorf("step %s: artifact: %w", step.Name, err)
		}
		sum, size, err := artifacts.HashFile(artifactAbs)
		if err != nil {
			return nil, err
		}
		rc.Artifacts = append(rc.Artifacts, artifacts.ArtifactRef{Path: artifactRel, SHA256: sum, Size: size})
	}
	// Not fsynced: if a power failure loses it, the durable intent makes
	// the step interrupted (held), never run twice; the next intent's or
	// the stage's sync flushes it.
	if err := r.journal.AppendNoSync(JournalRecord{Kind: recResult, RunKey: key, LoopID: rc.LoopID, Step: rc.Step, At: r.opts.Clock(), Receipt: rc}); err != nil {
		return nil, err
	}
	r.fault(FaultAfterResult)
	// The log is complete and closed: it becomes output.log as it is (see
	// Store.WriteLinked), its hash the one computed while it was written.
	if err := logFile.Close(); err != nil {
		return nil, fmt.Errorf("step %s: %w", step.Name, err)
	}
	if err := r.storeReceipt(lr, rc, func() (*artifacts.WriteResult, error) {
		return r.store.WriteLinked(rc, logPath, out.Size(), out.SHA256())
	}); err != nil {
		return nil, err
	}
	r.fault(FaultAfterReceipt)
	r.report().StepEnd(it, rc)
	return rc, nil
}

func (r *Runner) outputLimit() int64 {
	if r.opts.OutputLimit > 0 {
		return r.opts.OutputLimit
	}
	return artifacts.DefaultOutputLimit
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// refuse records a step that spine will not run (a bad artifact name, an
// unknown language) as a failed receipt, without starting anything.
func (r *Runner) refuse(lr *loopRun, it *Item, rc *artifacts.Receipt, why string) (*artifacts.Receipt, error) {
	rc.FinishedAt = rc.StartedAt
	rc.Status = artifacts.StatusFail
	rc.ExitCode = -1
	rc.Note = "not run: " + why
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
