package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTwoHostsAlternateStages: a loop whose stages run on host a, then b,
// then a again (host= per step). Each host's runner runs only its own steps
// and pushes; a host starts its stage only once the other's receipts for
// the previous stage are in the branch it pulled. Git is the coordination
// log.
func TestTwoHostsAlternateStages(t *testing.T) {
	t.Parallel()
	body := "## Stage 1: Prepare\n\n" + step("name=prepare host=a", "echo prepared on a") +
		"\n## Stage 2: Move\n\n" + step("name=move host=b", "echo moved on b") +
		"\n## Stage 3: Verify\n\n" + step("name=verify host=a", "echo verified on a")
	bare := newBare(t, map[string]string{"loops/x.md": loopDoc("LOOP-X", body)})
	a, b := cloneOf(t, bare), cloneOf(t, bare)
	cycle := func(dir, host string) string {
		t.Helper()
		return mustSpine(t, dir, 0, "watch", "--once", "--host", host)
	}
	planOf := func(dir, host string) map[string]string {
		t.Helper()
		var items []struct{ Name, State, Reason string }
		if err := json.Unmarshal([]byte(mustSpine(t, dir, 0, "plan", "--json", "--host", host)), &items); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, it := range items {
			m[it.Name] = it.State + ": " + it.Reason
		}
		return m
	}

	// b first: stage 1 is a's, so nothing runs on b.
	cycle(b, "b")
	if p := planOf(b, "b"); !strings.Contains(p["prepare"], "runs on host a") {
		t.Fatalf("b's plan for prepare: %q", p["prepare"])
	}
	if len(receiptFiles(t, bare)) != 0 {
		t.Fatal("b ran a's step")
	}
	cycle(a, "a") // prepare
	if p := planOf(a, "a"); !strings.Contains(p["move"], "runs on host b") || !strings.HasPrefix(p["verify"], "waiting: waiting for step move, which runs on host b (this is a)") {
		t.Fatalf("a's plan after stage 1: %v", p)
	}
	cycle(a, "a") // nothing: stage 2 is b's
	if n := len(receiptFiles(t, bare)); n != 1 {
		t.Fatalf("%d receipts after a's stage, want 1", n)
	}
	cycle(b, "b") // pulls a's receipts, moves
	cycle(a, "a") // pulls b's receipts, verifies

	got := spineCommits(t, bare)
	var hosts []string
	for _, c := range got {
		hosts = append(hosts, c[1])
	}
	if strings.Join(hosts, ",") != "a,b,a" {
		t.Fatalf("spine commits by host: %v, want a,b,a", hosts)
	}
	assertLinear(t, bare)
	for _, p := range receiptFiles(t, bare) {
		var rc struct{ Step, Host, Status string }
		if err := json.Unmarshal([]byte(bareGit(t, bare, "show", "main:"+p)), &rc); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"prepare": "a", "move": "b", "verify": "a"}[rc.Step]
		if rc.Host != want || rc.Status != "pass" {
			t.Fatalf("receipt of %s: host %s status %s, want host %s pass", rc.Step, rc.Host, rc.Status, want)
		}
	}
	doc := bareGit(t, bare, "show", "main:loops/x.md")
	if strings.Count(doc, "(pass, step ") != 3 {
		t.Fatalf("evidence does not list the three runs:\n%s", doc)
	}
	if p := planOf(cloneOf(t, bare), "a"); len(p) != 0 {
		t.Fatalf("steps left: %v", p)
	}
}
