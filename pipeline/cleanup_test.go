package pipeline

import (
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
