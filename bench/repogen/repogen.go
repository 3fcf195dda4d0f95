// Package repogen writes benchmark repositories: realistic loop documents
// (internal/gen), receipts of the real artifacts.Receipt shape that
// complete their steps (chained per loop with prev), and a gap ledger. The
// bench/gen command and the *_bench_test.go files use it.
//
// For each loop, in document order, every command step gets one passing
// receipt, and the manual steps of a loop whose command steps all passed
// are ticked, so planning finds the loops done (nothing pending, nothing
// waiting for an operator). Receipts beyond that are
// earlier failed attempts of random steps (each followed by its pass); with
// fewer receipts than steps, active loops are covered first. Receipts are
// written by artifacts.Store with DeferSync (the repository is made durable
// once, by git, when commit is set: one `git add -A && git commit`).
package repogen

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/gen"
	"github.com/spinehq/spine/loops"
)

// Stats describes a generated repository.
type Stats struct {
	Loops, Steps, Receipts int
}

// plannedRun is one receipt to write.
type plannedRun struct {
	doc    *loops.Document
	stage  string
	step   *loops.Step
	status string
	at     time.Time
}

// Generate writes the repository into out (absent or empty). nReceipts 0
// means one receipt per command step, a negative nReceipts none at all. Progress goes to log (nil: none).
func Generate(out string, nLoops, nReceipts int, seed int64, commit bool, log *os.File) (Stats, error) {
	st, err := generate(out, nLoops, nReceipts, seed, commit, log)
	return st, err
}

func generate(out string, nLoops, nReceipts int, seed int64, commit bool, log *os.File) (Stats, error) {
	if log == nil {
		log, _ = os.Open(os.DevNull)
	}
	t0 := time.Now()
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		return Stats{}, fmt.Errorf("%s is not empty", out)
	}
	if err := gen.GenerateLoops(out, nLoops, seed); err != nil {
		return Stats{}, err
	}
	docs := make([]*loops.Document, nLoops)
	for i := range docs {
		p := gen.Path(i)
		src, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil {
			return Stats{}, err
		}
		docs[i] = loops.Parse(p, src)
	}
	// Active loops first, so a small -receipts still completes the loops a
	// run would plan.
	order := make([]int, nLoops)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return docs[order[a]].Status == "active" && docs[order[b]].Status != "active"
	})
	var steps []stepRef
	for _, i := range order {
		d := docs[i]
		for si := range d.Stages {
			st := &d.Stages[si]
			for k := range st.Steps {
				s := &st.Steps[k]
				if s.Kind == loops.KindManual || s.Name == "" {
					continue
				}
				steps = append(steps, stepRef{d, st.Title, s})
			}
		}
	}
	withReceipts := nReceipts >= 0
	switch {
	case nReceipts < 0:
		nReceipts = 0
	case nReceipts == 0:
		nReceipts = len(steps)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	// Which steps get a pass, and how many failed attempts each gets first.
	passes := min(nReceipts, len(steps))
	fails := make([]int, passes)
	for extra := nReceipts - passes; extra > 0; extra-- {
		fails[rng.IntN(passes)]++
	}
	// Per loop, in document order: fails then the pass of each step, one
	// minute apart, starting on the loop's creation day.
	var runs []plannedRun
	var loopStart time.Time
	var cur *loops.Document
	for i := 0; i < passes; i++ {
		s := steps[i]
		if s.doc != cur {
			cur = s.doc
			loopStart = time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC).
				AddDate(0, 0, rng.IntN(90)).Add(time.Duration(rng.IntN(36000)) * time.Second)
		}
		for f := 0; f < fails[i]; f++ {
			runs = append(runs, plannedRun{s.doc, s.stage, s.step, artifacts.StatusFail, loopStart})
			loopStart = loopStart.Add(time.Minute + time.Duration(rng.IntN(60))*time.Second)
		}
		runs = append(runs, plannedRun{s.doc, s.stage, s.step, artifacts.StatusPass, loopStart})
		loopStart = loopStart.Add(time.Minute + time.Duration(rng.IntN(60))*time.Second)
	}
	if err := writeReceipts(out, runs, seed); err != nil {
		return Stats{}, err
	}
	if withReceipts {
		if err := tickManual(out, docs, steps[:passes], steps); err != nil {
			return Stats{}, err
		}
	}
	if err := writeGaps(out, docs, rng); err != nil {
		return Stats{}, err
	}
	fmt.Fprintf(log, "gen: %d loops, %d command steps, %d receipts written in %s\n",
		nLoops, len(steps), len(runs), time.Since(t0).Round(time.Millisecond))
	st := Stats{Loops: nLoops, Steps: len(steps), Receipts: len(runs)}
	if !commit {
		return st, nil
	}
	t1 := time.Now()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", "spine bench"},
		{"config", "user.email", "bench@spine.invalid"},
		{"config", "commit.gpgsign", "false"},
		{"add", "-A"},
		{"commit", "-q", "--no-verify", "-m", fmt.Sprintf("bench: %d loops, %d receipts", nLoops, len(runs))},
	} {
		// The generated repository is scratch data: skip git's per-object
		// fsync (one per loose object: minutes on a loaded disk).
		cmd := exec.Command("git", append([]string{"-c", "core.fsync=none"}, args...)...)
		cmd.Dir = out
		cmd.Stderr = log
		if err := cmd.Run(); err != nil {
			return Stats{}, fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
	}
	fmt.Fprintf(log, "gen: committed in %s\n", time.Since(t1).Round(time.Millisecond))
	return st, nil
}

