package main

import (
	"strings"
	"testing"
)

// TestRunSkippedLoopWaits: a loop skipped for uncommitted changes has work
// waiting for an operator (commit or revert the edit): spine run says so
// and exits 3, not "nothing to do" and 0.
func TestRunSkippedLoopWaits(t *testing.T) {
	doc := "---\nloop_id: LOOP-A\nstatus: active\n---\n# LOOP-A\n\n## Stage 1: One\n\n```sh {name=one}\ntrue\n```\n"
	r := newGovRepo(t, map[string]string{"loops/a.md": doc})
	r.write("loops/a.md", doc+"\nhalf an edit\n")
	out, _ := r.mustSpine(exitWaiting, "run")
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
