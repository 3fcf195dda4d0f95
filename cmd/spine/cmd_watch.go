package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/pipeline"
)

// gitopsFlags name the remote branch spine follows and pushes to.
type gitopsFlags struct {
	remote, branch string
}

// checkRemote refuses a remote the repository at root does not have, when
// it must have it: push is set, or the remote was named on the command
// line (the default one may be missing: then there is nothing to follow).
func (g *gitopsFlags) checkRemote(root string, named, push bool) error {
	if !named && !push {
		return nil
	}
	repo, err := gitx.Open(root)
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	if !repo.HasRemote(g.remote) {
		return exitf(exitUsage, "the repository has no remote %q (git remote -v lists them; --remote NAME)", g.remote)
	}
	return nil
}

func (g *gitopsFlags) register(f *pflag.FlagSet) {
	f.StringVar(&g.remote, "remote", pipeline.DefaultRemote, "the git remote `NAME` to push to and follow")
	f.StringVar(&g.branch, "branch", "", "the remote `BRANCH` (default: the current branch)")
}

// pushOptions returns the options of a push or sync of run --push, its
// notices written where the command's messages go: standard error when
// stdout carries data (--json) or must stay quiet.
func (a *app) pushOptions(opts pipeline.Options, gf gitopsFlags, quiet bool) (pipeline.PushOptions, io.Writer) {
	out := a.stdout
	if quiet {
		out = a.stderr
	}
	po := pipeline.NewPushOptions(opts, gf.remote, gf.branch)
	po.Notice = func(msg string) { fmt.Fprintln(out, termtext.Safe(msg)) }
	return po, out
}

// syncBeforeRun brings the clone up to the remote branch before a run
// --push (pipeline.Sync, which pushes the clone's own commits first) and
// reports whether its head moved, which loops wait because the remote
// has runs of them the clone could not follow (pipeline.BehindLoops), and
// why the remote could not be fetched at all (pipeline.UnfollowedReason).
func (a *app) syncBeforeRun(ctx context.Context, opts pipeline.Options, gf gitopsFlags, quiet bool) (bool, map[string]string, string, error) {
	po, out := a.pushOptions(opts, gf, quiet)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := pipeline.Sync(sctx, po, true)
	behind := pipeline.BehindLoops(opts.Git, opts.Config.Receipts, res, err)
	unfollowed := pipeline.UnfollowedReason(gf.remote, res, err)
	var locked *pipeline.LockedError
	switch {
	case errors.As(err, &locked):
		return false, nil, "", exitf(exitLocked, "%v", locked)
	case err != nil:
		// As spine watch does: what is pending here still runs (a loop
		// with uncommitted changes is skipped, as always; one the remote
		// has runs of waits), and the push after the run replays spine's
		// commits or says why it cannot.
		msg := fmt.Sprintf("spine: warning: could not follow %s before running: %v; running on this clone as it is", gf.remote, err)
		if len(behind) > 0 {
			msg += fmt.Sprintf(", but for %s, which %s has runs of that this clone has not followed: they wait", strings.Join(slices.Sorted(maps.Keys(behind)), ", "), gf.remote)
		}
		if unfollowed != "" {
			msg += "; destructive steps bound to no host (host=) wait: another host may have run them"
		}
		fmt.Fprintln(a.stderr, msg)
		return false, behind, unfollowed, nil
	}
	if p := res.Push; p != nil && p.Pushed {
		reportPush(out, p)
	}
	if res.Moved() {
		fmt.Fprintf(out, "followed %s: %s..%s\n", gf.remote, shortHash(res.From), shortHash(res.To))
		if res.Push == nil {
			// As git fetch does after it fetched (a push that fetched
			// kept house itself).
			pipeline.Housekeep(ctx, opts.Git, a.logger())
		}
	}
	return res.Moved(), behind, "", nil
}

// reportPush says where a push that moved the remote branch went.
func reportPush(out io.Writer, res *pipeline.PushResult) {
	if len(res.Replayed) > 0 {
		fmt.Fprintf(out, "pushed to %s/%s after replaying %d commit(s) on its new head (%d attempt(s))\n", res.Remote, res.Branch, len(res.Replayed), res.Attempts)
		return
	}
	fmt.Fprintf(out, "pushed to %s/%s\n", res.Remote, res.Branch)
}

