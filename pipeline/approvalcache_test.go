package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
)

// TestApprovalCache checks that approval lookups kept between processes
// (Gates.StateDir) decide exactly as a fresh walk of the history does while
// the history changes: a commit that does not touch the document, a new
// approval commit, an approval withdrawn and given again, a step edited by
// its approver (policy.forbid_self_approval), a rewritten history, and a
// damaged cache file. It also checks what a kept lookup costs: no commit
// read at the same HEAD, one per walk after one new commit.
func TestApprovalCache(t *testing.T) {
	lead := person{name: "Lead", email: "lead@example.com"}
	second := person{name: "Second", email: "second@example.com"}
	intruder := person{name: "Intruder", email: "intruder@example.com"}
	operator := person{name: "Operator", email: "op@example.com"}
	r := newRepo(t)
	state := t.TempDir()
	r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com, second@example.com]\n  forbid_self_approval: true\n"})
	doc := func(cmd string, approved bool) string {
		d := loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Provision\n\n```sh {name=provision gate=ALLOW_X destructive=true}\n%s\n```\n", cmd))
		if approved {
			d = strings.Replace(d, "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)
		}
		return d
	}
	const rel = "loops/a.md"
	// decide checks the gate as a new process would, with the cache in
	// stateDir ("": none), and returns the decision and the commits read.
	decide := func(stateDir string) (Decision, int) {
		t.Helper()
		cfg, err := config.Load(r.root)
		if err != nil {
			t.Fatal(err)
		}
		g, err := gitx.Open(r.root)
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(filepath.Join(r.root, rel))
		if err != nil {
			t.Fatal(err)
		}
		d := loops.Parse(rel, src)
		_, step := d.Step("provision")
		gates := &Gates{Env: func(string) (string, bool) { return "", false }, Policy: cfg.Policy, Git: g, StateDir: stateDir}
		dec := gates.Check(d, step, "ALLOW_X")
		// A second step of the same document: no more commits read.
		visited := gates.history().visited
		if again := gates.Check(d, step, "ALLOW_X"); !cmp.Equal(dec, again) || gates.history().visited != visited {
			t.Fatalf("second check: %+v after %+v, %d commits read after %d", again, dec, gates.history().visited, visited)
		}
		if err := gates.SaveCache(); err != nil {
			t.Fatal(err)
		}
		return dec, visited
	}
	head := func() string { return strings.TrimSpace(r.git("rev-parse", "HEAD")) }
	// A check walks for the approval and, with forbid_self_approval, for
	// the author of each part of the step (all but the steps before it):
	// after a commit that does not touch the document, each walk reads
	// that one commit and carries its kept result on.
	walksPerCheck := 1 + len(stepFields(&loops.Document{}, &loops.Step{})) - 1
	approvedAt := ""
	first := func() string { return approvedAt }

	steps := []struct {
		name   string
		change func()
		// wantCommit is the approval commit ("" for a refusal with
		// wantReason); wantVisited the commits the cached lookup reads (-1:
		// not checked).
		wantCommit  func() string
		wantReason  string
		wantVisited int
	}{
		{name: "approved by an approver", change: func() {
			r.gitCommit(operator, nil, "the gated step", map[string]string{rel: doc("echo one", false)})
			r.gitCommit(lead, nil, "approve", map[string]string{rel: doc("echo one", true)})
			approvedAt = head()
		}, wantCommit: head, wantVisited: -1},
		{name: "same HEAD", change: func() {}, wantCommit: first, wantVisited: 0},
		{name: "a commit that does not touch the document", change: func() {
			r.commit("unrelated", map[string]string{"notes.txt": "x"})
		}, wantCommit: first, wantVisited: walksPerCheck},
		{name: "approval withdrawn", change: func() {
			r.gitCommit(lead, nil, "withdraw", map[string]string{rel: doc("echo one", false)})
		}, wantReason: "not approved", wantVisited: 0},
		{name: "approved again by another approver", change: func() {
			r.gitCommit(second, nil, "approve again", map[string]string{rel: doc("echo one", true)})
		}, wantCommit: head, wantVisited: -1},
		{name: "the approver edits the step", change: func() {
			r.gitCommit(second, nil, "edit", map[string]string{rel: doc("echo two", true)})
		}, wantReason: "cannot approve it", wantVisited: -1},
		{name: "history rewritten: the approval replaced by an intruder's", change: func() {
			r.git("reset", "-q", "--hard", "HEAD~5")
			r.gitCommit(intruder, nil, "approve", map[string]string{rel: doc("echo one", true)})
		}, wantReason: "not in policy.approvers", wantVisited: -1},
		{name: "history rewritten back to an approver's", change: func() {
			r.git("reset", "-q", "--hard", "HEAD~1")
			r.gitCommit(lead, nil, "approve", map[string]string{rel: doc("echo one", true)})
		}, wantCommit: head, wantVisited: -1},
		{name: "cache file damaged", change: func() {
			if err := os.WriteFile(filepath.Join(state, approvalsIndexName), []byte(`{"version":1,"walks":{"x":{"h":"zz"}}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantCommit: head, wantVisited: -1},
		{name: "a kept result from an older HEAD", change: func() {
			// Restoring the cache file after a commit: the kept walks are
			// from the HEAD before it, and are carried on, not used as is.
			data, err := os.ReadFile(filepath.Join(state, approvalsIndexName))
			if err != nil {
				t.Fatal(err)
			}
			r.commit("unrelated again", map[string]string{"notes.txt": "y"})
			if err := os.WriteFile(filepath.Join(state, approvalsIndexName), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantCommit: func() string { return strings.TrimSpace(r.git("rev-parse", "HEAD~1")) }, wantVisited: walksPerCheck},
	}
	for _, s := range steps {
		s.change()
		fresh, _ := decide("")
		got, visited := decide(state)
		if diff := cmp.Diff(fresh, got); diff != "" {
			t.Fatalf("%s: cached decision differs from a fresh walk (-fresh +cached):\n%s", s.name, diff)
		}
		if s.wantCommit != nil {
			if want := s.wantCommit(); !got.Approved || got.Approval == nil || got.Approval.Commit != want {
				t.Fatalf("%s: %+v (%q), want approved by commit %s", s.name, got, got.Reason, want)
			}
		} else if got.Approved || !strings.Contains(got.Reason, s.wantReason) {
			t.Fatalf("%s: %+v, want refused with %q", s.name, got, s.wantReason)
		}
		if s.wantVisited >= 0 && visited != s.wantVisited {
			t.Errorf("%s: the cached lookup read %d commits, want %d", s.name, visited, s.wantVisited)
		}
	}
}

// TestHistoryWalkLimit checks that a walk resumed from a kept result
// still stops after its limit of commits, as a fresh walk does: a run
// longer than the limit is an error (who wrote it cannot be told), one
// that ends within it is found.
func TestHistoryWalkLimit(t *testing.T) {
	r := newRepo(t)
	state := t.TempDir()
	const rel = "loops/a.md"
	approved := strings.Replace(loopDoc("LOOP-A", "## Stage 1: S\n\n```sh {name=s gate=G}\ntrue\n```\n"), "status: active\n", "status: active\napprovals: [G]\n", 1)
	r.commit("c0", map[string]string{rel: approved})
	for i := 1; i <= 4; i++ {
		r.commit(fmt.Sprintf("c%d", i), map[string]string{"n.txt": fmt.Sprint(i)})
	}
	g, err := gitx.Open(r.root)
	if err != nil {
		t.Fatal(err)
	}
	d := loops.Parse(rel, []byte(approved))
	pred := func(d *loops.Document) bool { return hasApproval(d.Meta, "G") }
	rev := func(n int) string { return strings.TrimSpace(r.git("rev-parse", fmt.Sprintf("HEAD~%d", n))) }
	for _, limit := range []int{1, 2, 3, 5, 6, 10} {
		// Keep a walk from HEAD~2, then walk from HEAD.
		r.git("checkout", "-q", "--detach", "HEAD~2")
		hc := newHistoryCache(g, state, nil)
		if _, _, err := hc.walk(rel, "k", d, limit, false, pred); (err != nil) != (limit < 3) {
			t.Fatalf("limit %d, from HEAD~2 (a run of 3): %v", limit, err)
		}
		if err := hc.save(); err != nil {
			t.Fatal(err)
		}
		r.git("checkout", "-q", "main")
		fresh, _, ferr := newHistoryCache(g, "", nil).walk(rel, "k", d, limit, false, pred)
		cached, _, cerr := newHistoryCache(g, state, nil).walk(rel, "k", d, limit, false, pred)
		if limit < 5 {
			if ferr == nil || cerr == nil || !strings.Contains(ferr.Error(), "older than the last") || !strings.Contains(cerr.Error(), "older than the last") {
				t.Errorf("limit %d, a run of 5: fresh %v, cached %v, want both cut short", limit, ferr, cerr)
			}
		} else if ferr != nil || cerr != nil || fresh.Hash.String() != rev(4) || cached.Hash.String() != rev(4) {
			t.Errorf("limit %d: fresh %v %v, cached %v %v, want %s", limit, fresh, ferr, cached, cerr, rev(4))
		}
		if err := os.Remove(filepath.Join(state, approvalsIndexName)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}
