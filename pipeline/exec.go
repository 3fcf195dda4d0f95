package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// killGrace is how long a step's process group has between SIGTERM and
// SIGKILL when its timeout expires or the run is stopped.
const killGrace = 5 * time.Second

// pipeGrace bounds how long output is still read after the step's main
// process exited (a daemon it left behind may hold the pipes open).
const pipeGrace = 2 * time.Second

// interpreters maps a fence language to the command that runs the block.
// Scripts run with errexit: a failing command stops the step, as an
// operator typing them by hand would stop.
var interpreters = map[string][]string{
	"sh":    {"sh", "-e", "-c"},
	"shell": {"sh", "-e", "-c"},
	"bash":  {"bash", "-e", "-o", "pipefail", "-c"},
}

// maxInlineScript is the longest step code passed to the shell as its -c
// argument. Linux refuses a single argument of 128 KiB or more
// (MAX_ARG_STRLEN: the exec fails, "argument list too long"); longer code
// goes to a script file that the shell runs instead (scriptArgv).
const maxInlineScript = 120 << 10

// scriptArgv returns the argv that runs code with interp (an interpreters
// entry, ending in -c): code as the -c argument when it is at most
// maxInlineScript bytes, else the path script, from which the shell reads
// it (file is then set, and the caller writes the file). Run from a file,
// the code sees the file's path as $0, and the shell names the file in its
// error messages; nothing else differs.
func scriptArgv(interp []string, code, script string) (argv []string, file bool) {
	if len(code) <= maxInlineScript {
		return append(append([]string{}, interp...), code), false
	}
	return append(append([]string{}, interp[:len(interp)-1]...), script), true
}

// Interpreter returns the argv prefix that runs a step written in lang.
func Interpreter(lang string) ([]string, bool) {
	argv, ok := interpreters[lang]
	return argv, ok
}

// procSpec describes one process to run.
type procSpec struct {
	Argv []string
	// Path, when set, is Argv[0] already resolved to an executable (see
	// commandPaths); Argv[0] stays the process's argv[0]. Empty: Argv[0]
	// is looked up in $PATH as exec.Command does.
	Path string
	// Stdin, when set, is the open /dev/null the process reads (see
	// Runner.devNull); nil: os/exec opens /dev/null for this process.
	Stdin  *os.File
	Dir    string
	Env    []string
	Stdout io.Writer
	// Stderr, when nil, is Stdout's pipe: the process writes both streams
	// to one pipe, and its output is read in the order it was written (two
	// pipes read by two goroutines gave lines of the two streams in the
	// order the goroutines happened to run: an error before the line that
	// led to it).
	Stderr  io.Writer
	Timeout time.Duration
	// OnStart is called with the pid (= process group id) once started.
	OnStart func(pid int) error
	// During, when set, is called on the caller's goroutine once OnStart
	// succeeded, while the process runs: another goroutine waits for the
	// process and its output meanwhile, so the end is timed when they
	// end, however long During takes. runProcess returns once both are
	// done.
	During func()
	// Bufs, when set, are the read buffers of stdout and stderr, reused
	// from step to step (nil: each copy allocates its own); runProcess is
	// done with them when it returns.
	Bufs *[2][]byte
}

// procResult is how a process ended.
type procResult struct {
	ExitCode int
	Start    time.Time
	End      time.Time
	TimedOut bool
	// Stopped is set when the run's context was cancelled (SIGTERM).
	Stopped bool
	Signal  string
	// LeftRunning is set when processes of the step's group were still
	// running once its main process had exited and its output was taken
	// (a daemon, a job sent to the background): they are killed.
	LeftRunning bool
	// OutputHeld is set when the step's output pipe was still open
	// pipeGrace after its main process exited (held by a process outside
	// its group, such as one started with setsid, which spine does not
	// stop): what came later was not read.
	OutputHeld bool
	// Err is set when the process could not be started.
	Err error
}

