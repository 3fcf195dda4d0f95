package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/caps"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

func newCapCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "cap",
		Short: "Show the capability registry",
		Long: `Show the capability registry (capabilities.yaml, or the capabilities: path
of spine.yaml): the named actions the repository allows, with their safety
class, approval mode, gate and timeout. A step whose cap= names a registered
capability inherits its policy: a destructive or manual capability runs only
behind its gate (ALLOW_<NAME> when it names none), and its timeout is the
step's default timeout.`,
	}
	c.AddCommand(newCapListCmd(a))
	return c
}

// capJSON is one element of `spine cap list --json`.
type capJSON struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Safety      string `json:"safety,omitempty"`
	Approval    string `json:"approval,omitempty"`
	// Gate is the gate as the registry writes it.
	Gate string `json:"gate,omitempty"`
	// EffectiveGate is the gate steps using it run behind ("" for none).
	EffectiveGate string       `json:"effective_gate"`
	NeedsApproval bool         `json:"needs_approval"`
	Destructive   bool         `json:"destructive"`
	Timeout       string       `json:"timeout,omitempty"`
	Command       string       `json:"command,omitempty"`
	Extra         []caps.Field `json:"extra,omitempty"`
	Line          int          `json:"line"`
}

func newCapListCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the registered capabilities and the gate each runs behind",
		Long: `List the registered capabilities by name: safety, approval, the gate steps
using it run behind (marked "derived" when the registry names none and spine
uses ALLOW_<NAME>), timeout and description. Findings about the registry go
to stderr as file:line.

With --json, print a JSON array: name, description, safety, approval, gate,
effective_gate, needs_approval, destructive, timeout, command, extra, line.`,
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
			reg, probs, err := pipeline.LoadCapabilities(root, cfg)
			if err != nil {
				return exitf(exitUsage, "%v", err)
			}
			for _, p := range probs {
				fmt.Fprintln(a.stderr, termtext.Safe(p.String()))
			}
			out := []capJSON{}
			if reg == nil {
				if !asJSON {
					fmt.Fprintf(a.stdout, "no capability registry (%s)\n", cfg.Capabilities)
					return nil
				}
				return writeJSON(a, out)
			}
			for _, cp := range reg.Sorted() {
				cj := capJSON{
					Name: cp.Name, Description: cp.Description, Safety: cp.Safety, Approval: cp.Approval,
					Gate: cp.Gate, EffectiveGate: pipeline.CapabilityGate(cp), NeedsApproval: cp.NeedsApproval(),
					Destructive: cp.Destructive(), Command: cp.Command, Extra: cp.Extra, Line: cp.Line,
				}
				if cp.Timeout > 0 {
					cj.Timeout = cp.Timeout.String()
				}
				out = append(out, cj)
			}
			if asJSON {
				return writeJSON(a, out)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "NAME\tSAFETY\tAPPROVAL\tGATE\tTIMEOUT\tDESCRIPTION")
			for _, cj := range out {
				gate := cj.EffectiveGate
				if gate != "" && cj.Gate == "" {
					gate += " (derived)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cj.Name, dash(cj.Safety), dash(cj.Approval), dash(gate), dash(cj.Timeout), oneLineText(cj.Description, 60))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of capabilities")
	return c
}

// governanceFindings are the lint findings beyond the loop documents: the
// gap ledger (and its orphaned gaps), the capability registry (and steps
// that rely on a gate they do not name), and the verify packs.
func (a *app) governanceFindings(rc *repoContext) []loops.Problem {
	reg, probs, err := pipeline.LoadCapabilities(rc.root, rc.cfg)
	var out []loops.Problem
	if err != nil {
		out = append(out, pipeline.ErrorFinding(rc.cfg.Capabilities, err))
	}
	out = append(out, pipeline.CapabilityFindings(probs)...)
	return append(out, pipeline.GovernanceFindings(rc.root, rc.cfg, rc.set, reg)...)
}
