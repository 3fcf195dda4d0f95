package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"

	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/pipeline"
)

const (
	// hookMarker identifies a post-receive hook spine installed.
	hookMarker = "# spine-hook: post-receive v1"
	// chainedHook is the name an operator's own post-receive hook is kept
	// under while spine's is installed; spine's calls it first.
	chainedHook = "post-receive.spine-chained"
	// hookMaxCycles bounds the runs one worker does in a row.
	hookMaxCycles = 20
	// hookLockWait is how long the worker waits for a run holding its
	// clone's lock.
	hookLockWait = 30 * time.Minute
	// hookLogLimit is the size at which hook.log is rotated to hook.log.1.
	hookLogLimit = 8 << 20
)

// workerEnvKeys are the variables a hook's worker keeps from the push's
// environment (with LC_*). Everything else is dropped: for a push from the
// same machine the hook inherits the pusher's environment, which must not
// approve gates (NAME=yes), point git at the bare repository (GIT_DIR) or
// move spine's state. Variables steps need go in BARE/spine/env (KEY=VALUE
// lines).
func workerEnvKeys() []string {
	return []string{
		"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "SHELL",
		"SSH_AUTH_SOCK", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM",
		gitx.TokenEnv,
	}
}

// hookSetup is where a hook lives and what it runs.
type hookSetup struct {
	bare, branch, worktree, host string
	// shared is the bare repository's core.sharedRepository (resolve).
	shared gitx.SharedRepository
}

func (h *hookSetup) spineDir() string { return filepath.Join(h.bare, "spine") }
func (h *hookSetup) logPath() string  { return filepath.Join(h.spineDir(), "hook.log") }

// resolve fills the bare repository (from --repo) and the default
// worktree, checking the repository is bare.
func (h *hookSetup) resolve(a *app) error {
	if a.repo == "" {
		return exitf(exitUsage, "--repo BARE.git is required: the bare repository pushes arrive in")
	}
	if err := checkHostFlag(h.host); err != nil {
		return err
	}
	abs, err := filepath.Abs(a.repo)
	if err != nil {
		return err
	}
	r, err := git.PlainOpen(abs)
	if err != nil {
		return exitf(exitUsage, "--repo %s: %v", a.repo, err)
	}
	cfg, err := r.Config()
	if err != nil {
		return exitf(exitUsage, "--repo %s: %v", a.repo, err)
	}
	if !cfg.Core.IsBare {
		return exitf(exitUsage, "--repo %s is not a bare repository (the hook runs where pushes arrive)", a.repo)
	}
	// Pushes arrive in it as whoever pushed: git's receive-pack refuses a
	// repository of somebody else that safe.directory does not list, and
	// so does spine, which runs what its documents say.
	if err := gitx.CheckOwnership(abs); err != nil {
		return exitf(exitUsage, "--repo %s: %v", a.repo, err)
	}
	h.bare = abs
	a.noteSudoOwner(abs)
	// What the hook's commands make in the repository (its state folder,
	// the clone) is the group's when the repository is (git init
	// --shared): every operator's push runs spine as that operator.
	if err := a.applyShared(abs); err != nil {
		return err
	}
	h.shared = a.sharedRepo
	if h.worktree == "" {
		h.worktree = filepath.Join(h.spineDir(), "worktree")
	} else if h.worktree, err = filepath.Abs(h.worktree); err != nil {
		return err
	}
	if h.branch == "" {
		// The bare repository's own default branch (its HEAD), as a
		// clone of it would check out: main, or master in an older one.
		h.branch = "main"
		if data, err := os.ReadFile(filepath.Join(h.bare, "HEAD")); err == nil {
			if b, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "ref: refs/heads/"); ok && b != "" {
				h.branch = b
			}
		}
	}
	return nil
}

// hooksDir returns the bare repository's hooks folder (core.hooksPath when
// set).
func (h *hookSetup) hooksDir() string {
	r, err := git.PlainOpen(h.bare)
	if err == nil {
		if cfg, err := r.Config(); err == nil {
			if p := cfg.Raw.Section("core").Options.Get("hooksPath"); p != "" {
				if !filepath.IsAbs(p) {
					p = filepath.Join(h.bare, p)
				}
				return p
			}
		}
	}
	return filepath.Join(h.bare, "hooks")
}

