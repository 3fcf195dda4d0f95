package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
)

// SupervisorSpec tells a background step's supervisor what to run. It is
// written to the state folder before the supervisor starts.
type SupervisorSpec struct {
	Argv []string `json:"argv"`
	Dir  string   `json:"dir"`
	// Log is the output.log the supervisor streams to.
	Log string `json:"log"`
	// ExitFile receives the SupervisorExit once the command ended.
	ExitFile string `json:"exit_file"`
	// PIDFile receives the command's process group id.
	PIDFile string `json:"pid_file"`
	// Artifact, when set, receives the command's stdout.
	Artifact string `json:"artifact,omitempty"`
	// SecretEnv names the variables whose values are redacted.
	SecretEnv   []string      `json:"secret_env,omitempty"`
	OutputLimit int64         `json:"output_limit,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
}

// SupervisorExit is how a background command ended.
type SupervisorExit struct {
	ExitCode   int       `json:"exit_code"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Note       string    `json:"note,omitempty"`
	Truncated  bool      `json:"truncated,omitempty"`
	Bytes      int64     `json:"bytes,omitempty"`
	Redactions int       `json:"redactions,omitempty"`
}

// Supervise is the body of the supervisor process (`spine __supervise
// SPEC`): it runs the command with its output captured and redacted like
// any step's, then records how it ended. It outlives the run that started
// it; the next run or watch tick turns the result into a receipt.
func Supervise(ctx context.Context, specPath string) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	var spec SupervisorSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("supervise %s: %w", specPath, err)
	}
	logFile, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fsx.FileMode)
	if err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	defer logFile.Close()
	var secrets []string
	for _, name := range spec.SecretEnv {
		if v := os.Getenv(name); v != "" {
			secrets = append(secrets, v)
		}
	}
	out := artifacts.NewOutput(logFile, time.Now, spec.OutputLimit, artifacts.NewRedactor(secrets))
	out.SetLive(true) // `spine plan` shows the last line while it runs
	var art *os.File
	if spec.Artifact != "" {
		if art, err = os.Create(spec.Artifact); err != nil {
			return fmt.Errorf("supervise: %w", err)
		}
		defer art.Close()
		out.TeeStdout(art)
	}
	// As a step's (see Runner.runStep): one pipe unless stdout is an
	// artifact.
	stdout, stderr := out.Stream(artifacts.StreamCombined), io.Writer(nil)
	if art != nil {
		stdout, stderr = out.Stream(artifacts.StreamStdout), out.Stream(artifacts.StreamStderr)
	}
	res := runProcess(ctx, procSpec{
		Argv: spec.Argv, Dir: spec.Dir, Env: os.Environ(),
		Stdout: stdout, Stderr: stderr,
		Timeout: spec.Timeout,
		OnStart: func(pid int) error {
			return os.WriteFile(spec.PIDFile, []byte(strconv.Itoa(pid)), fsx.FileMode)
		},
	})
	closeErr := out.Close()
	_ = logFile.Sync()
	if art != nil {
		_ = art.Sync()
	}
	ex := SupervisorExit{
		ExitCode: res.ExitCode, Start: res.Start.UTC(), End: res.End.UTC(),
		Note: describeEnd(res, spec.Timeout), Truncated: out.Truncated(), Bytes: out.Bytes(), Redactions: out.Redactions(),
	}
	limit := spec.OutputLimit
	if limit <= 0 {
		limit = artifacts.DefaultOutputLimit
	}
	ex.Note = joinNote(ex.Note, cutNote(out))
	if closeErr != nil {
		ex.Note = joinNote(ex.Note, "output: "+closeErr.Error())
	}
	if res.Err != nil && ex.ExitCode == 0 {
		ex.ExitCode = -1
	}
	b, _ := json.Marshal(ex)
	return artifacts.WriteFileAtomic(spec.ExitFile, b, fsx.FileMode)
}

