package packs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/spinehq/spine/artifacts"
)

// Defaults for RunOptions fields left zero.
const (
	// DefaultTimeout bounds a check that sets no timeout of its own.
	DefaultTimeout = 5 * time.Minute
	// DefaultGrace is how long a timed-out check's process group has
	// between SIGTERM and SIGKILL, and how long output is still read after
	// a check exits while something it left behind holds the pipe.
	DefaultGrace = 2 * time.Second
)

// RunOptions says where and how a pack's checks run.
type RunOptions struct {
	// Dir is the checks' working directory ("" is the current one).
	Dir string
	// Env is the checks' environment; nil inherits spine's.
	Env []string
	// DefaultTimeout applies to checks without a timeout (0: DefaultTimeout).
	DefaultTimeout time.Duration
	// Grace is the SIGTERM-to-SIGKILL delay (0: DefaultGrace).
	Grace time.Duration
	// Output receives, per check, a header line, the check's stdout and
	// stderr interleaved, and a result line. nil discards it.
	Output io.Writer
	// Umask, when set, is the umask the checks run under, where it is not
	// spine's own (see UnderUmask).
	Umask *fs.FileMode
}

// UnderUmask returns shell code that runs code under umask mask: code
// itself when mask is nil, else code after a umask command on its first
// line, so that the shell numbers code's lines as before ($LINENO, and
// its error messages). spine's own umask can differ from the one it was
// started with (a repository with core.sharedRepository: what spine
// writes there is the group's), and a step or a check must create files
// on the host as the operator's umask says.
func UnderUmask(code string, mask *fs.FileMode) string {
	if mask == nil {
		return code
	}
	return fmt.Sprintf("umask %04o; %s", *mask&0o777, code)
}

// Result is the outcome of running a pack.
type Result struct {
	Pack string `json:"pack"`
	// Checks holds one result per check, in pack order.
	Checks []artifacts.CheckResult `json:"checks"`
	Passed int                     `json:"passed"`
	Total  int                     `json:"total"`
	// Summary reads `N/M PASS`, followed by `; fail: A, B` for blocking
	// failures and `; non-blocking fail: D188` for non-blocking ones.
	Summary string `json:"summary"`
	// Failed is true when a blocking check failed: the verify step fails.
	Failed bool `json:"failed"`
}

// Run runs the pack's checks in order, each as `sh -c <run>` in its own
// process group with stdin closed. Every check runs, whatever earlier ones
// returned, so the result shows the pack's whole state. A check that
// outlives its timeout gets SIGTERM and, after the grace period, SIGKILL,
// both sent to its whole process group; when a check exits, whatever it
// left running in its group is killed, and output is read for at most the
// grace period after that, so a background process that holds the output
// pipe cannot hang the run. When ctx is cancelled the running check is
// stopped the same way and the remaining ones are recorded as failed
// without running.
func Run(ctx context.Context, p *Pack, opts RunOptions) Result {
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	out = lenient{out}
	res := Result{Pack: p.Name, Total: len(p.Checks)}
	var failed, nonBlocking []string
	for _, c := range p.Checks {
		title := c.ID
		if c.Title != "" {
			title += " " + c.Title
		}
		fmt.Fprintf(out, "== %s ==\n", title)
		var cr artifacts.CheckResult
		var note string
		if err := ctx.Err(); err != nil {
			cr = artifacts.CheckResult{ID: c.ID, Title: c.Title, Status: artifacts.StatusFail, ExitCode: -1, Blocking: c.Blocking}
			note = "not run: " + err.Error()
		} else {
			cr, note = runCheck(ctx, c, opts, out)
		}
		cr.Command = c.Run
		line := fmt.Sprintf("-- %s %s exit %d", c.ID, strings.ToUpper(cr.Status), cr.ExitCode)
		if note != "" {
			line += " " + note
		}
		if !c.Blocking {
			line += " (non-blocking)"
		}
		fmt.Fprintf(out, "%s %dms\n", line, cr.DurationMS)
		switch {
		case cr.Status == artifacts.StatusPass:
			res.Passed++
		case c.Blocking:
			failed = append(failed, c.ID)
			res.Failed = true
		default:
			nonBlocking = append(nonBlocking, c.ID)
		}
		res.Checks = append(res.Checks, cr)
	}
	res.Summary = fmt.Sprintf("%d/%d PASS", res.Passed, res.Total)
	if len(failed) > 0 {
		res.Summary += "; fail: " + strings.Join(failed, ", ")
	}
	if len(nonBlocking) > 0 {
		res.Summary += "; non-blocking fail: " + strings.Join(nonBlocking, ", ")
	}
	return res
}

