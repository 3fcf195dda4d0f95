package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/packs"
	"github.com/spinehq/spine/pipeline"
)

func newPackCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "pack",
		Short: "List verify packs, or run one by hand",
		Long: `List the verify packs of the repository (verify/<pack>.yaml, or the
verify_dir of spine.yaml), or run one by hand with a receipt, as a verify step
of a loop would.`,
	}
	c.AddCommand(newPackListCmd(a), newPackRunCmd(a))
	return c
}

// loadPacks reads every pack of the repository, with findings whose paths
// are repository-relative.
func loadPacks(rc *repoContext) ([]*packs.Pack, []packs.Problem) {
	all, probs := packs.LoadDir(filepath.Join(rc.root, filepath.FromSlash(rc.cfg.VerifyDir)))
	rel := func(p string) string {
		if r, err := filepath.Rel(rc.root, p); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
		return p
	}
	for _, p := range all {
		p.Path = rel(p.Path)
	}
	prefix := rc.root + string(filepath.Separator)
	for i := range probs {
		probs[i].Path = rel(probs[i].Path)
		probs[i].Message = strings.ReplaceAll(probs[i].Message, prefix, "")
	}
	return all, probs
}

// packCheckJSON is one check in `spine pack list --json`.
type packCheckJSON struct {
	ID       string `json:"id"`
	Title    string `json:"title,omitempty"`
	Run      string `json:"run"`
	Blocking bool   `json:"blocking"`
	Timeout  string `json:"timeout,omitempty"`
	Line     int    `json:"line"`
}

// packLastRun is a pack's most recent run by hand.
type packLastRun struct {
	RunKey    string `json:"run_key"`
	Status    string `json:"status"`
	Summary   string `json:"summary,omitempty"`
	StartedAt string `json:"started_at"`
}

// packJSON is one element of `spine pack list --json`.
type packJSON struct {
	Pack        string          `json:"pack"`
	Description string          `json:"description,omitempty"`
	Path        string          `json:"path"`
	Checks      []packCheckJSON `json:"checks"`
	Blocking    int             `json:"blocking"`
	Problems    []string        `json:"problems"`
	LastRun     *packLastRun    `json:"last_run"`
}

func newPackListCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the verify packs with their checks and last manual run",
		Long: `List the verify packs: name, number of checks (and how many are
blocking), file, and the last run by hand (spine pack run). Findings about the
packs (unknown fields, duplicate check ids, checks without run) go to stderr
as file:line; spine lint reports them too.

With --json, print a JSON array: pack, description, path, checks (id, title,
run, blocking, timeout, line), blocking, problems and last_run (run_key,
status, summary, started_at, or null).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			all, probs := loadPacks(rc)
			for _, p := range probs {
				fmt.Fprintln(a.stderr, termtext.Safe(p.String()))
			}
			hist, err := pipeline.LoadHistory(rc.root, rc.cfg.Receipts, stateDir(rc.root))
			if err != nil {
				a.logger().Warn("pack list: receipts not read", "err", err)
			}
			out := make([]packJSON, 0, len(all))
			for _, p := range all {
				pj := packJSON{Pack: p.Name, Description: p.Description, Path: p.Path, Checks: []packCheckJSON{}, Problems: []string{}}
				for _, ck := range p.Checks {
					cj := packCheckJSON{ID: ck.ID, Title: ck.Title, Run: ck.Run, Blocking: ck.Blocking, Line: ck.Line}
					if ck.Timeout > 0 {
						cj.Timeout = ck.Timeout.String()
					}
					if ck.Blocking {
						pj.Blocking++
					}
					pj.Checks = append(pj.Checks, cj)
				}
				for _, pr := range probs {
					if pr.Path == p.Path {
						pj.Problems = append(pj.Problems, pr.String())
					}
				}
				if hist != nil {
					if run := hist.Latest(pipeline.PacksLoopID, loops.RunStepKey(loops.StageManual, p.Name)); run != nil {
						pj.LastRun = &packLastRun{RunKey: run.RunKey, Status: run.Status, Summary: run.Summary, StartedAt: run.Started.UTC().Format(time.RFC3339)}
					}
				}
				out = append(out, pj)
			}
			if asJSON {
				return writeJSON(a, out)
			}
			if len(out) == 0 {
				fmt.Fprintf(a.stdout, "no verify packs in %s/\n", rc.cfg.VerifyDir)
				return nil
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "PACK\tCHECKS\tBLOCKING\tPATH\tLAST RUN\tDESCRIPTION")
			for _, p := range out {
				last := "-"
				if p.LastRun != nil {
					last = p.LastRun.Status
					if p.LastRun.Summary != "" {
						last = p.LastRun.Summary
					}
					last += " (" + p.LastRun.StartedAt + ")"
				}
				flag := ""
				if len(p.Problems) > 0 {
					flag = fmt.Sprintf(" [%d finding(s)]", len(p.Problems))
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", p.Pack, len(p.Checks), p.Blocking, p.Path+flag, last, oneLineText(p.Description, 60))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of packs")
	return c
}

// packErrors returns the error-level findings of the pack named name (or,
// when no pack of that name could be read, of a file named after it).
func packErrors(all []*packs.Pack, probs []packs.Problem, name string) ([]string, bool) {
	pk, found := packs.Lookup(all, name)
	var errs []string
	for _, p := range probs {
		if p.Level != packs.LevelError {
			continue
		}
		base := filepath.Base(p.Path)
		mine := (found && p.Path == pk.Path) || (!found && (base == name+".yaml" || base == name+".yml"))
		if mine {
			errs = append(errs, p.String())
		}
	}
	return errs, found
}

func newPackRunCmd(a *app) *cobra.Command {
	var (
		asJSON, quiet bool
		wait          time.Duration
		rf            runFlags
	)
	c := &cobra.Command{
		Use:   "run NAME",
		Short: "Run a verify pack by hand, receipt it and commit",
		Long: `Run the checks of verify pack NAME in order, each as sh -c in the repository
