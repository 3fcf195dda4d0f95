package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
)

// ErrLocked is returned when another run holds the repository lock.
var ErrLocked = errors.New("another spine run holds the lock")

// LockedError names the process holding the lock.
type LockedError struct {
	Path string
	PID  int
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("another spine run (pid %d) holds the lock %s", e.PID, e.Path)
	}
	return fmt.Sprintf("another spine run holds the lock %s", e.Path)
}

// Unwrap makes errors.Is(err, ErrLocked) work.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is the per-repository run lock: an flock(2) on a file in the state
// folder, so the kernel releases it when the holder dies and a crash never
// leaves a lock behind. The holder's pid is written into the file for the
// error message of the next run.
type Lock struct {
	fl   *flock.Flock
	path string
}

// AcquireLock takes the lock in stateDir, waiting up to wait (0: not at
// all). A pid recorded by a holder that is gone is logged as taken over.
func AcquireLock(ctx context.Context, stateDir string, wait time.Duration, log *slog.Logger) (*Lock, error) {
	if err := os.MkdirAll(stateDir, fsx.DirMode); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	path := filepath.Join(stateDir, "lock")
	fl := flock.New(path, flock.SetPermissions(fsx.FileMode))
	deadline := time.Now().Add(wait)
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			break
		}
		if !time.Now().Before(deadline) {
			return nil, &LockedError{Path: path, PID: readPID(path)}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if old := readPID(path); old > 0 && old != os.Getpid() {
		if log != nil {
			log.Info("took over the lock of a run that is gone", "pid", old, "lock", path)
		}
	}
	// The pid, and when that process started: a pid a later process was
	// given is no holder (runHolder).
	pid := os.Getpid()
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", pid, procStartTicks(pid))), fsx.FileMode); err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{fl: fl, path: path}, nil
}

// Release clears the recorded pid and releases the lock.
func (l *Lock) Release() error {
	_ = os.WriteFile(l.path, nil, fsx.FileMode)
	return l.fl.Unlock()
}

func readPID(path string) int {
	pid, _ := readHolder(path)
	return pid
}

// readHolder returns the pid a lock file records, and the start time
// (clock ticks since boot) of that process when it records one (0: not).
func readHolder(path string) (pid int, ticks uint64) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, 0
	}
	pid, _ = strconv.Atoi(f[0])
	if len(f) > 1 {
		ticks, _ = strconv.ParseUint(f[1], 10, 64)
	}
	return pid, ticks
}

// LockRepo takes the run lock of the repository g's working tree, waiting
// up to wait: the lock of <git dir>/spine (the default state folder) and,
// when stateDir is another folder (SPINE_STATE_DIR), its lock too, in that
// order. Two commands on one checkout exclude each other whatever state
// folder each was given: a run with its own state folder has its own
// journal and ledger, and would otherwise run a destructive step the
// other is running or has run. release frees both.
func LockRepo(ctx context.Context, g *gitx.Repo, stateDir string, wait time.Duration, log *slog.Logger) (release func(), err error) {
	var dirs []string
	if g != nil {
		gitDir, err := g.GitDir()
		if err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		dirs = append(dirs, filepath.Join(gitDir, "spine"))
	}
	if stateDir != "" && (len(dirs) == 0 || !sameDir(dirs[0], stateDir)) {
		dirs = append(dirs, stateDir)
	}
	var held []*Lock
	release = func() {
		for i := len(held) - 1; i >= 0; i-- {
			_ = held[i].Release()
		}
	}
	for _, d := range dirs {
		l, err := AcquireLock(ctx, d, wait, log)
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, l)
	}
	return release, nil
}

// sameDir reports whether the folders a and b (made when missing) are one
// folder: a lock file taken twice by one process would refuse itself.
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	if os.MkdirAll(a, fsx.DirMode) != nil || os.MkdirAll(b, fsx.DirMode) != nil {
		return false
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// repoHolder returns the pid of another live process holding the run lock
// LockRepo would take for opts (that of the git folder's spine folder,
// then that of opts.StateDir), or 0.
func repoHolder(opts Options) int {
	if opts.Git != nil {
		if gitDir, err := opts.Git.GitDir(); err == nil {
			if pid := runHolder(filepath.Join(gitDir, "spine")); pid > 0 {
				return pid
			}
		}
	}
	if opts.StateDir == "" {
		return 0
	}
	return runHolder(opts.StateDir)
}

// runHolder returns the pid of another live process that holds the run
// lock of stateDir (the pid it recorded; 0 when none, when the recorded
// one is gone, or when it is this process). A pid reused since is taken
// for the holder: only what plan and status say depends on it.
func runHolder(stateDir string) int {
	pid, ticks := readHolder(filepath.Join(stateDir, "lock"))
	if pid <= 0 || pid == os.Getpid() || !pidAlive(pid) || !startedAt(pid, ticks) {
		return 0
	}
	return pid
}