func (h *hookSetup) flags(c *cobra.Command, withWorktree bool) {
	f := c.Flags()
	f.StringVar(&h.branch, "branch", "", "the `BRANCH` whose pushes start a run (default: the bare repository's HEAD branch)")
	if withWorktree {
		f.StringVar(&h.worktree, "worktree", "", "the working clone spine maintains (default: BARE/spine/worktree)")
		f.StringVar(&h.host, "host", "", "run as host `NAME` (default: this machine's host name)")
	}
}

// args are the arguments the hook and its worker are given.
func (h *hookSetup) args() []string {
	args := []string{"--repo", h.bare, "--branch", h.branch, "--worktree", h.worktree}
	if h.host != "" {
		args = append(args, "--host", h.host)
	}
	return args
}

// shQuote quotes s for a POSIX shell.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// hookScript renders the post-receive hook: a POSIX shell script, so a
// push pays for no more than a shell. It embeds the absolute path of the
// spine binary that installed it. It calls the operator's chained hook with
// the same input, and for an update of the branch records a run request and
// starts `spine hook run` in a new session with its input from /dev/null
// and its output to the hook log, so git push does not wait for it.
func hookScript(spine string, h *hookSetup) string {
	var run strings.Builder
	run.WriteString(`"$SPINE" hook run --requested`)
	for _, a := range h.args() {
		run.WriteString(" " + shQuote(a))
	}
	// In a shared repository (core.sharedRepository), what the hook makes
	// (the state folder, the request, the log) is the group's, as git's
	// objects are, and the worker is told the pusher's own umask, which
	// its steps run under.
	shared := ""
	if u := h.shared.ShellUmask(); u != "" {
		shared = `# core.sharedRepository is ` + h.shared.String() + ` here: what the hook and spine make in
# this repository is the group's, as what git makes is; steps run under the
# pusher's own umask. (Run spine hook install again after changing it.)
STEP_UMASK=$(umask)
umask ` + u + `
`
		run.WriteString(` --step-umask "$STEP_UMASK"`)
	}
	run.WriteString(` </dev/null >>"$LOG" 2>&1 &`)
	return `#!/bin/sh
` + hookMarker + `
# Installed by ` + "`spine hook install`" + `. For pushes to refs/heads/` + h.branch + ` it starts a
# detached ` + "`spine hook run`" + ` (log: ` + h.logPath() + `) and returns at once.
# ` + "`spine hook uninstall`" + ` removes it and restores the hook that was here before
# (kept as ` + chainedHook + `, which this hook calls first with the same input).
# Only shell built-ins run before the worker starts: a push waits for little.
SPINE=` + shQuote(spine) + `
BRANCH=` + shQuote(h.branch) + `
STATE=` + shQuote(h.spineDir()) + `
LOG="$STATE/hook.log"
` + shared + `input=
trigger=
while read -r old new ref; do
	input="$input$old $new $ref
"
	if [ "$ref" = "refs/heads/$BRANCH" ]; then
		case "$new" in *[!0]*) trigger=1 ;; esac
	fi
done
status=0
case "$0" in */*) hooks="${0%/*}" ;; *) hooks=. ;; esac
chained="$hooks/` + chainedHook + `"
if [ -x "$chained" ]; then
	printf '%s' "$input" | "$chained" "$@" || status=$?
fi
if [ -n "$trigger" ]; then
	{ [ -d "$STATE" ] || mkdir -p "$STATE"; } &&
		{ [ -e "$STATE/` + pipeline.RequestFile + `" ] || : >"$STATE/` + pipeline.RequestFile + `"; } &&
		if command -v setsid >/dev/null 2>&1; then
			setsid ` + run.String() + `
		else
			nohup ` + run.String() + `
		fi &&
		echo "spine: run started in the background (log: $LOG)" >&2
fi
exit $status
`
}

func isSpineHook(content []byte) bool {
	return bytes.Contains(content, []byte(hookMarker))
}

func newHookCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "hook",
		Short: "Run spine on every push: install or remove a post-receive hook in a bare repository",
	}
	c.AddCommand(newHookInstallCmd(a), newHookUninstallCmd(a), newHookRunCmd(a))
	return c
}