// startBackground starts a background step under a detached supervisor
// and journals it; the loop waits for it until a later run collects it.
func (r *Runner) startBackground(lr *loopRun, it *Item) error {
	if len(r.opts.Supervisor) == 0 {
		return fmt.Errorf("step %s: background steps need spine's supervisor (run spine from its binary)", it.Name)
	}
	step := it.Step
	argv, ok := Interpreter(step.Lang)
	if !ok {
		return fmt.Errorf("step %s: language %q is not runnable", step.Name, step.Lang)
	}
	started := r.opts.Clock()
	key, err := r.newRunKey(step.Capability(), started)
	if err != nil {
		return err
	}
	rc := r.newReceipt(lr, it, key, started)
	relDir, err := r.store.RelDir(key)
	if err != nil {
		return err
	}
	runs := filepath.Join(r.opts.StateDir, "runs")
	if err := os.MkdirAll(runs, fsx.DirMode); err != nil {
		return err
	}
	// A script file (code too long for a command line) goes when the
	// step is collected.
	cmdArgv, _, err := r.stepArgv(argv, step.Command, key)
	if err != nil {
		_, err := r.refuse(lr, it, rc, err.Error())
		return err
	}
	spec := SupervisorSpec{
		Argv: cmdArgv, Dir: r.opts.Root,
		Log: r.logPath(key), ExitFile: filepath.Join(runs, key+".exit"), PIDFile: filepath.Join(runs, key+".pid"),
		SecretEnv: r.opts.Config.Policy.SecretEnv, OutputLimit: r.opts.OutputLimit, Timeout: r.stepTimeout(step),
	}
	if step.Artifact != "" {
		rel, err := artifacts.ArtifactRelPath(r.opts.Config.Artifacts, lr.doc.Slug(), step.Artifact)
		if err != nil {
			_, err := r.refuse(lr, it, rc, fmt.Sprintf("artifact %q refused: %v", step.Artifact, err))
			return err
		}
		spec.Artifact = filepath.Join(runs, key+".artifact")
		rc.Artifacts = []artifacts.ArtifactRef{{Path: rel}}
	}
	specPath := filepath.Join(runs, key+".spec.json")
	b, _ := json.Marshal(spec)
	if err := artifacts.WriteFileAtomic(specPath, b, 0o600); err != nil {
		return err
	}
	intent := JournalRecord{Kind: recIntent, RunKey: key, LoopID: lr.doc.LoopID, Step: step.Name, Stage: it.Stage, Dir: relDir, At: started, Intent: rc, Background: true, ExitFile: spec.ExitFile}
	if err := r.journal.Append(intent); err != nil {
		return err
	}
	// The ledger's line once the intent is durable, as for a step in the
	// foreground (execute). A line that cannot be written fails the step
	// without starting it, as there: its result is journaled (durable;
	// the next run writes the receipt, and the step waits for --retry)
	// and the run stops. Before, the next run held the step as
	// interrupted, as if it might have run.
	if err := r.ledger(step, lr.doc, rc, started); err != nil {
		now := r.opts.Clock()
		rc.Status, rc.ExitCode = artifacts.StatusFail, -1
		rc.StartedAt = now.UTC().Format(time.RFC3339Nano)
		rc.FinishedAt, rc.DurationMS = rc.StartedAt, 0
		rc.Artifacts = nil // nothing was stored
		rc.Note = joinNote(rc.Note, describeEnd(procResult{Err: err}, 0))
		_ = os.Remove(specPath)
		notRun := fmt.Errorf("step %s: not run: %w", step.Name, err)
		res := JournalRecord{Kind: recResult, RunKey: key, LoopID: rc.LoopID, Step: rc.Step, At: now, Receipt: rc}
		if jerr := r.journal.append(res, true); jerr != nil {
			return errors.Join(notRun, jerr)
		}
		return notRun
	}
	env := append(slices.Clone(r.stepEnviron()),
		"SPINE_LOOP_ID="+lr.doc.LoopID, "SPINE_RUN_KEY="+key, "SPINE_STEP="+step.Name,
		"SPINE_ARTIFACT_DIR="+filepath.Join(r.opts.Root, filepath.FromSlash(r.opts.Config.Artifacts), lr.doc.Slug()))
	cmd := exec.Command(r.opts.Supervisor[0], append(append([]string{}, r.opts.Supervisor[1:]...), specPath)...)
	cmd.Dir, cmd.Env = r.opts.Root, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("step %s: start supervisor: %w", step.Name, err)
	}
	intent.PID, intent.PGID = cmd.Process.Pid, cmd.Process.Pid
	intent.StartTicks = procStartTicks(cmd.Process.Pid)
	if err := r.journal.AppendNoSync(intent); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reap it if this process lives on (watch)
	r.unfinishedAdd(intent)
	r.out.Background++
	r.report().Notice(fmt.Sprintf("    ⟳ %s started in the background (supervisor pid %d, %s); a later run records it", step.Name, cmd.Process.Pid, key))
	return nil
}

// unfinishedAdd makes the planner see a step started in this run.
func (r *Runner) unfinishedAdd(rec JournalRecord) {
	e := &Entry{Intent: &rec}
	r.planner.Unfinished[[2]string{rec.LoopID, rec.Step}] = e
}

