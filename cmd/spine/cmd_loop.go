package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

func newLoopCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "loop",
		Short: "Scaffold a new loop document, or close a finished loop",
		Long: `Scaffold a new loop document in the layout spine runs (loop new), or close
a loop whose work is done (loop close).`,
	}
	c.AddCommand(newLoopNewCmd(a), newLoopCloseCmd(a))
	return c
}

// loopCloseJSON is the --json output of `spine loop close`.
type loopCloseJSON struct {
	LoopID      string             `json:"loop_id"`
	Path        string             `json:"path"`
	Forced      bool               `json:"forced"`
	Outstanding []string           `json:"outstanding"`
	Receipt     *artifacts.Receipt `json:"receipt"`
	Commit      string             `json:"commit"`
	Status      string             `json:"status"`
	ClosedAt    string             `json:"closed_at"`
}

func newLoopCloseCmd(a *app) *cobra.Command {
	var (
		force, asJSON bool
		wait          time.Duration
		rf            runFlags
	)
	c := &cobra.Command{
		Use:   "close ID [--force]",
		Short: "Close a finished loop: status closed, closeout receipt, commit",
		Long: `Close loop ID. spine refuses while the loop has outstanding work and lists
it: steps that are not done (pending, blocked behind a gate, failed,
interrupted, waiting for a manual step) and open gaps whose parent_loop is the
loop. Otherwise it sets status: closed and closed_at (UTC, RFC 3339) in the
document's frontmatter, changing no other line but the evidence block and
heartbeat, writes a closeout receipt (capability loops.close, stage
"closeout", step "close"), and commits the document and the receipt.

--force closes anyway and records what was outstanding in the receipt's note
and output.log.

A document without YAML frontmatter, an unknown loop, a loop already closed
or a document with uncommitted changes is refused (exit 2). Exit status 3
when outstanding work keeps the loop open, or when the capability registry
puts loops.close behind a gate that is not approved (NAME=yes, or approvals:
in the loop's frontmatter; a blocked receipt is committed).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			if rc.set.ByID(args[0]) == nil {
				return exitf(exitUsage, "no loop %q in this repository", args[0])
			}
			opts, err := a.pipelineOptions(rc, &rf)
			if err != nil {
				return err
			}
			opts.Wait = wait
			res, err := pipeline.NewRunner(opts).CloseLoop(a.ctx(), args[0], force, commandLine(cmd, args))
			if err != nil {
				return governanceExit(err)
			}
			if asJSON {
				return writeJSON(a, loopCloseJSON{
					LoopID: args[0], Path: res.Path, Forced: len(res.Outstanding) > 0,
					Outstanding: nonNil(res.Outstanding), Receipt: res.Receipt, Commit: res.Commit,
					Status: "closed", ClosedAt: res.ClosedAt,
				})
			}
			fmt.Fprintf(a.stdout, "closed %s (%s)\nreceipt %s, commit %s\n", args[0], res.Path, res.Receipt.RunKey, shortHash(res.Commit))
			if len(res.Outstanding) > 0 {
				fmt.Fprintf(a.stdout, "closed with --force; recorded as outstanding:\n  %s\n", termtext.Safe(strings.Join(res.Outstanding, "\n  ")))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "close even with outstanding work (recorded in the receipt)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	c.Flags().DurationVar(&wait, "wait", 0, "wait this long for another run's lock before exiting 75")
	c.Flags().StringVar(&rf.host, "host", "", "record as host `NAME`")
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// loopScaffold is what `spine loop new` fills in.
type loopScaffold struct {
	ID, Objective, Owner, Scope, Priority string
	TTL                                   int
	Created                               time.Time
	Pack                                  string
}

// gateFor derives the example gate of a loop: ALLOW_ and the loop id
// without its LOOP- prefix and trailing dates, upper-cased.
func gateFor(id string) string {
	s := strings.TrimPrefix(strings.ToUpper(id), "LOOP-")
	parts := strings.Split(s, "-")
	for len(parts) > 1 {
		last := parts[len(parts)-1]
		if len(last) == 8 && strings.Trim(last, "0123456789") == "" {
			parts = parts[:len(parts)-1]
			continue
		}
		break
	}
	g := pipeline.DerivedGate(strings.Join(parts, "_"))
	if len(g) > 48 {
		g = strings.TrimRight(g[:48], "_")
	}
	return g
}

// yamlPlain renders s plain when it is a simple token, else double-quoted.
func yamlPlain(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0 {
		return s
	}
	return loops.QuoteYAML(s)
}

// render returns the document: the layout of a real loop scope, with one
// read-only baseline stage with a verify block, one gated destructive stage
// and a closeout stage.
func (s loopScaffold) render() string {
	gate := gateFor(s.ID)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("---\n")
	w("loop_id: %s\n", s.ID)
	w("created: %s\n", s.Created.UTC().Format("2006-01-02"))
	w("status: active\n")
	w("owner: %s\n", loops.QuoteYAML(s.Owner))
	w("scope: %s\n", yamlPlain(s.Scope))
	w("priority: %s\n", yamlPlain(s.Priority))
	w("heartbeat_ttl_minutes: %d\n", s.TTL)
	w("objective: %s\n", loops.QuoteYAML(s.Objective))
	w("---\n\n")
	w("# Loop Scope: %s\n\n", s.ID)
	w("## Objective\n\n%s\n\n", s.Objective)
	w("## Phases\n")
	w("- Stage 0: capture the baseline and classify findings (read-only)\n")
	w("- Stage 1: make the change, behind gate %s\n", gate)
	w("- Stage 2: verify and close out\n\n")
	w("## Success Criteria\n")
	w("- Baseline captured and receipted before anything changes.\n")
	w("- The change ran only after %s was approved.\n", gate)
	w("- Verify pack %s passes after the change.\n", s.Pack)
	w("- Every gap this loop filed is closed or handed over.\n\n")
	w("## Stage 0: Baseline (Read-Only)\n\n")
	w("Capture the state before anything changes. A fenced block with an attribute\n")
	w("list (`{name=...}`) is a step spine runs, receipts and commits; a block\n")
	w("without one is documentation. Replace the examples with this loop's commands.\n\n")
	w("```sh {name=baseline-host artifact=00-baseline-host.txt}\n")
	w("uname -a\n")
	w("df -h\n")
	w("```\n\n")
	w("```verify {name=verify-baseline pack=%s}\n", s.Pack)
	w("```\n\n")
	w("## Stage 1: Change (Destructive, Gated)\n\n")
	w("Runs only once `%s` is approved: `%s=yes spine run`, or\n", gate, gate)
	w("`approvals: [%s]` in the frontmatter, committed by an approver.\n\n", gate)
	w("```sh {name=apply-change gate=%s destructive=true artifact=10-apply-change.txt}\n", gate)
	w("echo \"replace this block with the change; it runs only behind %s\" >&2\n", gate)
	w("exit 1\n")
	w("```\n\n")
	w("## Stage 2: Verify And Closeout\n\n")
	w("```verify {name=verify-after pack=%s}\n", s.Pack)
	w("```\n\n")
	w("- [ ] evidence reviewed: receipts, artifacts and the evidence block\n")
	w("- [ ] gaps of this loop closed or handed over (spine gap list --open --loop %s)\n\n", s.ID)
	w("## Definition Of Done\n")
	w("- Every stage done and receipted (spine plan lists nothing for this loop).\n")
	w("- No open gap names this loop as parent_loop.\n")
	w("- `spine loop close %s` succeeds: status closed, closeout receipt committed.\n", s.ID)
	return b.String()
}

func newLoopNewCmd(a *app) *cobra.Command {
	var (
		sc  loopScaffold
		dir string
	)
	c := &cobra.Command{
		Use:   "new ID --objective TEXT [--owner NAME] [--dir loops]",
		Short: "Scaffold a new loop document (not committed)",
		Long: `Write DIR/ID.md: a loop document in the layout spine runs, with frontmatter
(loop_id, created, status: active, owner, scope, priority,
heartbeat_ttl_minutes, objective), the Objective, Phases and Success Criteria
sections, and example stages: a read-only baseline with a verify block, a
destructive stage behind a gate, and a closeout stage with manual checks,
then the Definition Of Done.

spine never overwrites a file or reuses a loop id (one a document has, in any
case, one with receipts: a loop removed keeps them, or spine's own packs and
gaps), and does not commit: review
the document, replace the examples, then commit it. The example verify pack is
the first pack of verify/ (or "baseline"; --pack to choose).`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			sc.ID = args[0]
			id := sc.ID
			switch {
			case !loops.ValidLoopID(id):
				return exitf(exitUsage, "loop id %q: use letters, digits, '.', '_' and '-' (e.g. LOOP-MD1400-CAPACITY-20260227)", id)
			case strings.TrimSpace(sc.Objective) == "":
				return exitf(exitUsage, "--objective is required: say in one sentence what the loop achieves")
			case strings.ContainsAny(sc.Objective+sc.Owner+sc.Scope+sc.Priority, "\r\n"):
				return exitf(exitUsage, "--objective, --owner, --scope and --priority are single lines")
			case sc.TTL <= 0:
				return exitf(exitUsage, "--ttl must be a positive number of minutes")
			}
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			if d := rc.set.ByID(id); d != nil {
				return exitf(exitUsage, "loop %s already exists: %s", id, d.Path)
			}
			for _, d := range rc.set.Docs {
				// Their artifact folders would be one on a file system
				// that ignores case, and lint refuses both documents.
				if strings.EqualFold(d.LoopID, id) {
					return exitf(exitUsage, "loop %s exists (%s); ids that differ only in case share an artifact folder: choose another id", d.LoopID, d.Path)
				}
			}
			if loops.ReservedLoopID(id) {
				return exitf(exitUsage, "loop id %q is reserved for spine's own receipts: choose another id", id)
			}
			// A loop removed from the repository keeps its receipts: a new
			// loop under its id would take their runs for its steps'.
			hist, err := pipeline.LoadHistory(rc.root, rc.cfg.Receipts, stateDir(rc.root))
			if err != nil {
				return err
			}
			if runs := hist.Loop(id); len(runs) > 0 {
				return exitf(exitUsage, "loop id %s has %d receipt(s) (the latest %s): it was a loop's, whose runs would count as the new loop's; choose another id", id, len(runs), runs[len(runs)-1].Dir)
			}
			for _, run := range hist.All() {
				if strings.EqualFold(run.LoopID, id) {
					return exitf(exitUsage, "loop id %s has receipts (%s); ids that differ only in case share an artifact folder: choose another id", run.LoopID, run.Dir)
				}
			}
			if sc.Owner == "" {
				sc.Owner = "@" + currentUser()
			}
			if sc.Pack == "" {
				sc.Pack = "baseline"
				if all, _ := loadPacks(rc); len(all) > 0 {
					sc.Pack = all[0].Name
				}
			} else if !loops.ValidLoopID(sc.Pack) {
				return exitf(exitUsage, "--pack %q: use letters, digits, '.', '_' and '-'", sc.Pack)
			}
			sc.Created = time.Now()
			if strings.ContainsFunc(dir, unsafeRune) {
				return exitf(exitUsage, "--dir %q: a folder name without control characters", dir)
			}
			rel := path.Join(filepath.ToSlash(filepath.Clean(dir)), id+".md")
			full, err := artifacts.SafeJoin(rc.root, rel)
			if err != nil {
				return exitf(exitUsage, "--dir %s: %v", dir, err)
			}
			for _, part := range strings.Split(rel, "/") {
				if strings.EqualFold(part, ".git") {
					return exitf(exitUsage, "--dir %s: git keeps no file under a .git folder; choose another folder", dir)
				}
			}
			content := sc.render()
			if doc := loops.Parse(rel, []byte(content)); doc.HasErrors() {
				return exitf(exitUsage, "internal error: the scaffold does not parse: %v", doc.Problems)
			}
			if err := os.MkdirAll(filepath.Dir(full), fsx.DirMode); err != nil {
				return exitf(exitUsage, "%v", err)
			}
			f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fsx.FileMode)
			if errors.Is(err, fs.ErrExist) {
				return exitf(exitUsage, "%s already exists; spine does not overwrite it", rel)
			}
			if err != nil {
				return exitf(exitUsage, "%v", err)
			}
			if _, err := f.WriteString(content); err != nil {
				f.Close()
				return exitf(exitUsage, "write %s: %v", rel, err)
			}
			if err := f.Close(); err != nil {
				return exitf(exitUsage, "write %s: %v", rel, err)
			}
			matched := false
			for _, g := range rc.cfg.Loops {
				matched = matched || loops.MatchGlob(g, rel)
			}
			if !matched {
				fmt.Fprintf(a.stderr, "warning: %s is outside the loops globs of spine.yaml (%s); spine will not see it there\n", rel, strings.Join(rc.cfg.Loops, ", "))
			}
			fmt.Fprintf(a.stdout, `created %s (not committed)
next:
  1. edit it: replace the example steps, gate %s and verify pack %s
  2. spine lint
  3. git add %s && git commit -m "loop %s: scope"
  4. spine plan, then spine run --loop %s (the push hook runs it too)
`, rel, gateFor(id), sc.Pack, rel, id, id)
			return nil
		},
	}
	c.Flags().StringVar(&sc.Objective, "objective", "", "what the loop achieves, in one sentence (required)")
	c.Flags().StringVar(&sc.Owner, "owner", "", "owner (default @$USER)")
	c.Flags().StringVar(&sc.Scope, "scope", "ops", "scope tag")
	c.Flags().StringVar(&sc.Priority, "priority", "medium", "priority (low, medium, high)")
	c.Flags().IntVar(&sc.TTL, "ttl", 240, "heartbeat_ttl_minutes")
	c.Flags().StringVar(&sc.Pack, "pack", "", "verify pack of the example verify steps")
	c.Flags().StringVar(&dir, "dir", "loops", "folder of the new document, relative to the repository root")
	return c
}