// runProcess runs spec in its own process group with stdin closed. When the
// timeout expires or ctx is cancelled, the whole group gets SIGTERM, then
// SIGKILL after killGrace. When the main process exits, whatever is left of
// its group is killed, so no step leaves processes behind.
//
// The output pipes are made here rather than by os/exec (see outputPipe),
// and the watch for a timeout or a stop is a context.AfterFunc rather than
// a goroutine per step: a step that ends on its own costs no goroutine, no
// wake-up and none of the descriptor-flag calls os/exec makes per pipe.
// What os/exec's WaitDelay did is done here: once the main process has
// exited, its output is read for at most pipeGrace more (a daemon it left
// behind may hold the pipes open), then abandoned.
func runProcess(ctx context.Context, spec procSpec) procResult {
	runCtx := ctx
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	var cmd *exec.Cmd
	if spec.Path != "" {
		cmd = exec.Command(spec.Path, spec.Argv[1:]...)
		cmd.Args[0] = spec.Argv[0]
	} else {
		cmd = exec.Command(spec.Argv[0], spec.Argv[1:]...)
	}
	cmd.Dir, cmd.Env = spec.Dir, spec.Env
	cmd.Stdin = nil
	if spec.Stdin != nil {
		cmd.Stdin = spec.Stdin
	}
	cmd.SysProcAttr = stepProcAttr()
	res := procResult{Start: time.Now()}
	fail := func(err error) procResult {
		res.End, res.ExitCode, res.Err = time.Now(), -1, err
		return res
	}
	outR, outW, err := outputPipe()
	if err != nil {
		return fail(err)
	}
	var errR, errW *os.File
	if spec.Stderr != nil {
		if errR, errW, err = outputPipe(); err != nil {
			outR.Close()
			outW.Close()
			return fail(err)
		}
		cmd.Stdout, cmd.Stderr = outW, errW
	} else {
		// One descriptor for both: os/exec gives the child one file as
		// fd 1 and 2 when Stdout and Stderr are the same *os.File.
		cmd.Stdout, cmd.Stderr = outW, outW
	}
	err = cmd.Start()
	// The child has its own copies: the parent's must go, or the readers
	// would never see the end of the output.
	outW.Close()
	if errW != nil {
		errW.Close()
	}
	if err != nil {
		outR.Close()
		if errR != nil {
			errR.Close()
		}
		return fail(err)
	}
	var bufs [2][]byte
	if spec.Bufs != nil {
		for i, b := range spec.Bufs {
			if b == nil {
				spec.Bufs[i] = make([]byte, copyBufSize)
			}
		}
		bufs = *spec.Bufs
	}
	copies := make(chan error, 2)
	go copyOutput(spec.Stdout, outR, bufs[0], copies)
	if errR != nil {
		go copyOutput(spec.Stderr, errR, bufs[1], copies)
	}
	pgid := cmd.Process.Pid
	// done is closed once the step is over (its process reaped, its
	// output taken): the escalation below must not signal the group then.
	done := make(chan struct{})
	stop := context.AfterFunc(runCtx, func() {
		select {
		case <-done:
			return
		default:
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(killGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
	defer stop()
	if spec.OnStart != nil {
		if err := spec.OnStart(pgid); err != nil {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			_ = cmd.Wait()
			close(done)
			_, _ = finishCopies(copies, outR, errR)
			return fail(err)
		}
	}
	var copyErr error
	wait := func() {
		err = cmd.Wait()
		// As os/exec's WaitDelay did: what the group still writes is read
		// for pipeGrace at most, then the leftovers (daemons, background
		// jobs) go with the step.
		res.OutputHeld, copyErr = finishCopies(copies, outR, errR)
		close(done)
		res.LeftRunning = groupLeftRunning(pgid)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		res.End = time.Now()
	}
	if spec.During != nil {
		waited := make(chan struct{})
		go func() {
			wait()
			close(waited)
		}()
		spec.During()
		<-waited
	} else {
		wait()
	}
	if ctxErr := runCtx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) && ctx.Err() == nil {
			res.TimedOut = true
		} else {
			res.Stopped = true
		}
	}
	res.ExitCode = cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal().String()
		res.ExitCode = 128 + int(ws.Signal())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		res.Err = err
	} else if err == nil && copyErr != nil {
		// As os/exec reports it: the output could not be taken.
		res.Err = copyErr
	}
	return res
}

// copyBufSize is the size of an output pipe's read buffer (io.Copy's).
const copyBufSize = 32 << 10

// copyOutput copies the read end of an output pipe to w until the end of
// the output (or a failed write), through buf (nil: one of its own), then
// closes it (a writer that failed leaves the child a broken pipe rather
// than a full one) and reports.
func copyOutput(w io.Writer, r *os.File, buf []byte, done chan<- error) {
	// The struct hides the file's WriteTo, which would take a new buffer.
	_, err := io.CopyBuffer(w, struct{ io.Reader }{r}, buf)
	r.Close()
	done <- err
}

// finishCopies waits for the two copyOutput calls of a process that has
// exited: for pipeGrace at most, after which their reads are abandoned (a
// process left behind still holds the pipes). It reports whether it
// abandoned them, and returns the first error of a copy, not counting an
// abandoned read.
func finishCopies(copies <-chan error, outR, errR *os.File) (abandoned bool, err error) {
	var first error
	note := func(err error) {
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) && first == nil {
			first = err
		}
	}
	count := 2
	if errR == nil {
		count = 1 // one pipe for both streams
	}
	t := time.NewTimer(pipeGrace)
	defer t.Stop()
	for n := 0; n < count; n++ {
		select {
		case err := <-copies:
			note(err)
		case <-t.C:
			// Abandon the reads (one may be over already: its file is
			// closed and the deadline fails, harmlessly).
			now := time.Now()
			_ = outR.SetReadDeadline(now)
			if errR != nil {
				_ = errR.SetReadDeadline(now)
			}
			for ; n < count; n++ {
				note(<-copies)
			}
			return true, first
		}
	}
	return false, first
}

