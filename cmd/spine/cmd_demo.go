package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/internal/demo"
)

func newDemoCmd(a *app) *cobra.Command {
	var (
		dir   string
		serve bool
		addr  string
	)
	c := &cobra.Command{
		Use:   "demo [--dir DIR] [--serve]",
		Short: "Create an example governed repository and run it end to end",
		Long: `Create a governed repository from the example embedded in spine (a storage
capacity normalization loop with harmless stand-ins for zpool, wipefs, zfs
and rsync in its bin/) and run it end to end: a first run that stops at the
approval gate, an approved run that provisions and starts a background copy,
a run that records the copy and closes out, then the evidence site.

Nothing is written outside DIR (default: a new temporary folder, printed);
no network, no root. With --serve, serve the site and print its URL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "spine-demo-")
				if err != nil {
					return err
				}
				dir = d
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
				return exitf(exitUsage, "demo: %s is not empty; give a new folder (or none: a temporary one)", abs)
			}
			ctx, stop := stopSignals(context.Background())
			defer stop()
			ver := receiptVersion()
			var supervisor []string
			if exe, err := os.Executable(); err == nil {
				supervisor = []string{exe, supervisorCmd}
			}
			res, err := demo.Run(ctx, demo.Options{
				Dir: abs, Out: a.stdout, Reporter: newTermReporter(a.stdout, a.stderr, false),
				Supervisor: supervisor, Version: ver, BuildSite: a.demoSite,
			})
			if err != nil {
				return exitf(exitFailed, "demo: %v", err)
			}
			fmt.Fprintf(a.stdout, "\nDone in %.1fs. Look around:\n", res.Elapsed.Seconds())
			fmt.Fprintf(a.stdout, "  cd %s && git log --stat     # one commit per stage, receipts and artifacts\n", abs)
			fmt.Fprintf(a.stdout, "  spine status --repo %s %s   # the loop step by step\n", abs, demo.LoopID)
			if res.Site != "" {
				fmt.Fprintf(a.stdout, "  open %s\n", res.Site)
			}
			if serve {
				return a.serveSite(ctx, abs, addr)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "create the demo repository in `DIR` (default: a new temporary folder)")
	c.Flags().BoolVar(&serve, "serve", false, "serve the evidence site afterwards")
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address for --serve")
	return c
}
