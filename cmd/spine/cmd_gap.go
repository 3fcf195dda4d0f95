package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/gaps"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/pipeline"
)

func newGapCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "gap",
		Short: "List, file and close gaps in the gap ledger",
		Long: `List, file and close gaps in the gap ledger (gaps.yaml, or the gaps: path of
spine.yaml). file and close edit only the lines of the gap they touch, write a
receipt in the chain of the gap's parent loop, and commit exactly the ledger
and the receipt.`,
	}
	c.AddCommand(newGapListCmd(a), newGapFileCmd(a), newGapCloseCmd(a))
	return c
}

// readLedger reads the repository's gap ledger; a missing file is an empty
// ledger.
func (a *app) readLedger(rc *repoContext) (*gaps.Ledger, error) {
	rel := rc.cfg.Gaps
	full, err := artifacts.SafeJoin(rc.root, rel)
	if err != nil {
		return nil, exitf(exitUsage, "gaps: %v", err)
	}
	data, err := os.ReadFile(full)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, exitf(exitUsage, "read %s: %v", rel, err)
	}
	l, err := gaps.Parse(rel, data)
	if err != nil {
		return nil, exitf(exitUsage, "%v", err)
	}
	return l, nil
}

// printGapProblems writes ledger findings to stderr as file:line lines.
func (a *app) printGapProblems(probs []gaps.Problem) {
	for _, p := range probs {
		fmt.Fprintln(a.stderr, termtext.Safe(p.String()))
	}
}

