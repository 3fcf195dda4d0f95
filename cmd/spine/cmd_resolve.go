package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/pipeline"
)

func newResolveCmd(a *app) *cobra.Command {
	var (
		as, note, loop string
		asJSON         bool
		rf             runFlags
	)
	c := &cobra.Command{
		Use:   "resolve NAME --as pass|fail --note TEXT",
		Short: "Record an operator's verdict on a held step without running it",
		Long: `Record an operator's verdict on a step spine holds (interrupted by a crash,
failed, or blocked): a receipt with status pass or fail and your note, committed
like a stage run. Use it after checking by hand what an interrupted
destructive step did. A pass lets the loop continue with the next step.
A step that is not held (passed, pending, waiting) is refused, and so is a
pass of a gated step whose gate is not approved (NAME=yes, or a committed
approval), or a fail of one with allow_failure (which lets the loop go on,
as a pass does): resolve is not a way round a gate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if as != "pass" && as != "fail" {
				return exitf(exitUsage, "--as must be pass or fail")
			}
			if note == "" {
				return exitf(exitUsage, "--note is required: say what you checked")
			}
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			opts, err := a.pipelineOptions(rc, &rf)
			if err != nil {
				return err
			}
			receipt, err := pipeline.NewRunner(opts).Resolve(a.ctx(), loop, args[0], as, note)
			var locked *pipeline.LockedError
			if errors.As(err, &locked) {
				return exitf(exitLocked, "%v", locked)
			}
			var uncommitted *pipeline.NotCommittedError
			if errors.As(err, &uncommitted) {
				return exitf(exitFailed, "%v", err)
			}
			if err != nil {
				return exitf(exitUsage, "%v", err)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(receipt)
			}
			fmt.Fprintf(a.stdout, "%s/%s resolved as %s: %s\n", receipt.LoopID, receipt.Step, receipt.Status, receipt.RunKey)
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "the verdict: pass or fail")
	c.Flags().StringVar(&note, "note", "", "what you checked (recorded in the receipt)")
	c.Flags().StringVar(&loop, "loop", "", "the loop `ID` (when several loops have the step)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the receipt as JSON")
	c.Flags().StringVar(&rf.host, "host", "", "record as host `NAME`")
	return c
}