root, and record the run as the built-in capability verify.pack.run: a
receipt under the pseudo-loop "packs" (stage "manual", step NAME), chained
after the previous manual pack run, with each check's result and the summary
N/M PASS (plus the ids of blocking and non-blocking failures), and the checks'
output in output.log. The receipt is committed.

A non-blocking check that fails is recorded and does not fail the run.
Exit status 1 when a blocking check failed; 2 when the pack does not exist
or is invalid (its findings are listed as file:line, and nothing runs); 3
when the capability registry puts verify.pack.run behind a gate that is not
approved (a blocked receipt is committed).

With --json, print only the receipt.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			rc, err := a.openRepo()
			if err != nil {
				return err
			}
			all, probs := loadPacks(rc)
			errs, found := packErrors(all, probs, name)
			if len(errs) > 0 {
				return exitf(exitUsage, "verify pack %s is invalid; nothing ran:\n  %s", name, strings.Join(errs, "\n  "))
			}
			if !found {
				var names []string
				for _, p := range all {
					names = append(names, p.Name)
				}
				known := "none"
				if len(names) > 0 {
					known = strings.Join(names, ", ")
				}
				return exitf(exitUsage, "no verify pack %q in %s/ (packs: %s)", name, rc.cfg.VerifyDir, known)
			}
			opts, err := a.pipelineOptions(rc, &rf)
			if err != nil {
				return err
			}
			rep := newTermReporter(a.stdout, a.stderr, quiet || asJSON)
			opts.Reporter, opts.Wait = rep, wait
			ctx, stop := stopSignals(cmd.Context())
			defer stop()
			receipt, err := pipeline.NewRunner(opts).VerifyPack(ctx, name)
			if err != nil {
				return governanceExit(err)
			}
			if asJSON {
				if err := writeJSON(a, receipt); err != nil {
					return err
				}
			} else if !quiet {
				fmt.Fprintf(a.stdout, "%s/%s: %s — %s (%s)\n", pipeline.PacksLoopID, name, receipt.Status, receipt.Summary, receipt.RunKey)
			}
			if receipt.Status != artifacts.StatusPass {
				a.exit = exitFailed
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print only the receipt as JSON")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	c.Flags().DurationVar(&wait, "wait", 0, "wait this long for another run's lock before exiting 75")
	c.Flags().StringVar(&rf.host, "host", "", "record as host `NAME`")
	return c
}