func newGapListCmd(a *app) *cobra.Command {
	var (
		asJSON bool
		f      gaps.Filter
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List the gaps of the ledger",
		Long: `List the gaps of the ledger in ledger order: id, status, severity, type,
parent loop, line and title. --open keeps the gaps that still want work (any
status but fixed, closed, resolved, done and the parking ones); --loop keeps
the gaps a loop owns (parent_loop or discovered_by).

With --json, print a JSON array of gaps with the ledger's field names (id,
title, description, type, severity, status, discovered_by, discovered_at,
parent_loop, fixed_in, fixed_at, closed_at, notes, doc), every other key in
extra, and the line of each entry.

Findings about the ledger (duplicate ids, values outside the documented sets)
go to stderr as file:line; the gaps are listed as written, none is dropped.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			l, err := a.readLedger(rc)
			if err != nil {
				return err
			}
			a.printGapProblems(l.Problems)
			sel := gaps.Select(l.Gaps, f)
			if asJSON {
				if sel == nil {
					sel = []gaps.Gap{}
				}
				return writeJSON(a, sel)
			}
			if len(sel) == 0 {
				fmt.Fprintln(a.stdout, "no gaps")
				return nil
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tTYPE\tPARENT LOOP\tLINE\tTITLE")
			for _, g := range sel {
				st := g.Status
				if st == "" {
					st = "(open)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", dash(g.ID), st, dash(g.Severity), dash(g.Type), dash(g.ParentLoop), g.Line, oneLineText(gapText(g), 80))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of gaps")
	c.Flags().BoolVar(&f.Open, "open", false, "only gaps that still want work")
	c.Flags().StringVar(&f.Loop, "loop", "", "only gaps of loop `ID` (parent_loop or discovered_by)")
	return c
}

// gapText is a gap's title, or the first line of its description.
func gapText(g gaps.Gap) string {
	if t := strings.TrimSpace(g.Title); t != "" {
		return t
	}
	first, _, _ := strings.Cut(strings.TrimSpace(g.Description), "\n")
	return first
}

// oneLineText collapses white space and cuts s to n runes.
func oneLineText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// gapEditJSON is the --json output of gap file and gap close.
type gapEditJSON struct {
	Gap     gaps.Gap           `json:"gap"`
	Receipt *artifacts.Receipt `json:"receipt"`
	Commit  string             `json:"commit"`
}

func newGapFileCmd(a *app) *cobra.Command {
	var (
		nf     pipeline.GapFiling
		asJSON bool
		rf     runFlags
	)
	c := &cobra.Command{
		Use:   "file --loop ID --title TEXT --severity LEVEL --type TYPE [--description TEXT]",
		Short: "File a gap: append it to the ledger, receipt it and commit",
		Long: `File a gap discovered while working a loop. The gap gets the ledger's next
free id (GAP-OP-N), status open, discovered_by and parent_loop set to the loop
and discovered_at set to today's UTC date; it is appended after the last
entry in the ledger's own layout, and no other line of the ledger changes.

A gaps.file receipt (stage "gaps", step = the gap id) is written in the loop's
receipt chain, and the ledger and the receipt are committed together:
  spine(gaps): file GAP-OP-N <title>

--severity is one of low, medium, high, critical. --type is normally one of
stale-ssot, missing-entry, agent-behavior, unclear-doc, duplicate-truth,
runtime-bug, missing-process (another value is kept, with a warning).
spine refuses when the ledger has uncommitted changes. When the capability
registry marks gaps.file as destructive or manual, the gap is filed only
behind its gate (NAME=yes, or approvals: in the loop's frontmatter);
otherwise a blocked receipt is committed and spine exits 3.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, req := range []struct{ name, v string }{{"loop", nf.Loop}, {"title", nf.Title}, {"severity", nf.Severity}, {"type", nf.Type}} {
				if strings.TrimSpace(req.v) == "" {
					return exitf(exitUsage, "--%s is required", req.name)
				}
			}
			if !gaps.KnownSeverity(nf.Severity) {
				return exitf(exitUsage, "--severity %q is not one of %s", nf.Severity, strings.Join(gaps.Severities(), ", "))
			}
			if !gaps.KnownType(nf.Type) {
				fmt.Fprintf(a.stderr, "warning: --type %q is not one of %s; recorded as given\n", nf.Type, strings.Join(gaps.Types(), ", "))
			}
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			doc := rc.set.ByID(nf.Loop)
			if doc == nil {
				return exitf(exitUsage, "no loop %q in this repository: a gap belongs to a loop (--loop)", nf.Loop)
			}
			if doc.Status == "closed" {
				fmt.Fprintf(a.stderr, "warning: loop %s is closed; the gap is orphaned until it is re-parented or closed\n", nf.Loop)
			}
			opts, err := a.pipelineOptions(rc, &rf)
			if err != nil {
				return err
			}
			nf.Command = commandLine(cmd, args)
			res, err := pipeline.NewRunner(opts).FileGap(a.ctx(), nf)
			if err != nil {
				return governanceExit(err)
			}
			a.printGapProblems(res.Problems)
			if asJSON {
				return writeJSON(a, gapEditJSON{Gap: res.Gap, Receipt: res.Receipt, Commit: res.Commit})
			}
			fmt.Fprintf(a.stdout, "filed %s at %s:%d (parent loop %s)\nreceipt %s, commit %s\n",
				res.Gap.ID, rc.cfg.Gaps, res.Gap.Line, nf.Loop, res.Receipt.RunKey, shortHash(res.Commit))
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&nf.Loop, "loop", "", "the loop `ID` that found the gap and owns its fix")
	fl.StringVar(&nf.Title, "title", "", "one-line title")
	fl.StringVar(&nf.Severity, "severity", "", "low, medium, high or critical")
	fl.StringVar(&nf.Type, "type", "", "gap type (stale-ssot, missing-entry, runtime-bug, ...)")
	fl.StringVar(&nf.Description, "description", "", "what is wrong, in more words")
	fl.BoolVar(&asJSON, "json", false, "print the gap, the receipt and the commit as JSON")
	fl.StringVar(&rf.host, "host", "", "record as host `NAME`")
	return c
}

func newGapCloseCmd(a *app) *cobra.Command {
	var (
		fixedIn, note string
		asJSON        bool
		rf            runFlags
	)
	c := &cobra.Command{
		Use:   "close GAP-ID --fixed-in LOOP [--note TEXT]",
		Short: "Close a gap: mark it fixed, receipt it and commit",
		Long: `Mark a gap fixed: status: fixed, fixed_in: LOOP, fixed_at: today's UTC date,
and --note appended to its notes. Keys the gap already has are rewritten
where they stand; no other line of the ledger changes.

A gaps.close receipt (stage "gaps", step = the gap id) is written in the chain
of the gap's parent loop, and the ledger and the receipt are committed
together:
  spine(gaps): close GAP-OP-N fixed in LOOP

A gap the ledger lacks, one already fixed or closed, or an id written twice
is refused (exit 2). spine refuses when the ledger has uncommitted changes.
When the capability registry marks gaps.close as destructive or manual, the
gap is closed only behind its gate (NAME=yes, or approvals: in the parent
loop's frontmatter); otherwise a blocked receipt is committed, the ledger is
not touched, and spine exits 3.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(fixedIn) == "" {
				return exitf(exitUsage, "--fixed-in is required: name the loop (or commit) that fixed it")
			}
			if strings.ContainsFunc(fixedIn, unsafeRune) {
				// One line, in the ledger and the commit's subject.
				return exitf(exitUsage, "--fixed-in %q: a loop id or a commit, on one line, without control characters", fixedIn)
			}
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			opts, err := a.pipelineOptions(rc, &rf)
			if err != nil {
				return err
			}
			res, err := pipeline.NewRunner(opts).CloseGap(a.ctx(), args[0], fixedIn, note, commandLine(cmd, args))
			if err != nil {
				return governanceExit(err)
			}
			if asJSON {
				return writeJSON(a, gapEditJSON{Gap: res.Gap, Receipt: res.Receipt, Commit: res.Commit})
			}
			fmt.Fprintf(a.stdout, "closed %s (%s:%d): fixed in %s\nreceipt %s in loop %s, commit %s\n",
				res.Gap.ID, rc.cfg.Gaps, res.Gap.Line, fixedIn, res.Receipt.RunKey, res.Receipt.LoopID, shortHash(res.Commit))
			return nil
		},
	}
	c.Flags().StringVar(&fixedIn, "fixed-in", "", "the `LOOP` (or commit) that fixed the gap")
	c.Flags().StringVar(&note, "note", "", "a note appended to the gap's notes")
	c.Flags().BoolVar(&asJSON, "json", false, "print the gap, the receipt and the commit as JSON")
	c.Flags().StringVar(&rf.host, "host", "", "record as host `NAME`")
	return c
}

// governanceExit maps the errors of governance actions to exit codes: 75
// for the lock, 3 for a loop that is not finished or an action whose
// capability waits for approval, 2 for everything else (bad input, an
// unknown id, uncommitted changes).
func governanceExit(err error) error {
	var locked *pipeline.LockedError
	var outstanding *pipeline.OutstandingError
	var blocked *pipeline.BlockedError
	switch {
	case errors.As(err, &locked):
		return exitf(exitLocked, "%v", locked)
	case errors.As(err, &outstanding):
		return exitf(exitWaiting, "%v", outstanding)
	case errors.As(err, &blocked):
		return exitf(exitWaiting, "%v", blocked)
	}
	return exitf(exitUsage, "%v", err)
}

// writeJSON prints v as indented JSON.
func writeJSON(a *app, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func shortHash(h string) string {
	if h == "" {
		return "(none)"
	}
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// commandLine renders the command as the operator gave it, for receipts:
// the command path, the flags set (but --repo and --verbose) and the
// arguments, shell-quoted.
func commandLine(cmd *cobra.Command, args []string) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "repo" || f.Name == "verbose" {
			return
		}
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+f.Name)
			return
		}
		parts = append(parts, "--"+f.Name+"="+shellQuote(f.Value.String()))
	})
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
