package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinehq/spine/artifacts"
)

// TestVerifyPackRunsOnlyCommitted: a verify step whose pack file has
// uncommitted changes, or is not committed at all, does not run: its loop
// waits with the reason naming the file (exit 3, as for a loop's own
// half-edit), and the other loops run. Once committed, the pack runs, and
// the receipt records each check's command and its hash.
func TestVerifyPackRunsOnlyCommitted(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	pack := func(name, word string) string {
		return fmt.Sprintf("pack: %s\nchecks:\n  - id: C1\n    run: echo %s >> %s\n", name, word, count)
	}
	r.commit("loops", map[string]string{
		"verify/p.yaml": pack("p", "committed"),
		"loops/a.md":    loopDoc("LOOP-A", "## Stage 1: Check\n\n```verify {name=check-p pack=p}\n```\n"),
		"loops/b.md":    loopDoc("LOOP-B", "## Stage 1: Check\n\n```verify {name=check-q pack=q}\n```\n"),
		"loops/c.md":    loopDoc("LOOP-C", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=plain}\necho plain >> %s\n```\n", count)),
	})
	r.write("verify/p.yaml", pack("p", "uncommitted"))
	r.write("verify/q.yaml", pack("q", "untracked"))

	out := r.run(nil)
	skipped := map[string]string{}
	for _, s := range out.Skipped {
		skipped[s.What] = s.Why
	}
	for loop, file := range map[string]string{"LOOP-A": "verify/p.yaml", "LOOP-B": "verify/q.yaml"} {
		if why := skipped[loop]; !strings.Contains(why, file+" has uncommitted changes") {
			t.Errorf("%s skipped for %q; want it held, naming %s", loop, why, file)
		}
	}
	if it := r.plan(nil, "LOOP-A", "check-p"); it.State != StateWaiting || !strings.Contains(it.Reason, "verify/p.yaml") || !OperatorHold(it) {
		t.Errorf("plan of check-p: %s %q, want waiting for an operator, naming the pack", it.State, it.Reason)
	}
	if data, err := os.ReadFile(count); err != nil || string(data) != "plain\n" {
		t.Fatalf("ran %q (%v), want the plain step alone", data, err)
	}

	r.commit("packs", map[string]string{"verify/p.yaml": pack("p", "uncommitted"), "verify/q.yaml": pack("q", "untracked")})
	r.run(nil)
	if data, err := os.ReadFile(count); err != nil || string(data) != "plain\nuncommitted\nuntracked\n" {
		t.Fatalf("ran %q (%v), want both packs once committed", data, err)
	}
	for _, rc := range r.receipts() {
		if rc.Step != "check-p" {
			continue
		}
		want := fmt.Sprintf("echo uncommitted >> %s", count)
		if len(rc.Checks) != 1 || rc.Checks[0].Command != want || rc.Checks[0].CommandSHA256 != artifacts.CommandSHA256(want) {
			t.Errorf("check-p's receipt checks %+v; want C1 with its command %q and hash", rc.Checks, want)
		}
	}
	r.clean()
}

// TestPackRunnerRunsTheBytesItChecked: the pack's bytes Committed passes
// are the bytes that run, and a pack it refuses runs no check.
// TestInvalidPackWaits: a verify step whose pack file has errors (invalid
// YAML; duplicate check ids) does not run and records no failure: its loop
// waits, naming the file and line, and runs once the pack is fixed and
// committed, with no --retry.
func TestInvalidPackWaits(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loops", map[string]string{
		// Invalid YAML, in a file not named after its pack.
		"verify/p-checks.yaml": "pack: p\nchecks:\n  - id: C1\n\trun: echo p\n",
		"verify/q.yaml":        fmt.Sprintf("pack: q\nchecks:\n  - id: C1\n    run: echo q >> %s\n  - id: C1\n    run: echo q >> %s\n", count, count),
		// Defined twice: which checks would run is anyone's guess.
		"verify/d.yaml":  fmt.Sprintf("pack: d\nchecks:\n  - id: C1\n    run: echo d >> %s\n", count),
		"verify/d2.yaml": fmt.Sprintf("pack: d\nchecks:\n  - id: C9\n    run: echo d2 >> %s\n", count),
		"loops/a.md":     loopDoc("LOOP-A", "## Stage 1: Check\n\n```verify {name=check-p pack=p}\n```\n"),
		"loops/b.md":     loopDoc("LOOP-B", "## Stage 1: Check\n\n```verify {name=check-q pack=q}\n```\n"),
		"loops/c.md":     loopDoc("LOOP-C", "## Stage 1: Check\n\n```verify {name=check-d pack=d}\n```\n"),
	})
	out := r.run(nil)
	skipped := map[string]string{}
	for _, s := range out.Skipped {
		skipped[s.What] = s.Why
	}
	for loop, file := range map[string]string{"LOOP-A": "verify/p-checks.yaml:", "LOOP-B": "verify/q.yaml:", "LOOP-C": "verify/d"} {
		if why := skipped[loop]; !strings.Contains(why, "has errors") || !strings.Contains(why, file) {
			t.Errorf("%s skipped for %q; want it held, naming %s and its line", loop, why, file)
		}
	}
	if len(r.receipts()) != 0 {
		t.Fatalf("receipts written for packs with errors: %v", r.stepReceipts("check-p"))
	}
	if it := r.plan(nil, "LOOP-A", "check-p"); it.State != StateWaiting || !strings.Contains(it.Reason, "verify/p-checks.yaml:") || strings.Contains(it.Reason, r.root) {
		t.Errorf("plan of check-p: %s %q, want waiting, naming the pack's file and line", it.State, it.Reason)
	}
	r.commit("fixed", map[string]string{
		"verify/p-checks.yaml": fmt.Sprintf("pack: p\nchecks:\n  - id: C1\n    run: echo p >> %s\n", count),
		"verify/q.yaml":        fmt.Sprintf("pack: q\nchecks:\n  - id: C1\n    run: echo q >> %s\n", count),
	})
	r.run(nil)
	if data, err := os.ReadFile(count); err != nil || string(data) != "p\nq\n" && string(data) != "q\np\n" {
		t.Fatalf("ran %q (%v), want both packs once fixed", data, err)
	}
}

// TestPlanSaysTheLoopDoesNotRun: a step of a loop that does not run
// (its document has errors; its status) waits for that, as the run skips
// the loop, not for the step or the host it would wait for otherwise.
func TestPlanSaysTheLoopDoesNotRun(t *testing.T) {
	r := newRepo(t)
	r.commit("loops", map[string]string{
		"loops/a.md": "---\nloop_id: LOOP-A\nstatus: active\nhost: [a, b]\n---\n\n## Stage 1: A\n\n```sh {name=a1 after=LOOP-B/b1}\ntrue\n```\n",
		"loops/b.md": "---\nloop_id: LOOP-B\nstatus: draft\nhost: elsewhere\n---\n\n## Stage 1: B\n\n```sh {name=b1}\ntrue\n```\n",
	})
	if it := r.plan(nil, "LOOP-A", "a1"); it.State != StateWaiting || !strings.HasPrefix(it.Reason, "document has errors (loops/a.md:4:") {
		t.Errorf("a1: %s %q; want waiting, document has errors naming loops/a.md:4", it.State, it.Reason)
	}
	if it := r.plan(nil, "LOOP-B", "b1"); it.State != StateWaiting || it.Reason != `loop status is "draft"; only active loops run` {
		t.Errorf("b1: %s %q; want waiting for its status", it.State, it.Reason)
	}
}

// TestLoopWithUnreadStepsIsInvalid: a loop whose only step Markdown does
// not read as one (indented into a code block), or whose body is nested
// too deep to read, has no step to plan, and is still named invalid: plan
// and run exit 2, not "nothing pending".
func TestLoopWithUnreadStepsIsInvalid(t *testing.T) {
	for name, body := range map[string]string{
		"indented": "## Stage 1: A\n\n    ```sh {name=a}\n    true\n    ```\n",
		"too deep": "## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n\n" + strings.Repeat("> ", 150) + "x\n",
	} {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", body)})
			for _, cmd := range []string{"plan", "run"} {
				if out, code := r.spine(context.Background(), nil, cmd); code != 2 || !strings.Contains(out, "LOOP-A") || strings.Contains(out, "nothing pending") {
					t.Errorf("%s: exit %d, want 2 naming LOOP-A, not saying nothing is pending\n%s", cmd, code, out)
				}
			}
		})
	}
}

func TestPackRunnerRunsTheBytesItChecked(t *testing.T) {
	root := t.TempDir()
	made := filepath.Join(root, "made")
	if err := os.MkdirAll(filepath.Join(root, "verify"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "verify", "p.yaml"), []byte("pack: p\nchecks:\n  - id: C1\n    run: touch "+made+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var seen []string
	pr := &PackRunner{Dir: filepath.Join(root, "verify"), Root: root, Committed: func(rel string, data []byte) error {
		seen = append(seen, rel)
		return fmt.Errorf("%s is not committed", rel)
	}}
	_, _, failed, err := pr.RunPack(context.Background(), "p", io.Discard, nil)
	if err == nil || !failed || !strings.Contains(err.Error(), "verify/p.yaml is not committed") {
		t.Fatalf("RunPack of a refused pack: failed %v, %v", failed, err)
	}
	if _, err := os.Stat(made); err == nil {
		t.Fatal("a refused pack ran its check")
	}
	pr.Committed = func(string, []byte) error { return nil }
	checks, _, failed, err := pr.RunPack(context.Background(), "p", io.Discard, nil)
	if err != nil || failed || len(checks) != 1 || checks[0].Command != "touch "+made {
		t.Fatalf("RunPack: %+v, failed %v, %v", checks, failed, err)
	}
	if _, err := os.Stat(made); err != nil {
		t.Fatalf("the committed pack did not run: %v", err)
	}
	if fmt.Sprint(seen) != "[verify/p.yaml]" {
		t.Errorf("Committed saw %v", seen)
	}
}

// TestFinishedLoopWithHiddenStepsIsInvalid: a loop whose steps all passed
// gets a stage whose step reuses a passed step's name, or a step after
// its evidence block (outside any stage): neither is planned as a new
// step, and the loop is named invalid (plan and run exit 2 with the
// finding), not "nothing pending" while the new step never runs.
func TestFinishedLoopWithHiddenStepsIsInvalid(t *testing.T) {
	for name, extra := range map[string]string{
		"duplicate name":    "\n## Stage 2: B\n\n```sh {name=a}\necho second >> ran.txt\n```\n",
		"outside any stage": "\n```sh {name=late}\necho late >> ran.txt\n```\n",
	} {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n")})
			if out, code := r.spine(context.Background(), nil, "run"); code != 0 {
				t.Fatalf("first run: exit %d\n%s", code, out)
			}
			doc := filepath.Join(r.root, "loops", "a.md")
			src, err := os.ReadFile(doc)
			if err != nil {
				t.Fatal(err)
			}
			r.commit("more", map[string]string{"loops/a.md": string(src) + extra})
			for _, cmd := range []string{"plan", "run"} {
				if out, code := r.spine(context.Background(), nil, cmd); code != 2 || cmd == "run" && !strings.Contains(out, "skip LOOP-A: loops/a.md has errors") {
					t.Errorf("%s: exit %d, want 2 naming LOOP-A's errors\n%s", cmd, code, out)
				}
			}
			if _, err := os.Stat(filepath.Join(r.root, "ran.txt")); err == nil {
				t.Error("the new step ran")
			}
		})
	}
}