// pushAfterRun pushes spine's commits and reports what happened. Messages
// go to stderr when stdout carries data (--json) or must stay quiet.
func (a *app) pushAfterRun(ctx context.Context, opts pipeline.Options, gf gitopsFlags, quiet bool) error {
	po, out := a.pushOptions(opts, gf, quiet)
	// A stop signal during the run must not prevent pushing its receipts.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	res, err := pipeline.Push(pctx, po)
	if err != nil {
		return exitf(exitFailed, "%v", err)
	}
	switch {
	case res.Pushed:
		reportPush(out, res)
	case !quiet:
		fmt.Fprintf(out, "%s/%s is up to date\n", res.Remote, res.Branch)
	}
	return nil
}

// cycleLogger is the logger of long-running commands: informational
// messages on by default.
func (a *app) cycleLogger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func newWatchCmd(a *app) *cobra.Command {
	var (
		interval     time.Duration
		once, noPush bool
		quiet        bool
		loop         string
		rf           runFlags
		gf           gitopsFlags
	)
	c := &cobra.Command{
		Use:   "watch",
		Short: "Follow the remote and run pending steps, for timers and hosts without hooks",
		Long: `Follow the remote branch and run what is pending, every --interval, until
stopped. Each cycle fetches; commits only this clone has are pushed (replayed
when the remote moved on); the branch is fast-forwarded to the remote's head
(refusing to overwrite uncommitted changes); when something is pending (a
step ready, a gate approved by a pushed approval, a background step that
ended) the steps run as in spine run, under the lock; and spine's commits are
pushed. Without the remote, only local work is picked up.

SIGTERM or SIGINT stops it cleanly: between cycles at once; during a run the
running step is stopped and recorded as interrupted, and the receipts are
committed and pushed before exiting 0.

With --once, one cycle runs and spine exits: 1 when a step failed or the
cycle failed, else 0, also when another run holds the lock (not 75: for a
systemd timer, whose next tick runs what waits).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := a.repoRoot()
			if err != nil {
				return err
			}
			if err := gf.checkRemote(root, cmd.Flags().Changed("remote"), false); err != nil {
				return err
			}
			log := a.cycleLogger(a.stderr)
			var rep *termReporter
			w := &pipeline.Watcher{
				Root: root, Remote: gf.remote, Branch: gf.branch, Push: !noPush,
				Interval: interval, Log: log,
				Notice: func(msg string) { fmt.Fprintln(a.stdout, termtext.Safe(msg)) },
				Load: func() (pipeline.Options, error) {
					rc, err := a.openRepo()
					if err != nil {
						return pipeline.Options{}, err
					}
					opts, err := a.pipelineOptions(rc, &rf)
					if err != nil {
						return pipeline.Options{}, err
					}
					if loop != "" && rc.set.ByID(loop) == nil {
						return pipeline.Options{}, exitf(exitUsage, "no loop %q in this repository", loop)
					}
					// One cycle, one Runner, at a time
					// (pipeline.Options.OneProc).
					opts.Loop, opts.OneProc = loop, true
					rep = newTermReporter(a.stdout, a.stderr, quiet)
					opts.Reporter = rep
					return opts, nil
				},
				Ran: func(out *pipeline.Outcome) {
					if rep != nil {
						rep.summary(out)
					}
					a.giveBackNow()
				},
			}
			ctx, stop := stopSignals(cmd.Context())
			defer stop()
			if once {
				res, err := w.Cycle(ctx)
				if err != nil {
					var ee *exitError
					if errors.As(err, &ee) {
						return err
					}
					return exitf(exitFailed, "%v", err)
				}
				if res.Idle != "" && !quiet {
					fmt.Fprintln(a.stdout, termtext.Safe(res.Idle))
					for _, s := range res.Invalid {
						fmt.Fprintf(a.stdout, "skip %s\n", termtext.Safe(fmt.Sprint(s)))
					}
				}
				if res.Outcome != nil && res.Outcome.Failed {
					a.exit = exitFailed
				}
				return nil
			}
			log.Info("watching", "repo", root, "remote", gf.remote, "interval", interval, "push", !noPush)
			if err := w.Run(ctx); err != nil {
				return exitf(exitFailed, "%v", err)
			}
			log.Info("stopped by signal")
			return nil
		},
	}
	f := c.Flags()
	f.DurationVar(&interval, "interval", time.Minute, "pause between cycles")
	f.BoolVar(&once, "once", false, "run one cycle and exit")
	f.BoolVar(&noPush, "no-push", false, "do not push spine's commits")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only errors and log lines")
	f.StringVar(&loop, "loop", "", "run only loop `ID`")
	f.StringVar(&rf.host, "host", "", "run as host `NAME` (default: this machine's host name)")
	gf.register(f)
	return c
}
