package pipeline

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLedgerReadsWhatItWrote: entries come back by loop and step, in
// order, and by document and step when the document is recorded; a torn or foreign line (a crash mid-write, a hand edit) is
// skipped, not an error; no ledger is no entries.
func TestLedgerReadsWhatItWrote(t *testing.T) {
	dir := t.TempDir()
	if got, err := readLedger(dir); err != nil || got != nil {
		t.Fatalf("no ledger: %v, %v", got, err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	es := []LedgerEntry{
		{LoopID: "LOOP-A", Step: "wipe", RunKey: "CAP-20261126-100000__step.wipe__Ra", At: at}, // before paths were recorded
		{LoopID: "LOOP-B", Path: "loops/b.md", Step: "wipe", RunKey: "CAP-20261126-100001__step.wipe__Rb", At: at.Add(time.Second)},
		{LoopID: "LOOP-A", Path: "loops/a.md", Step: "wipe", RunKey: "CAP-20261126-100002__step.wipe__Rc", At: at.Add(2 * time.Second)},
	}
	for i, e := range es {
		if err := appendLedger(dir, e); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			f, err := os.OpenFile(filepath.Join(dir, ledgerName), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("{\"loop_id\":\"LOOP-A\",\"step\":\"wi\n" + "not json\n" + "{}\n")
			f.Close()
		}
	}
	got, err := readLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]string][]LedgerEntry{
		{"LOOP-A", "wipe"}:                  {es[0], es[2]},
		{"LOOP-B", "wipe"}:                  {es[1]},
		ledgerPathKey("loops/a.md", "wipe"): {es[2]},
		ledgerPathKey("loops/b.md", "wipe"): {es[1]},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("readLedger (-want +got):\n%s", diff)
	}
}

// TestLedgerRefusesAnOverlongLine: a line over the ledger's bound (damage:
// its lines are a few hundred bytes) stops the reading with an error that
// names the file, rather than planning without the runs after it.
func TestLedgerRefusesAnOverlongLine(t *testing.T) {
	dir := t.TempDir()
	e := LedgerEntry{LoopID: "LOOP-A", Step: "wipe", RunKey: "CAP-20261126-100000__step.wipe__Ra", At: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	if err := os.WriteFile(filepath.Join(dir, ledgerName), append(bytes.Repeat([]byte("x"), 1<<20+1), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := appendLedger(dir, e); err != nil {
		t.Fatal(err)
	}
	_, err := readLedger(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ledgerName)) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("readLedger = %v, want an error naming the damaged ledger", err)
	}
}

func TestLedgerPermHint(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ledgerName)
	missing := filepath.Join(dir, "none", ledgerName)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		err  error
		want string
	}{
		{p, syscall.EACCES, " (every operator who runs spine in this clone must read and append to it; its owner can run chmod g+rw " + p + ")"},
		// No ledger yet: the folder is what refuses.
		{missing, syscall.EACCES, " (every operator who runs spine in this clone, or a linked working tree of it, must be able to create it; the owner of " + filepath.Dir(missing) + " can run chmod g+rwx " + filepath.Dir(missing) + ")"},
		{p, syscall.EPERM, ""}, // immutable: no chmod mends it
		{p, syscall.ENOSPC, ""},
	} {
		err := &fs.PathError{Op: "open", Path: tt.path, Err: tt.err}
		if got := ledgerPermHint(err, tt.path); got != tt.want {
			t.Errorf("ledgerPermHint(%v) = %q, want %q", err, got, tt.want)
		}
	}
}
