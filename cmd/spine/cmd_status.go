package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

// statusStep is one step in `spine status --json`.
type statusStep struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// statusStage is one stage in `spine status --json`.
type statusStage struct {
	Title string       `json:"title"`
	Steps []statusStep `json:"steps"`
}

// statusLoop is one element of `spine status --json` (DESIGN.md "Command
// line").
type statusLoop struct {
	LoopID         string        `json:"loop_id"`
	Path           string        `json:"path"`
	Status         string        `json:"status"`
	Title          string        `json:"title"`
	Owner          string        `json:"owner"`
	Priority       string        `json:"priority"`
	HeartbeatStale bool          `json:"heartbeat_stale"`
	RunKeys        []string      `json:"run_keys"`
	Gaps           []string      `json:"gaps"`
	Stages         []statusStage `json:"stages"`
	Problems       []string      `json:"problems"`
}

func newStatusCmd(a *app) *cobra.Command {
	var asJSON, staleOnly bool
	var host string
	c := &cobra.Command{
		Use:   "status [LOOP-ID...]",
		Short: "List every loop document with its status, progress and findings",
		Long: `List every loop document: its loop id, status, owner, priority, heartbeat
freshness, how many of its steps are done, and its findings. Given loop ids,
show those loops step by step: each step's stage, state and why it waits.
With --json, print the array DESIGN.md "Command line" describes (loop_id,
path, status, title, owner, priority, heartbeat_stale, run_keys, gaps,
stages with each step's state, problems), of the loops named if any.

With --stale, exit 1 when any active loop's heartbeat is older than its
heartbeat_ttl_minutes, or cannot be read (for monitoring).`,
		RunE: func(_ *cobra.Command, args []string) error {
			rc, err := a.openRepoForPlanning()
			if err != nil {
				return err
			}
			docs := rc.set.Docs
			if len(args) > 0 {
				docs = nil
				for _, id := range args {
					if rc.set.ByID(id) == nil {
						return exitf(exitUsage, "no loop %q in this repository (spine status lists them)", id)
					}
					// Every document of the id: two that share one
					// (a lint error) are both shown, with their findings.
					for _, d := range rc.set.Docs {
						if d.LoopID == id && !slices.Contains(docs, d) {
							docs = append(docs, d)
						}
					}
				}
			}
			now := time.Now().UTC()
			states, reasons, wait, err := a.stepStatesAsync(rc, host)
			if err != nil {
				return err
			}
			defer wait()
			out := make([]statusLoop, 0, len(docs))
			anyStale := false
			for _, d := range docs {
				l := statusLoop{
					LoopID: d.LoopID, Path: d.Path, Status: d.Status, Title: d.Title,
					Owner: d.Meta.String("owner"), Priority: d.Meta.String("priority"),
					HeartbeatStale: d.Stale(now), RunKeys: d.RunKeys, Gaps: d.GapIDs,
					Stages: []statusStage{}, Problems: []string{},
				}
				anyStale = anyStale || l.HeartbeatStale
				for si := range d.Stages {
					st := &d.Stages[si]
					s := statusStage{Title: st.Title, Steps: []statusStep{}}
					for k := range st.Steps {
						s.Steps = append(s.Steps, statusStep{Name: st.Steps[k].Name, State: states(d, &st.Steps[k])})
					}
					l.Stages = append(l.Stages, s)
				}
				for _, p := range d.Problems {
					l.Problems = append(l.Problems, p.String())
				}
				out = append(out, l)
			}
			switch {
			case asJSON:
				if err := writeStatusJSON(a.stdout, out); err != nil {
					return err
				}
			case len(args) > 0:
				printLoopSteps(a, docs, states, reasons)
			default:
				printStatusTable(a, out)
			}
			if staleOnly && anyStale {
				a.exit = exitFailed
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array, one object per loop document")
	c.Flags().BoolVar(&staleOnly, "stale", false, "exit 1 when any active loop's heartbeat is stale")
	c.Flags().StringVar(&host, "host", "", "steps' states as host `NAME` sees them, as spine plan --host (default: this machine's host name)")
	return c
}

func printStatusTable(a *app, out []statusLoop) {
	tty := false
	if f, ok := a.stdout.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "LOOP\tSTATUS\tOWNER\tPRIORITY\tSTEPS\tHEARTBEAT\tFINDINGS")
	for _, l := range out {
		done, total := 0, 0
		for _, st := range l.Stages {
			for _, s := range st.Steps {
				total++
				if s.State == "done" {
					done++
				}
			}
		}
		hb := "ok"
		if l.HeartbeatStale {
			hb = "STALE"
		}
		id := l.LoopID
		if tty && len(id) > 60 {
			id = id[:57] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%d\n", id, dash(l.Status), dash(l.Owner), dash(l.Priority), done, total, hb, len(l.Problems))
	}
	tw.Flush()
}

// printLoopSteps prints each of docs step by step: its stage, the step,
// its state and, for a step not done, why it waits.
func printLoopSteps(a *app, docs []*loops.Document, states, reasons func(*loops.Document, *loops.Step) string) {
	tw := newTable(a.stdout)
	for i, d := range docs {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s (%s, owner %s): %s\n", d.LoopID, dash(d.Status), dash(d.Meta.String("owner")), d.Path)
		fmt.Fprintln(tw, "STAGE\tSTEP\tSTATE\tREASON")
		for si := range d.Stages {
			st := &d.Stages[si]
			for k := range st.Steps {
				s := &st.Steps[k]
				state, why := states(d, s), ""
				if state != string(pipeline.StateDone) {
					why = reasons(d, s)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.Title, s.Name, state, dash(why))
			}
		}
		for _, p := range d.Problems {
			fmt.Fprintf(tw, "finding\t\t\t%s\n", p.String())
		}
	}
	tw.Flush()
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// stepStatesAsync gives each step's state, from the pipeline's planner
// over the repository's receipts, planning the loops on another goroutine,
// so that the caller can go on with work that does not need the states:
// the functions it returns wait for the plan. reasons gives why a step
// that is not done waits. wait waits for the plan and for the approval
// cache to be saved; call it before the process exits. host, when not
// empty, is the host the steps are planned for (spine status --host).
func (a *app) stepStatesAsync(rc *repoContext, host string) (states, reasons func(*loops.Document, *loops.Step) string, wait func(), err error) {
	opts, err := a.pipelineOptions(rc, &runFlags{host: host})
	if err != nil {
		return nil, nil, nil, err
	}
	opts.History = rc.history
	later := rc.historyLater
	if later != nil {
		// The history is still being read (a site build hands it its
		// receipts): plan over it once it is read, below. The empty one
		// stands in meanwhile, so that Plan does not read it itself.
		opts.History = pipeline.NewHistory(nil)
	}
	planner, err := pipeline.Plan(opts)
	if err != nil {
		return nil, nil, nil, err
	}
	// Each loop's steps are kept with their state (and, when not done,
	// the reason), in document order: a step's is found among its loop's
	// few (no index of every step to build on each rebuild of site serve),
	// and no more than that is kept of the plan (a 10,000-loop site plans
	// 100,000 steps).
	type stepPlan struct {
		step          *loops.Step
		state, reason string
	}
	// A document of many steps also gets an index of them: a scan per
	// step would take time in the square of their number (80,000 steps
	// in one document: seconds).
	type docPlan struct {
		ps  []stepPlan
		idx map[*loops.Step]int
	}
	const indexFrom = 64
	plans := make(map[*loops.Document]docPlan, len(rc.set.Docs))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if later != nil {
			h, err := later()
			if err != nil {
				// Every state is then unknown; the build that handed
				// over its receipts read the same folders and fails too.
				a.logger().Warn("step states: receipt history not read", "err", err)
				return
			}
			planner.History = h
		}
		byIndex := make([]docPlan, len(rc.set.Docs))
		planner.PlanEach(rc.set.Docs, func(i int, items []pipeline.Item) {
			dp := docPlan{ps: make([]stepPlan, len(items))}
			if len(items) > indexFrom {
				dp.idx = make(map[*loops.Step]int, len(items))
			}
			for j, it := range items {
				dp.ps[j] = stepPlan{step: it.Step, state: string(it.State)}
				if it.State != pipeline.StateDone {
					dp.ps[j].reason = it.Reason
				}
				if dp.idx != nil {
					if _, dup := dp.idx[it.Step]; !dup {
						dp.idx[it.Step] = j
					}
				}
			}
			byIndex[i] = dp
		})
		for i, d := range rc.set.Docs {
			plans[d] = byIndex[i]
		}
		// Keep what the approval lookups learnt for the next command.
		_ = planner.Gates.SaveCache()
	}()
	find := func(d *loops.Document, s *loops.Step) *stepPlan {
		<-done
		dp := plans[d]
		if dp.idx != nil {
			if i, ok := dp.idx[s]; ok {
				return &dp.ps[i]
			}
			return nil
		}
		ps := dp.ps
		for i := range ps {
			if ps[i].step == s {
				return &ps[i]
			}
		}
		return nil
	}
	wait = func() { <-done }
	states = func(d *loops.Document, s *loops.Step) string {
		if p := find(d, s); p != nil {
			return p.state
		}
		return ""
	}
	reasons = func(d *loops.Document, s *loops.Step) string {
		if p := find(d, s); p != nil {
			return p.reason
		}
		return ""
	}
	return states, reasons, wait, nil
}
