package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRunSkippedLoopWaits: a loop skipped for uncommitted changes has work
// waiting for an operator (commit or revert the edit): spine plan shows
// its step waiting, and spine run says it skipped the loop; both exit 3,
// not "ready to run" or "nothing to do" and 0.
func TestRunSkippedLoopWaits(t *testing.T) {
	doc := "---\nloop_id: LOOP-A\nstatus: active\n---\n# LOOP-A\n\n## Stage 1: One\n\n```sh {name=one}\ntrue\n```\n"
	r := newGovRepo(t, map[string]string{"loops/a.md": doc})
	r.write("loops/a.md", doc+"\nhalf an edit\n")
	out, _ := r.mustSpine(exitWaiting, "plan")
	if !strings.Contains(out, "waiting  loops/a.md has uncommitted changes") {
		t.Errorf("spine plan does not say the step waits for the edit:\n%s", out)
	}
	out, _ = r.mustSpine(exitWaiting, "run")
	for _, want := range []string{"nothing ran: 1 loop(s) skipped", "LOOP-A: loops/a.md has uncommitted changes"} {
		if !strings.Contains(out, want) {
			t.Errorf("spine run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "nothing to do") {
		t.Errorf("spine run says nothing to do with a loop skipped:\n%s", out)
	}
	r.git("checkout", "--", "loops/a.md")
	r.mustSpine(0, "run")
	r.clean()
}

// TestRunInvalidLoopSaidEveryRun checks what a run says of a loop whose
// document has lint errors beside one that runs: the findings as it skips
// it, the loop named again under the summary, exit 2; and the same on the
// next run, whose HEAD is then spine's own commit (not "nothing to do").
func TestRunInvalidLoopSaidEveryRun(t *testing.T) {
	bad := "---\nloop_id: LOOP-BAD\nstatus: active\n---\n# LOOP-BAD\n\n## Stage 1: One\n\n```python {name=py}\nprint(1)\n```\n"
	good := "---\nloop_id: LOOP-GOOD\nstatus: active\n---\n# LOOP-GOOD\n\n## Stage 1: One\n\n```sh {name=one}\ntrue\n```\n"
	r := newGovRepo(t, map[string]string{"loops/bad.md": bad, "loops/good.md": good})
	out, _ := r.mustSpine(exitUsage, "run")
	for _, want := range []string{
		`skip LOOP-BAD: loops/bad.md has errors; fix them (spine lint): loops/bad.md:9: error: step language "python" is not runnable`,
		"LOOP-GOOD  one   pass",
		"1 loop(s) skipped, see above: LOOP-BAD\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first run: output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, `"python" is not runnable`); n != 1 {
		t.Errorf("first run: the finding is printed %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(r.git("log", "-1", "--format=%B"), "Spine-Run:") {
		t.Fatal("the first run made no commit: the second would not test a run after spine's own commit")
	}
	out, _ = r.mustSpine(exitUsage, "run")
	for _, want := range []string{
		`skip LOOP-BAD: loops/bad.md has errors`,
		"nothing ran: 1 loop(s) skipped, see above: LOOP-BAD\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second run: output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "nothing to do") {
		t.Errorf("second run says nothing to do with an invalid loop:\n%s", out)
	}
	// A watcher's cycle with nothing pending still names it.
	out, _ = r.mustSpine(0, "watch", "--once")
	if !strings.Contains(out, "skip LOOP-BAD: loops/bad.md has errors; fix them (spine lint): loops/bad.md:9: error:") {
		t.Errorf("spine watch --once does not name the invalid loop:\n%s", out)
	}
}

// TestQuietRunSaysWhyItSkipped: with --json (standard output only the
// receipts) and with --quiet, a run that skips an invalid loop exits 2 and
// says which loop and why on standard error.
func TestQuietRunSaysWhyItSkipped(t *testing.T) {
	bad := "---\nloop_id: LOOP-BAD\nstatus: active\n---\n# LOOP-BAD\n\n## Stage 1: One\n\n```python {name=py}\nprint(1)\n```\n"
	good := "---\nloop_id: LOOP-GOOD\nstatus: active\n---\n# LOOP-GOOD\n\n## Stage 1: One\n\n```sh {name=one}\ntrue\n```\n"
	for _, mode := range []string{"--json", "--quiet"} {
		t.Run(mode, func(t *testing.T) {
			r := newGovRepo(t, map[string]string{"loops/bad.md": bad, "loops/good.md": good})
			out, errs := r.mustSpine(exitUsage, "run", mode)
			want := `skip LOOP-BAD: loops/bad.md has errors; fix them (spine lint): loops/bad.md:9: error: step language "python" is not runnable`
			if !strings.Contains(errs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errs)
			}
			switch mode {
			case "--json":
				var rcs []map[string]any
				if err := json.Unmarshal([]byte(out), &rcs); err != nil || len(rcs) != 1 || rcs[0]["step"] != "one" {
					t.Errorf("stdout is not the one receipt of LOOP-GOOD (%v):\n%s", err, out)
				}
			case "--quiet":
				if out != "" {
					t.Errorf("--quiet printed to stdout:\n%s", out)
				}
			}
		})
	}
}
