package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
)

const (
	sweepKeyA = "CAP-20261127-202134__step.t010__Rqf3ikkm51z"
	sweepKeyB = "CAP-20261127-202135__step.t011__Rwetjwoc6b6"
	sweepKeyC = "CAP-20261127-202136__disk.wipe__R72j0huewys"
	sweepKeyD = "CAP-20261127-202137__step.t012__Ryjhijzwjbq"
)

func TestRunFileKey(t *testing.T) {
	for _, k := range []string{sweepKeyA, sweepKeyB, sweepKeyC, sweepKeyD} {
		if !artifacts.ValidRunKey(k) {
			t.Fatalf("%s is not a valid run key", k)
		}
	}
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{sweepKeyA + ".log", sweepKeyA, true},
		{sweepKeyA + ".sh", sweepKeyA, true},
		{sweepKeyA + ".spec.json", sweepKeyA, true},
		{sweepKeyA + ".pid", sweepKeyA, true},
		{sweepKeyA + ".exit", sweepKeyA, true},
		{sweepKeyA + ".artifact", sweepKeyA, true},
		{"." + sweepKeyA + ".exit.tmp-1234567", sweepKeyA, true},
		{"." + sweepKeyA + ".spec.json.tmp-9", sweepKeyA, true},
		{spareLogName, "", false},
		{"notes.txt", "", false},
		{sweepKeyA, "", false},
		{sweepKeyA + ".txt", "", false},
		{"." + sweepKeyA + ".exit", "", false},
		{"CAP-not-a-key.log", "", false},
		{".tmp-1", "", false},
	}
	for _, tt := range tests {
		key, ok := runFileKey(tt.name)
		if key != tt.key || ok != tt.ok {
			t.Errorf("runFileKey(%q) = %q, %v; want %q, %v", tt.name, key, ok, tt.key, tt.ok)
		}
	}
}

// sweepRuns removes the files of runs the journal does not hold open and
// the spare log; it keeps those of open runs, names that are not spine's,
// and anything that is not a regular file.
func TestSweepRuns(t *testing.T) {
	state := t.TempDir()
	runs := filepath.Join(state, "runs")
	for _, name := range []string{
		sweepKeyA + ".log", sweepKeyA + ".sh", // no journal entry: stopped before its intent
		sweepKeyB + ".log", "." + sweepKeyB + ".exit.tmp-77", // done
		sweepKeyC + ".log", sweepKeyC + ".pid", "." + sweepKeyC + ".exit.tmp-5", // open: a live background step
		spareLogName,
		"notes.txt",
	} {
		if err := os.MkdirAll(runs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(runs, name), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(runs, sweepKeyD+".log"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Runner{opts: Options{StateDir: state}}
	r.sweepRuns(map[string]*Entry{
		sweepKeyB: {Intent: &JournalRecord{Kind: recIntent, RunKey: sweepKeyB}, Done: true},
		sweepKeyC: {Intent: &JournalRecord{Kind: recIntent, RunKey: sweepKeyC, Background: true}},
	})
	ents, err := os.ReadDir(runs)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	sort.Strings(left)
	want := []string{"." + sweepKeyC + ".exit.tmp-5", sweepKeyC + ".log", sweepKeyC + ".pid", sweepKeyD + ".log", "notes.txt"}
	sort.Strings(want)
	if diff := cmp.Diff(want, left); diff != "" {
		t.Errorf("runs folder after the sweep (-want +got):\n%s", diff)
	}

	// No runs folder: nothing to do, no error.
	(&Runner{opts: Options{StateDir: t.TempDir()}}).sweepRuns(nil)
}

// TestRecoveryRemovesTheDocumentsTemporaryFile: a run killed while it
// rewrote a loop document (its evidence block) leaves the temporary file
// beside it; the next run, recovering the stage, removes it, and the
// working tree is clean. Another file of that shape beside another
// document is left alone.
func TestRecoveryRemovesTheDocumentsTemporaryFile(t *testing.T) {
	r := newRepo(t)
	r.commit("loops", map[string]string{
		"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=x}\ntrue\n```\n"),
		"loops/b.md": loopDoc("LOOP-B", "## Stage 1: Y\n\n```sh {name=y}\ntrue\n```\n"),
	})
	// Killed with the stage's commit under way: what a kill during the
	// document's rewrite leaves is put beside it by hand.
	if _, code := r.spine(context.Background(), []string{"SPINE_FAULT=" + FaultIndexLocked + "@1"}, "run", "--loop", "LOOP-A"); code == 0 {
		t.Fatal("the fault did not stop the run")
	}
	temp := filepath.Join(r.root, "loops", ".a.md.tmp-2940432248")
	other := filepath.Join(r.root, "loops", ".b.md.tmp-1")
	for _, p := range []string{temp, other} {
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, code := r.spine(context.Background(), nil, "run", "--loop", "LOOP-A"); code != 0 {
		t.Fatalf("run after the kill: exit %d\n%s", code, out)
	}
	if _, err := os.Lstat(temp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there: %v", temp, err)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("LOOP-B's file of that shape was removed: %v", err)
	}
	os.Remove(other)
	r.clean()
}
