package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

func newRunCmd(a *app) *cobra.Command {
	var (
		asJSON, dryRun, quiet bool
		loop                  string
		retry                 []string
		wait                  time.Duration
		rf                    runFlags
		push                  bool
		gf                    gitopsFlags
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the pending steps of every loop, receipt them and commit",
		Long: `Run the pending steps of every active loop (or --loop ID) in document order,
on this host. Each step runs in its own process group with stdin closed, in
the repository root, with SPINE_LOOP_ID, SPINE_RUN_KEY, SPINE_STEP and
SPINE_ARTIFACT_DIR set; sh and shell blocks run with sh -e, bash blocks with
bash -e -o pipefail. A gated step runs only when approved (NAME=yes in the
environment, or approvals: [NAME] committed by an approver). Its output goes
to receipts/YYYY/MM/DD/<RUN_KEY>/output.log (redacted), its receipt beside it;
after each stage the loop document's evidence block and last_heartbeat_utc
are regenerated and everything is committed.

A failed step is not re-run until its text changes or --retry NAME. A step a
crash interrupted is held unless idempotent (--retry NAME or spine resolve).
Only one run at a time: a second run waits --wait, then exits 75.

With --push, spine first fetches --remote --branch and fast-forwards the
clone to it (pushing first what only the clone has, as below), so that it
runs on what other runners have already recorded; when it cannot (an
unreachable remote, uncommitted changes the remote's would overwrite) it
says so and runs on the clone as it is, as spine watch does. After the
run, spine's commits (also those an earlier run could not push) are pushed
to --remote --branch with go-git. When the branch moved on meanwhile,
spine fetches, replays its own commits on the new head (receipts and
artifacts as they are; each loop document's evidence block and heartbeat
regenerated on the new version, saying so when someone changed the loop) and
pushes again, a few times with a pause. It never forces. A failed push exits
1 and leaves the commits committed locally for the next run --push.

A run on spine's own commit (HEAD has a Spine-Run trailer) that finds
nothing pending, nothing waiting for an operator and no invalid loop prints
one line and exits 0.

With --json, print only a JSON array of the receipts written. With --json
or --quiet, warnings (a loop skipped and why, a document's evidence not
updated) go to standard error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			opts, err := a.pipelineOptions(rc, &rf)
			if err != nil {
				return err
			}
			// A loop that is only on the remote is looked for once
			// run --push followed it.
			if loop != "" && rc.set.ByID(loop) == nil && !(push && !dryRun) {
				return exitf(exitUsage, "no loop %q in this repository", loop)
			}
			// Before anything runs: its receipts must have somewhere to go.
			if err := gf.checkRemote(rc.root, cmd.Flags().Changed("remote"), push && !dryRun); err != nil {
				return err
			}
			// With --push the clone first takes what the remote has, as
			// spine watch does: a clone that has not seen another runner's
			// receipts would run their steps again.
			if push && !dryRun {
				moved, behind, unfollowed, err := a.syncBeforeRun(cmd.Context(), opts, gf, quiet || asJSON)
				if err != nil {
					return err
				}
				if moved {
					if rc, err = a.openRepo(); err != nil {
						return err
					}
					if opts, err = a.pipelineOptions(rc, &rf); err != nil {
						return err
					}
				}
				opts.Behind, opts.Unfollowed = behind, unfollowed
				if loop != "" && rc.set.ByID(loop) == nil {
					return exitf(exitUsage, "no loop %q in this repository (nor on %s)", loop, gf.remote)
				}
			}
			opts.Loop, opts.DryRun, opts.Wait = loop, dryRun, wait
			// One Runner in this process: its steps may have it on one
			// processor (pipeline.Options.OneProc).
			opts.OneProc = true
			opts.Retry = map[string]bool{}
			for _, n := range retry {
				if err := retryable(rc.set, loop, n); err != nil {
					return exitf(exitUsage, "%v", err)
				}
				opts.Retry[n] = true
			}
			rep := newTermReporter(a.stdout, a.stderr, quiet || asJSON)
			opts.Reporter = rep
			ctx, stop := stopSignals(cmd.Context())
			defer stop()
			// A run triggered by spine's own commit finds nothing to do: say
			// so in one line (and still push what is not pushed yet). Not
			// when something waits or a loop is invalid: the run says what,
			// with its exit status, as it did for the commit before.
			if head, _ := selfTriggered(opts.Git); head != "" && !dryRun {
				// Not either while another run holds the lock: this one
				// waits --wait for it, and says so (exit 75).
				if look, err := pipeline.Look(opts); err == nil && !look.Work && look.Held == 0 && len(look.Invalid) == 0 && look.Holder == 0 {
					switch {
					case asJSON:
						fmt.Fprintln(a.stdout, "[]")
					case !quiet:
						fmt.Fprintf(a.stdout, "nothing to do: HEAD is spine's own commit (Spine-Run: %s)\n", head)
					}
					if push {
						return a.pushAfterRun(ctx, opts, gf, quiet || asJSON)
					}
					return nil
				}
			}
			out, err := pipeline.NewRunner(opts).Run(ctx)
			var locked *pipeline.LockedError
			if errors.As(err, &locked) {
				return exitf(exitLocked, "%v", locked)
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				// What ran is still reported (a stage commit that failed
				// after its steps ran): --json promises one object per run.
				if out != nil && len(out.Receipts) > 0 {
					if asJSON {
						if jerr := writeJSON(a, out.Receipts); jerr != nil {
							return jerr
						}
					} else {
						rep.summary(out)
					}
				}
				return exitf(exitFailed, "%v", err)
			}
			if asJSON {
				rcs := out.Receipts
				if rcs == nil {
					rcs = []*artifacts.Receipt{}
				}
				if err := writeJSON(a, rcs); err != nil {
					return err
				}
			} else {
				rep.summary(out)
			}
			switch {
			case out.Failed:
				a.exit = exitFailed
			case out.Invalid:
				a.exit = exitUsage
			case len(out.Held) > 0 || len(out.Skipped) > 0:
				// A loop skipped for uncommitted changes waits for an
				// operator to commit or revert them.
				a.exit = exitWaiting
			}
			// A signal stops the run (the step it stopped is recorded as
			// interrupted, and held unless idempotent): whoever started
			// it must not take that for success.
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return exitf(exitFailed, "stopped by signal; spine plan says what waits")
			}
			if push && !dryRun {
				if perr := a.pushAfterRun(ctx, opts, gf, quiet || asJSON); perr != nil {
					return perr
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&asJSON, "json", false, "print only a JSON array of the receipts written")
	f.BoolVar(&dryRun, "dry-run", false, "show what would run; run nothing and write nothing in the repository")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	f.StringVar(&loop, "loop", "", "run only loop `ID`")
	f.StringSliceVar(&retry, "retry", nil, "re-run failed or interrupted step `NAME` (repeatable)")
	f.DurationVar(&wait, "wait", 0, "wait this long for another run's lock before exiting 75")
	f.StringVar(&rf.host, "host", "", "run as host `NAME` (default: this machine's host name)")
	f.BoolVar(&push, "push", false, "push spine's commits (also those an earlier run could not push); replays them when the remote moved on, never forces")
	gf.register(f)
	return c
}

// selfTriggered returns the Spine-Run trailer of HEAD when HEAD is a commit
// spine made.
func selfTriggered(g *gitx.Repo) (string, error) {
	c, err := g.HeadCommit()
	if err != nil || c == nil {
		return "", err
	}
	return gitx.Trailer(c.Message, "Spine-Run"), nil
}

// retryable checks that --retry NAME names a step of the loop loopID (of
// any loop when empty): a misspelt name would otherwise retry nothing,
// without a word.
func retryable(set *loops.Set, loopID, name string) error {
	var idle []string
	for _, d := range set.Docs {
		if loopID != "" && d.LoopID != loopID {
			continue
		}
		if _, s := d.Step(name); s != nil {
			if d.Status != "active" && !d.HasErrors() {
				// A loop that does not run retries nothing: say so,
				// rather than that there is nothing to do.
				idle = append(idle, fmt.Sprintf("%s (status %q)", d.LoopID, d.Status))
				continue
			}
			return nil
		}
	}
	if len(idle) > 0 {
		return fmt.Errorf("--retry %s: its loop does not run: %s; only active loops run", name, strings.Join(idle, ", "))
	}
	if loopID != "" {
		return fmt.Errorf("--retry %s: loop %s has no step %q", name, loopID, name)
	}
	return fmt.Errorf("--retry %s: no loop has a step %q", name, name)
}
