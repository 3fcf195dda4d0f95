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
	Stdin   *os.File
	Dir     string
	Env     []string
	Stdout  io.Writer
	Stderr  io.Writer
	Timeout time.Duration
	// OnStart is called with the pid (= process group id) once started.
	OnStart func(pid int) error
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
	// Err is set when the process could not be started.
	Err error
}

// runProcess runs spec in its own process group with stdin closed. When the
// timeout expires or ctx is cancelled, the whole group gets SIGTERM, then
// SIGKILL after killGrace. When the main process exits, whatever is left of
// its group is killed, so no step leaves processes behind.
func runProcess(ctx context.Context, spec procSpec) procResult {
	runCtx := ctx
	var cancel context.CancelFunc
	if spec.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, spec.Timeout)
	} else {
		runCtx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
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
	cmd.Stdout, cmd.Stderr = spec.Stdout, spec.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = pipeGrace
	res := procResult{Start: time.Now()}
	if err := cmd.Start(); err != nil {
		res.End, res.ExitCode, res.Err = time.Now(), -1, err
		return res
	}
	pgid := cmd.Process.Pid
	if spec.OnStart != nil {
		if err := spec.OnStart(pgid); err != nil {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			_ = cmd.Wait()
			res.End, res.ExitCode, res.Err = time.Now(), -1, err
			return res
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-runCtx.Done():
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(killGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	err := cmd.Wait()
	close(done)
	// Leftovers of the group (daemons, background jobs) go with the step.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	res.End = time.Now()
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
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		res.Err = err
	}
	return res
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

// killGroup ends a process group left by a crashed run.
func killGroup(pgid int) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// describeEnd renders how a process ended, for receipt notes.
func describeEnd(r procResult, timeout time.Duration) string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("could not run: %v", r.Err)
	case r.TimedOut:
		return fmt.Sprintf("timed out after %s; process group killed", timeout)
	case r.Stopped:
		return "stopped: spine was asked to shut down"
	case r.Signal != "":
		return fmt.Sprintf("killed by signal %s", r.Signal)
	}
	return ""
}
