package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/pipeline"
)

func newPlanCmd(a *app) *cobra.Command {
	var asJSON bool
	var rf runFlags
	c := &cobra.Command{
		Use:   "plan",
		Short: "Show every step that is not done, with its state and why",
		Long: `Show every step that is not done, in document order, with its state and a
one-line reason:

  pending      will run on the next spine run
  running      a background step still running
  blocked      its gate is not approved
  failed       failed and held until edited or retried (--retry NAME)
  interrupted  a run stopped during it; held unless idempotent
  edited       its text changed after it passed; not re-run
  waiting      an earlier step, a manual step, another host or a dependency

plan reads the repository and writes nothing in it (its caches go to the state
folder, .git/spine). With --json, print one object
per step: loop_id, stage, name, state, reason.

Exit status 2 when an active loop's document has errors (spine run skips
it), 3 when something waits for an operator.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			rc, err := a.openRepoForPlanning()
			if err != nil {
				return err
			}
			opts, err := a.pipelineOptions(rc, &rf)
			if err != nil {
				return err
			}
			opts.History = rc.history
			planner, err := pipeline.Plan(opts)
			if err != nil {
				return err
			}
			items := []pipeline.Item{}
			held, invalid := false, false
			for i, planned := range planner.PlanLoops(rc.set.Docs) {
				d := rc.set.Docs[i]
				// spine run skips an invalid loop, exit 2; one without a
				// step to show (not a loop at all) is named here.
				if pipeline.InvalidLoop(d, planned) {
					invalid = true
					if len(planned) == 0 {
						fmt.Fprintf(a.stderr, "spine: %s\n", pipeline.InvalidSkip(d))
					}
				}
				for _, it := range planned {
					if it.State == pipeline.StateDone {
						continue
					}
					items = append(items, it)
					held = held || pipeline.OperatorHold(it)
				}
			}
			// Keep what the approval lookups learnt for the next command.
			_ = planner.Gates.SaveCache()
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(items); err != nil {
					return err
				}
			} else if len(items) == 0 && invalid {
				// Not "nothing pending": an invalid loop's steps are
				// not known, and it is named on standard error.
				fmt.Fprintln(a.stdout, "nothing planned: a loop is invalid (named above); fix it (spine lint)")
			} else if len(items) == 0 {
				fmt.Fprintln(a.stdout, "nothing pending")
			} else {
				tw := newTable(a.stdout)
				fmt.Fprintln(tw, "LOOP\tSTEP\tSTATE\tREASON")
				for _, it := range items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.LoopID, it.Name, it.State, it.Reason)
				}
				tw.Flush()
			}
			switch {
			case invalid:
				a.exit = exitUsage
			case held:
				a.exit = exitWaiting
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array, one object per step not done")
	c.Flags().StringVar(&rf.host, "host", "", "plan as host `NAME` (default: this machine's host name)")
	return c
}
