package main

import (
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
