package pipeline

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/bench/repogen"
)

// TestPlanLoopsMatchesPlanLoop: the plans PlanLoops makes on several
// goroutines are those PlanLoop makes one document after another, on a
// generated repository whose steps are done, failed, pending, blocked on
// gates (approvals looked up in git) and waiting, with a receipt that
// cannot be read (every step of its capability held) and a document with
// uncommitted changes. Run with -race, it also checks that the planner's
// lazily made indexes and its git lookups are safe to share.
func TestPlanLoopsMatchesPlanLoop(t *testing.T) {
	root := filepath.Join(t.TempDir(), "repo")
	if _, err := repogen.Generate(root, 160, 700, 7, false, nil); err != nil {
		t.Fatal(err)
	}
	// Steps that would run, one behind a gate nobody approved, and one in
	// a document then edited and not committed.
	for id, step := range map[string]string{
		"LOOP-T-PENDING":     "```sh {name=ready}\necho ready\n```\n",
		"LOOP-T-GATE":        "```sh {name=gated gate=ALLOW_T destructive=true}\necho gated\n```\n",
		"LOOP-T-UNCOMMITTED": "```sh {name=edited}\necho edited\n```\n",
	} {
		doc := "---\nloop_id: " + id + "\nstatus: active\n---\n\n# Loop Scope: " + id + "\n\n## Stage 1: Go\n\n" + step
		if err := os.WriteFile(filepath.Join(root, "loops", id+".md"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Documents whose evidence blocks record runs the history lacks (the
	// planner caches what each block says), each with a gate whose
	// approval is looked up in git.
	for i := range 80 {
		id := fmt.Sprintf("LOOP-T-EV-%02d", i)
		doc := "---\nloop_id: " + id + "\nstatus: active\napprovals: [ALLOW_T]\n---\n\n# Loop Scope: " + id +
			"\n\n## Stage 1: Go\n\n```sh {name=gated gate=ALLOW_T}\necho gated\n```\n\n## Execution Evidence\n\n" +
			"<!-- spine:evidence:begin -->\n#### Stage 1: Go\n\n" +
			fmt.Sprintf("- `CAP-20260101-0000%02d__step.elsewhere__Rabcdefgh%02d` (pass, step elsewhere)\n", i%60, i) +
			"<!-- spine:evidence:end -->\n"
		if err := os.WriteFile(filepath.Join(root, "loops", id+".md"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "generated"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = root, gitEnv("Operator", "op@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("git %v: %v\n%s", args, err, out)
		}
	}
	f, err := os.OpenFile(filepath.Join(root, "loops", "LOOP-T-UNCOMMITTED.md"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "\nEdited, not committed.")
	f.Close()
	// A receipt that cannot be read holds every step of its capability.
	receipts, err := filepath.Glob(filepath.Join(root, "receipts", "*", "*", "*", "*", "receipt.json"))
	if err != nil || len(receipts) < 10 {
		t.Fatalf("generated receipts: %d, %v", len(receipts), err)
	}
	if err := os.WriteFile(receipts[len(receipts)/2], []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := benchOpts(t, root, t.TempDir())

	type item struct {
		Loop, Step, State, Reason, Gate, Latest string
		NeedsMark, Uncommitted, Decided         bool
	}
	flat := func(plans [][]Item) [][]item {
		out := make([][]item, len(plans))
		for i, items := range plans {
			for _, it := range items {
				x := item{Loop: it.LoopID, Step: it.Name, State: string(it.State), Reason: it.Reason, Gate: it.Gate,
					NeedsMark: it.NeedsMark, Uncommitted: it.Uncommitted, Decided: it.Decision != nil}
				if it.Latest != nil {
					x.Latest = it.Latest.RunKey
				}
				out[i] = append(out[i], x)
			}
		}
		return out
	}
	seq, err := Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	var one [][]Item
	for _, d := range opts.Set.Docs {
		one = append(one, seq.PlanLoop(d))
	}
	par, err := Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	want, got := flat(one), flat(par.PlanLoops(opts.Set.Docs))
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("PlanLoops differs from PlanLoop (-PlanLoop +PlanLoops):\n%s", d)
	}
	// The repository exercises what the planner shares.
	states := map[string]int{}
	uncommitted, gated := 0, 0
	for _, items := range want {
		for _, it := range items {
			states[it.State]++
			if it.Uncommitted {
				uncommitted++
			}
			if it.Decided {
				gated++
			}
		}
	}
	for _, s := range []State{StateDone, StateFailed, StatePending, StateBlocked, StateWaiting} {
		if states[string(s)] == 0 {
			t.Errorf("no step is %s (states: %v): the repository does not exercise the planner", s, states)
		}
	}
	if uncommitted == 0 || gated == 0 {
		t.Errorf("%d steps held for uncommitted changes, %d gates decided: want some of each (states: %v)", uncommitted, gated, states)
	}
}