// runCheck runs one check; note explains a failure that is not an exit
// status (timeout, cancellation, a command that could not start).
func runCheck(ctx context.Context, c Check, opts RunOptions, out io.Writer) (artifacts.CheckResult, string) {
	start := time.Now()
	cr := artifacts.CheckResult{ID: c.ID, Title: c.Title, Status: artifacts.StatusFail, ExitCode: -1, Blocking: c.Blocking}
	done := func(note string) (artifacts.CheckResult, string) {
		cr.DurationMS = time.Since(start).Milliseconds()
		return cr, note
	}
	if strings.TrimSpace(c.Run) == "" {
		return done("(no run command)")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = opts.DefaultTimeout
	}

	// The check writes into a pipe spine owns (not one os/exec copies
	// from), so that Wait returns as soon as the shell exits and the group
	// can be killed before output is drained.
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(out, "spine: %v\n", err)
		return done("(could not start)")
	}
	cmd := exec.Command("sh", "-c", UnderUmask(c.Run, opts.Umask))
	cmd.Dir = opts.Dir
	cmd.Env = opts.Env
	cmd.Stdout, cmd.Stderr = pw, pw
	// Its own session: a process group to kill, and no controlling
	// terminal to stop on (a check that reads /dev/tty fails instead).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		fmt.Fprintf(out, "spine: start check %s: %v\n", c.ID, err)
		return done("(could not start)")
	}
	pgid := cmd.Process.Pid

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, pr)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var note string
	select {
	case <-exited:
	case <-timer.C:
		note = fmt.Sprintf("(timed out after %s)", timeout)
		stopGroup(pgid, exited, opts.Grace)
	case <-ctx.Done():
		note = "(" + ctx.Err().Error() + ")"
		stopGroup(pgid, exited, opts.Grace)
	}
	// Whatever the check left running in its group goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(opts.Grace):
		// Something outside the group (setsid, a daemon) still holds the
		// pipe: stop reading.
		pr.Close()
		<-copied
		fmt.Fprintf(out, "spine: output of %s still open %s after it exited; stopped reading\n", c.ID, opts.Grace)
	}
	pr.Close()

	cr.ExitCode = cmd.ProcessState.ExitCode() // -1 when killed or not reaped
	if note == "" && cr.ExitCode == 0 {
		cr.Status = artifacts.StatusPass
	}
	if note == "" && cr.ExitCode < 0 && cmd.ProcessState != nil {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			note = "(killed by " + ws.Signal().String() + ")"
		}
	}
	return done(note)
}

// stopGroup sends SIGTERM to the group, then SIGKILL after grace, and waits
// for the shell to be reaped.
func stopGroup(pgid int, exited <-chan error, grace time.Duration) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
		return
	case <-t.C:
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-exited
}

// lenient swallows write errors, so that a failing Output never stops the
// pipe from being drained (a check blocked on a full pipe would hang until
// its timeout). It also hides ReadFrom, keeping io.Copy on plain reads that
// closing the pipe interrupts.
type lenient struct{ w io.Writer }

func (l lenient) Write(p []byte) (int, error) {
	_, _ = l.w.Write(p)
	return len(p), nil
}
