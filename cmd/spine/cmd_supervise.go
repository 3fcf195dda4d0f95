package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/pipeline"
)

// supervisorCmd is the hidden command spine re-executes itself as to
// supervise a background step; it outlives the run that started it.
const supervisorCmd = "__supervise"

func newSuperviseCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:    supervisorCmd + " SPEC",
		Short:  "Supervise a background step (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if err := pipeline.Supervise(ctx, args[0]); err != nil {
				return exitf(exitFailed, "%v", err)
			}
			return nil
		},
	}
}