// backgroundAlive reports whether a background step's supervisor is still
// the process the journal recorded (same pid and start time, so a reused
// pid after a reboot does not count).
func backgroundAlive(rec *JournalRecord) bool {
	if rec == nil || !rec.Background || rec.PID <= 0 || !processAlive(rec.PGID) {
		return false
	}
	return startedAt(rec.PID, rec.StartTicks)
}

// startedAt reports whether the process pid is the one that started at
// ticks (procStartTicks; 0, where unknown, matches any): a pid reused
// after the recorded process ended is not it.
func startedAt(pid int, ticks uint64) bool {
	return ticks == 0 || procStartTicks(pid) == ticks
}

// procStartTicks reads a process's start time (clock ticks since boot)
// from /proc, or 0.
func procStartTicks(pid int) uint64 {
	f := procStat(pid)
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// procGone reports whether /proc says process pid has exited and waits
// only to be reaped (a zombie, or dead): kill(2) still finds it, but it
// holds nothing any more. A spine killed under a parent that does not
// reap it (the hook's run, detached, under an init that reaps late or
// never) left its lock for every later run to stop on.
func procGone(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// procStat returns the fields of /proc/<pid>/stat after the command name
// (the first is the state), or nil.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name (field 2) may hold spaces; fields after it start
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// readExit reads a background step's exit file (what its supervisor
// recorded once the command ended).
func readExit(file string) (SupervisorExit, bool) {
	var ex SupervisorExit
	data, err := os.ReadFile(file)
	if file == "" || err != nil || json.Unmarshal(data, &ex) != nil {
		return SupervisorExit{}, false
	}
	return ex, true
}

// collectBackground turns a background step whose supervisor has ended
// into its receipt: pass or fail from the recorded exit, or interrupted
// when the supervisor died without recording one (killed, reboot).
func (r *Runner) collectBackground(e *Entry) (*artifacts.Receipt, bool) {
	in := e.Intent
	c := *in.Intent
	runs := filepath.Join(r.opts.StateDir, "runs")
	defer func() {
		for _, ext := range []string{".exit", ".pid", ".spec.json", ".artifact", ".sh"} {
			_ = os.Remove(filepath.Join(runs, c.RunKey+ext))
		}
	}()
	exitFile := in.ExitFile
	if exitFile == "" {
		exitFile = filepath.Join(runs, c.RunKey+".exit")
	}
	data, err := os.ReadFile(exitFile)
	var ex SupervisorExit
	if err != nil || json.Unmarshal(data, &ex) != nil {
		// The supervisor is gone without a result: kill what it left.
		if b, err := os.ReadFile(filepath.Join(runs, c.RunKey+".pid")); err == nil {
			if pg, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && processAlive(pg) {
				killGroup(pg)
			}
		}
		c.Status, c.ExitCode = artifacts.StatusInterrupted, -1
		c.FinishedAt = r.opts.Clock().UTC().Format(time.RFC3339Nano)
		c.Note = "the background step's supervisor ended without recording a result (killed or reboot)"
		c.Artifacts = []artifacts.ArtifactRef{}
		return &c, true
	}
	c.StartedAt = ex.Start.Format(time.RFC3339Nano)
	c.FinishedAt = ex.End.Format(time.RFC3339Nano)
	c.DurationMS = ex.End.Sub(ex.Start).Milliseconds()
	c.ExitCode = ex.ExitCode
	c.OutputTruncated, c.OutputBytes = ex.Truncated, ex.Bytes
	c.Redactions += ex.Redactions // plus those of the command
	c.Note = ex.Note
	c.Status = artifacts.StatusFail
	if ex.ExitCode == 0 {
		c.Status = artifacts.StatusPass
	}
	var refs []artifacts.ArtifactRef
	for _, a := range c.Artifacts {
		dst, err := artifacts.SafeJoin(r.opts.Root, a.Path)
		if err != nil {
			continue
		}
		src := filepath.Join(runs, c.RunKey+".artifact")
		if err := os.MkdirAll(filepath.Dir(dst), fsx.DirMode); err != nil {
			continue
		}
		if err := os.Rename(src, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if sum, size, err := artifacts.HashFile(dst); err == nil {
			refs = append(refs, artifacts.ArtifactRef{Path: a.Path, SHA256: sum, Size: size})
		}
	}
	if refs == nil {
		refs = []artifacts.ArtifactRef{}
	}
	c.Artifacts = refs
	return &c, true
}

// lastLine returns the last output line of a running background step.
func lastLine(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	size := fi.Size()
	off := max(0, size-4096)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	last := lines[len(lines)-1]
	if _, rest, ok := strings.Cut(last, "] "); ok {
		last = rest
	}
	return oneLine(last)
}