func newHookInstallCmd(a *app) *cobra.Command {
	var h hookSetup
	c := &cobra.Command{
		Use:   "install --repo BARE.git",
		Short: "Install the post-receive hook that runs spine after each push to the branch",
		Long: `Install a post-receive hook in the bare repository BARE.git. For each push to
--branch it starts a detached spine run, so git push returns at once; the
run works in a clone spine maintains (--worktree, default BARE/spine/worktree:
cloned on first use, then fetched and reset to the branch), runs the pending
steps under the lock and pushes its commits back into BARE.git. It logs to
BARE/spine/hook.log. Pushes that arrive during a run are picked up by a
follow-up run. The hook embeds the absolute path of this spine binary.

The run does not inherit the pusher's environment (so a push cannot approve
a gate with NAME=yes): it keeps PATH, HOME, USER, LANG and git's SSH and
config variables, plus KEY=VALUE lines from BARE/spine/env.

An existing post-receive hook is kept as post-receive.spine-chained and
called first with the same input; spine hook uninstall puts it back.

In a shared repository (git init --shared, core.sharedRepository) what the
hook and its runs make is the group's, as what git makes there, so that
every operator's push runs; steps run under the pusher's own umask. Install
again after changing core.sharedRepository.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := h.resolve(a); err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the spine executable: %w", err)
			}
			if s, err := filepath.EvalSymlinks(self); err == nil {
				self = s
			}
			dir := h.hooksDir()
			if err := os.MkdirAll(dir, fsx.DirMode); err != nil {
				return fmt.Errorf("hooks folder: %w", err)
			}
			hookPath := filepath.Join(dir, "post-receive")
			chained := filepath.Join(dir, chainedHook)
			existing, err := os.ReadFile(hookPath)
			switch {
			case errors.Is(err, os.ErrNotExist):
			case err != nil:
				return fmt.Errorf("read %s: %w", hookPath, err)
			case !isSpineHook(existing):
				if _, err := os.Lstat(chained); err == nil {
					return exitf(exitUsage, "%s exists and so does %s; move one of them away first", hookPath, chained)
				}
				if err := os.Rename(hookPath, chained); err != nil {
					return fmt.Errorf("keep the existing hook: %w", err)
				}
				fmt.Fprintf(a.stdout, "kept the existing post-receive hook as %s; spine's hook calls it first\n", chained)
			}
			if err := writeExecutable(hookPath, hookScript(self, &h)); err != nil {
				return err
			}
			if err := os.MkdirAll(h.spineDir(), fsx.DirMode); err != nil {
				return fmt.Errorf("hook state folder: %w", err)
			}
			if h.shared != gitx.SharedUmask {
				// As git makes the folders of a shared repository: what
				// is made in it belongs to the repository's group.
				if err := setGID(h.spineDir()); err != nil {
					return fmt.Errorf("hook state folder: %w", err)
				}
			}
			fmt.Fprintf(a.stdout, "installed %s\n  spine:    %s\n  branch:   %s\n  worktree: %s\n  log:      %s\n", hookPath, self, h.branch, h.worktree, h.logPath())
			return nil
		},
	}
	h.flags(c, true)
	return c
}

// setGID sets the set-group-ID bit of folder dir, so that what is made in
// it belongs to its group, as git does for the folders of a shared
// repository. A folder somebody else owns is left as it is.
func setGID(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil
	}
	return os.Chmod(dir, fi.Mode()&fs.ModePerm|fs.ModeSetgid)
}

// writeExecutable writes an executable file atomically.
func writeExecutable(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".spine-hook-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func newHookUninstallCmd(a *app) *cobra.Command {
	var (
		h     hookSetup
		purge bool
	)
	c := &cobra.Command{
		Use:   "uninstall --repo BARE.git",
		Short: "Remove spine's post-receive hook and restore the one it chained",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := h.resolve(a); err != nil {
				return err
			}
			dir := h.hooksDir()
			hookPath := filepath.Join(dir, "post-receive")
			chained := filepath.Join(dir, chainedHook)
			content, err := os.ReadFile(hookPath)
			switch {
			case errors.Is(err, os.ErrNotExist):
				fmt.Fprintf(a.stdout, "no post-receive hook in %s\n", dir)
			case err != nil:
				return fmt.Errorf("read %s: %w", hookPath, err)
			case !isSpineHook(content):
				return exitf(exitUsage, "%s is not spine's hook; left as it is", hookPath)
			default:
				if err := os.Remove(hookPath); err != nil {
					return fmt.Errorf("remove %s: %w", hookPath, err)
				}
				fmt.Fprintf(a.stdout, "removed spine's hook %s\n", hookPath)
			}
			if _, err := os.Lstat(chained); err == nil {
				if _, err := os.Lstat(hookPath); err == nil {
					return exitf(exitUsage, "cannot restore %s: %s exists", chained, hookPath)
				}
				if err := os.Rename(chained, hookPath); err != nil {
					return fmt.Errorf("restore %s: %w", chained, err)
				}
				fmt.Fprintf(a.stdout, "restored the previous hook %s\n", hookPath)
			}
			if purge {
				// Its journal and ledger are what keeps a step the running
				// worker runs from running again: never removed under it.
				if _, err := os.Stat(h.spineDir()); err == nil {
					unlock, ok, err := pipeline.TryWorkerLock(h.spineDir())
					if err != nil {
						return fmt.Errorf("worker lock: %w", err)
					}
					if !ok {
						return exitf(exitLocked, "a hook run is in progress in %s: %s kept; once it ends, run spine hook uninstall --purge again", h.spineDir(), h.spineDir())
					}
					defer unlock()
				}
				if err := os.RemoveAll(h.spineDir()); err != nil {
					return fmt.Errorf("remove %s: %w", h.spineDir(), err)
				}
				fmt.Fprintf(a.stdout, "removed %s (log and worktree)\n", h.spineDir())
			} else {
				fmt.Fprintf(a.stdout, "kept %s (log and worktree; --purge removes them)\n", h.spineDir())
			}
			return nil
		},
	}
	h.flags(c, false)
	c.Flags().BoolVar(&purge, "purge", false, "also remove BARE/spine (the log and the worktree; refused, exit 75, while a hook run is in progress)")
	return c
}

// cleanEnv reduces the worker's own environment (which its steps and the
// git programs go-git starts inherit) to the allowed variables, and
// rotates a hook log grown past hookLogLimit (this process still writes
// to the rotated file; the next worker starts a new one).
func cleanEnv(h *hookSetup) error {
	if fi, err := os.Stat(h.logPath()); err == nil && fi.Size() > hookLogLimit {
		_ = os.Rename(h.logPath(), h.logPath()+".1")
	}
	env, err := workerEnv(os.Environ(), filepath.Join(h.spineDir(), "env"))
	if err != nil {
		return err
	}
	os.Clearenv()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	return nil
}

// workerEnv keeps the allowed variables of env and adds those of the env
// file (absent is fine).
func workerEnv(env []string, envFile string) ([]string, error) {
	keep := map[string]bool{}
	for _, k := range workerEnvKeys() {
		keep[k] = true
	}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if keep[k] || strings.HasPrefix(k, "LC_") {
			out = append(out, kv)
		}
	}
	data, err := os.ReadFile(envFile)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", envFile, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || !strings.Contains(line, "=") {
			continue
		}
		out = append(out, strings.TrimPrefix(line, "export "))
	}
	return out, nil
}

// newHookRunCmd is the detached worker: it takes the run requests pushes
// left and, for each, syncs its clone with the bare repository, runs what
// is pending and pushes the results back.
func newHookRunCmd(a *app) *cobra.Command {
	var (
		h         hookSetup
		requested bool
		stepUmask string
	)
	c := &cobra.Command{
		Use:    "run",
		Short:  "The hook's detached worker (started by the post-receive hook)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stepUmask != "" {
				m, err := strconv.ParseUint(stepUmask, 8, 32)
				if err != nil || m > 0o777 {
					return exitf(exitUsage, "--step-umask %q: not an octal umask", stepUmask)
				}
				mask := fs.FileMode(m)
				a.stepUmask = &mask
			}
			if err := h.resolve(a); err != nil {
				return err
			}
			// This process is the worker: nothing of the push's environment
			// but the allowed variables reaches steps, gates or git.
			if err := cleanEnv(&h); err != nil {
				return err
			}
			log := a.cycleLogger(a.stderr).With("pid", os.Getpid())
			ctx, stop := stopSignals(cmd.Context())
			defer stop()
			// A worker started by hand runs at least one cycle; one the hook
			// started takes the request the hook left (or finds that a
			// running worker took it).
			if !requested {
				if err := pipeline.RequestRun(h.spineDir()); err != nil {
					return err
				}
			}
			rf := runFlags{host: h.host}
			cycle := func(ctx context.Context) error {
				return hookCycle(ctx, a, &h, &rf, log)
			}
			if err := pipeline.Drain(ctx, h.spineDir(), hookMaxCycles, cycle, log); err != nil {
				return exitf(exitFailed, "%v", err)
			}
			return nil
		},
	}
	h.flags(c, true)
	c.Flags().BoolVar(&requested, "requested", false, "the hook already recorded the request")
	c.Flags().StringVar(&stepUmask, "step-umask", "", "the pusher's own `UMASK` (octal), which steps run under, when the hook changed it for a shared repository")
	return c
}

// hookCycle is one cycle of the hook's worker in its clone.
func hookCycle(ctx context.Context, a *app, h *hookSetup, rf *runFlags, log *slog.Logger) error {
	log.Info("cycle", "worktree", h.worktree, "branch", h.branch)
	if _, err := os.Stat(filepath.Join(h.worktree, ".git")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(h.worktree), fsx.DirMode); err != nil {
			return fmt.Errorf("worktree: %w", err)
		}
		if _, err := gitx.Clone(ctx, h.bare, h.worktree, h.branch); err != nil {
			return err
		}
		// Each stage's commit then costs what it changes, not one
		// index entry per file of the repository.
		if err := gitx.EnableSplitIndex(h.worktree); err != nil {
			return fmt.Errorf("worktree: core.splitIndex: %w", err)
		}
		log.Info("cloned", "worktree", h.worktree)
	}
	// The clone is shared as the bare repository is, so that spine or
	// git run in it by hand make what the hook's runs can write to.
	if cur, err := gitx.ReadSharedRepository(h.worktree); err != nil || cur != h.shared {
		if err := gitx.SetSharedRepository(h.worktree, h.shared); err != nil {
			return fmt.Errorf("worktree: core.sharedRepository: %w", err)
		}
	}
	// The commands' plumbing, pointed at the clone.
	wa := *a
	wa.repo = h.worktree
	// The clone is part of the bare repository, which passed the
	// ownership check: in a shared one it belongs to the operator whose
	// push made it.
	if r, err := realDir(h.worktree); err == nil {
		wa.trusted = r
	}
	var rep *termReporter
	w := &pipeline.Watcher{
		Root: h.worktree, Remote: pipeline.DefaultRemote, Branch: h.branch, Push: true,
		DiscardLocalChanges: true, Log: wa.cycleLogger(a.stderr),
		Notice: func(msg string) { fmt.Fprintln(a.stdout, msg) },
		Load: func() (pipeline.Options, error) {
			rc, err := wa.openRepo()
			if err != nil {
				return pipeline.Options{}, err
			}
			opts, err := wa.pipelineOptions(rc, rf)
			if err != nil {
				return pipeline.Options{}, err
			}
			rep = newTermReporter(a.stdout, a.stderr, false)
			// A push cannot set NAME=yes: only a committed approval opens
			// a gate here.
			rep.gitApprovalsOnly = true
			opts.GitApprovalsOnly = true
			opts.Reporter = rep
			// A run started by hand in this clone is waited for: the
			// request this cycle took must not be dropped.
			opts.Wait = hookLockWait
			// One cycle, one Runner, at a time (pipeline.Options.OneProc).
			opts.OneProc = true
			return opts, nil
		},
		Ran: func(out *pipeline.Outcome) {
			if rep != nil {
				rep.summary(out)
			}
		},
	}
	res, err := w.Cycle(ctx)
	if err != nil {
		return err
	}
	switch {
	case res.Idle != "":
		log.Info(res.Idle)
		for _, s := range res.Invalid {
			log.Warn("loop skipped: its document is invalid", "loop", s.What, "why", s.Why)
		}
	case res.Push != nil && res.Push.Pushed:
		log.Info("pushed", "branch", h.branch, "head", res.Push.Head, "replayed", len(res.Push.Replayed))
	}
	return nil
}
