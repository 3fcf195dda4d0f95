package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/artifacts"
)

func newVerifyCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify",
		Short: "Recompute every receipt's hashes and each loop's receipt chain",
		Long: `Recompute the hashes of every receipt: its output.log (output_sha256), its
artifacts (sha256 and size), its command (command_sha256); check that each
receipt sits in the folder its run key names; and check each loop's hash
chain (every receipt's prev is the sha256 of the loop's previous
receipt.json). Each mismatch is named: a changed output.log, an edited
receipt, a receipt removed from the middle of a chain.

Exit status 1 when anything does not match.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			root, err := a.repoRoot()
			if err != nil {
				return err
			}
			cfg, err := a.config(root)
			if err != nil {
				return err
			}
			rep, err := artifacts.Verify(root, &artifacts.Store{Root: root, Dir: cfg.Receipts})
			if err != nil {
				return exitf(exitFailed, "%v", err)
			}
			if rep.Problems == nil {
				rep.Problems = []artifacts.Problem{}
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(a.stdout, p.String())
				}
				if rep.OK() {
					fmt.Fprintf(a.stdout, "%d receipt(s) verified: hashes and chains match\n", rep.Receipts)
				} else {
					fmt.Fprintf(a.stdout, "%d problem(s) in %d receipt(s)\n", len(rep.Problems), rep.Receipts)
				}
			}
			if !rep.OK() {
				a.exit = exitFailed
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}
