package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
)

func newLintCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "lint",
		Short: "Check every loop document and report findings as file:line",
		Long: `Check every loop document and print each finding as
file:line: level: message. Findings cover rejected YAML, missing or
duplicate loop ids, duplicate step names, unknown or mistyped step
attributes, steps outside any stage, artifact names that escape their
folder, and unknown status values; beyond the documents: the gap ledger
(duplicate ids, values outside the documented sets, orphaned gaps whose
parent loop is closed or missing), the capability registry (and steps whose
capability needs approval but that name no gate), and the verify packs
(unknown fields, duplicate check ids, checks without run, missing packs).

Exit status 2 when any finding is an error.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			rc, err := a.openRepoReadOnly()
			if err != nil {
				return err
			}
			probs := append(rc.set.AllProblems(), a.governanceFindings(rc)...)
			if asJSON {
				if probs == nil {
					probs = []loops.Problem{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(probs); err != nil {
					return err
				}
			} else {
				for _, p := range probs {
					// A finding quotes the document (an attribute, a
					// frontmatter value): made safe for the terminal.
					fmt.Fprintln(a.stdout, termtext.Safe(p.String()))
				}
			}
			errs := 0
			for _, p := range probs {
				if p.Level == loops.LevelError {
					errs++
				}
			}
			if errs > 0 {
				if !asJSON {
					fmt.Fprintf(a.stderr, "%d error(s), %d warning(s) in %d document(s)\n", errs, len(probs)-errs, len(rc.set.Docs))
				}
				a.exit = exitUsage
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print findings as a JSON array")
	return c
}