// stepRef is one command step of a generated document.
type stepRef struct {
	doc   *loops.Document
	stage string
	step  *loops.Step
}

// tickManual ticks the manual steps (`- [ ]` to `- [x]`) of every document
// whose command steps all got a passing receipt (passed, out of all): the
// operator confirmed them, so `spine plan` finds those loops done rather
// than waiting for an operator. Documents left incomplete keep their
// unchecked items.
func tickManual(root string, docs []*loops.Document, passed, all []stepRef) error {
	left := map[*loops.Document]int{}
	for _, s := range all {
		left[s.doc]++
	}
	for _, s := range passed {
		left[s.doc]--
	}
	for i, d := range docs {
		if left[d] > 0 {
			continue
		}
		src := bytes.Clone(d.Source)
		lines := bytes.SplitAfter(src, []byte("\n"))
		n := 0
		for si := range d.Stages {
			for k := range d.Stages[si].Steps {
				s := &d.Stages[si].Steps[k]
				if s.Kind != loops.KindManual || s.Checked {
					continue
				}
				if s.Line < 1 || s.Line > len(lines) {
					return fmt.Errorf("%s: manual step %q at line %d out of range", d.Path, s.Name, s.Line)
				}
				l := lines[s.Line-1]
				j := bytes.Index(l, []byte("[ ]"))
				if j < 0 {
					return fmt.Errorf("%s:%d: no [ ] in manual step line %q", d.Path, s.Line, l)
				}
				l[j+1] = 'x'
				n++
			}
		}
		if n == 0 {
			continue
		}
		out := bytes.Join(lines, nil)
		nd := loops.Parse(d.Path, out)
		for si := range nd.Stages {
			for _, s := range nd.Stages[si].Steps {
				if s.Kind == loops.KindManual && !s.Checked {
					return fmt.Errorf("%s: manual step %q still unchecked after ticking", d.Path, s.Name)
				}
			}
		}
		if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(d.Path)), out, 0o644); err != nil {
			return err
		}
		docs[i] = nd
	}
	return nil
}