// commandPaths remembers where the interpreters of a run's steps are: a
// step's process starts without searching $PATH again (a dozen stats per
// step). Only successful look-ups are kept, so a missing interpreter fails
// each step exactly as exec.Command reports it. Not safe for concurrent
// use: the Runner runs one step at a time.
type commandPaths map[string]string

// resolve returns the executable exec.Command would run for name, or ""
// when name is a path or cannot be found (the caller then leaves the
// look-up, and its error, to exec.Command).
func (c commandPaths) resolve(name string) string {
	if c == nil {
		return ""
	}
	if p, ok := c[name]; ok {
		return p
	}
	if strings.ContainsRune(name, filepath.Separator) {
		return ""
	}
	p, err := exec.LookPath(name)
	if err != nil || !filepath.IsAbs(p) {
		return ""
	}
	c[name] = p
	return p
}

// processAlive reports whether any process of group pgid still exists.
func processAlive(pgid int) bool {
	if pgid <= 0 {
		return false
	}
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// killGroup ends a process group left by a crashed run, and waits (up to
// killWait) until it is gone: an interrupted idempotent step may be run
// again next, and never beside what is left of its last run.
func killGroup(pgid int) {
	if pgid <= 0 {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for deadline := time.Now().Add(killWait); processAlive(pgid) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// killWait bounds killGroup's wait: a process killed but not reaped (a
// zombie whose new parent does not reap) counts as alive.
const killWait = 5 * time.Second

// leftRunningNote is the note of a step that left processes running.
const leftRunningNote = "killed what it left running in its process group (a step's processes end with it; background=true runs one that outlives the run)"

// describeEnd renders how a process ended, for receipt notes.
func describeEnd(r procResult, timeout time.Duration) string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("could not run: %v", r.Err)
	case r.TimedOut:
		return fmt.Sprintf("timed out after %s; process group killed", timeout)
	case r.Stopped:
		return "stopped: spine was asked to shut down"
	case r.Signal != "" && r.LeftRunning:
		return joinNote(fmt.Sprintf("killed by signal %s", r.Signal), leftRunningNote)
	case r.Signal != "":
		return fmt.Sprintf("killed by signal %s", r.Signal)
	case r.LeftRunning:
		// What held the output, if anything, was of the group: killed.
		return leftRunningNote
	case r.OutputHeld:
		return heldNote()
	}
	return ""
}

// heldNote returns the note of a step whose output pipe a process outside
// its group held open (see procResult.OutputHeld).
func heldNote() string {
	return fmt.Sprintf("its output was still held open %s after it exited, by a process it started outside its process group (setsid?), which spine does not stop; output after that was not read", pipeGrace)
}