// writeReceipts writes runs (grouped per loop, in run order): receipts of a
// loop are chained, so each loop is written by one worker in order.
func writeReceipts(root string, runs []plannedRun, seed int64) error {
	store := &artifacts.Store{Root: root, DeferSync: true}
	byLoop := map[string][]plannedRun{}
	var ids []string
	for _, r := range runs {
		if _, ok := byLoop[r.doc.LoopID]; !ok {
			ids = append(ids, r.doc.LoopID)
		}
		byLoop[r.doc.LoopID] = append(byLoop[r.doc.LoopID], r)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0)*2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := writeLoop(store, byLoop[ids[i]], seed, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}

func writeLoop(store *artifacts.Store, runs []plannedRun, seed int64, loopIdx int) error {
	var key [32]byte
	copy(key[:], fmt.Sprintf("%d/%d", seed, loopIdx))
	rnd := rand.NewChaCha8(key)
	r2 := rand.New(rand.NewPCG(uint64(seed), uint64(loopIdx)))
	prev := ""
	for _, pr := range runs {
		capName := pr.step.Capability()
		if artifacts.ValidateCapability(capName) != nil {
			capName = artifacts.SanitizeCapability(capName)
		}
		rk, err := artifacts.NewRunKey(pr.at, capName, rnd)
		if err != nil {
			return err
		}
		dur := time.Duration(50+r2.IntN(5000)) * time.Millisecond
		exit := 0
		if pr.status == artifacts.StatusFail {
			exit = 1 + r2.IntN(3)
		}
		var log bytes.Buffer
		for n := 1 + r2.IntN(12); n > 0; n-- {
			fmt.Fprintf(&log, "%s stdout %s ok\n", pr.at.Add(time.Duration(n)*time.Millisecond).Format(time.RFC3339Nano), pr.step.Name)
		}
		rc := &artifacts.Receipt{
			RunKey: rk, LoopID: pr.doc.LoopID, Stage: pr.stage, Step: pr.step.Name,
			Capability: capName, Command: pr.step.Command,
			Host: "bench-host", User: "operator", Workdir: "/srv/ops",
			StartedAt:  pr.at.Format(time.RFC3339Nano),
			FinishedAt: pr.at.Add(dur).Format(time.RFC3339Nano),
			DurationMS: dur.Milliseconds(), ExitCode: exit, Status: pr.status,
			AllowFailure: pr.step.AllowFailure, Gate: pr.step.Gate,
			SourceCommit: fmt.Sprintf("%040x", r2.Uint64()),
			SpineVersion: "bench", Prev: prev,
		}
		if pr.step.Gate != "" {
			rc.Approval = &artifacts.Approval{Source: "env", Author: pr.step.Gate}
		}
		res, err := store.Write(rc, &log)
		if err != nil {
			return err
		}
		prev = res.Hash
	}
	return nil
}

// writeGaps writes gaps.yaml: about one gap per five loops, a third open.
func writeGaps(root string, docs []*loops.Document, rng *rand.Rand) error {
	var b strings.Builder
	b.WriteString("gaps:\n")
	types := []string{"stale-ssot", "missing-entry", "agent-behavior", "unclear-doc", "duplicate-truth", "runtime-bug", "missing-process"}
	sev := []string{"low", "medium", "high", "critical"}
	n := max(1, len(docs)/5)
	for i := 0; i < n; i++ {
		d := docs[rng.IntN(len(docs))]
		status := []string{"open", "fixed", "closed"}[rng.IntN(3)]
		fmt.Fprintf(&b, "  - id: GAP-OP-%d\n    title: \"Gap %d found while running %s\"\n", 400+i, i, d.LoopID)
		fmt.Fprintf(&b, "    description: \"Registry and runtime disagree; see the loop's evidence.\"\n")
		fmt.Fprintf(&b, "    type: %s\n    severity: %s\n    status: %s\n", types[rng.IntN(len(types))], sev[rng.IntN(len(sev))], status)
		fmt.Fprintf(&b, "    discovered_by: \"%s\"\n    discovered_at: \"2026-%02d-%02d\"\n    parent_loop: %s\n",
			d.LoopID, 1+rng.IntN(3), 1+rng.IntN(28), d.LoopID)
		if status != "open" {
			fmt.Fprintf(&b, "    fixed_in: %s\n", d.LoopID)
		}
		fmt.Fprintf(&b, "    notes: \"generated by bench/gen\"\n")
	}
	return os.WriteFile(filepath.Join(root, "gaps.yaml"), []byte(b.String()), 0o644)
}
