package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
)

// TestReceiptWrittenWhileNextStepRuns checks the order of a loop run's
// durable points: a step's receipt is written once the next step of its
// stage has started (receipt-pending, then after-receipt once that step's
// process ended), the last receipt of a stage before the stage's commit,
// and the receipts chain in run order.
func TestReceiptWrittenWhileNextStepRuns(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/o.md": loopDoc("LOOP-O",
		"## Stage 1: Three\n\n```sh {name=a}\necho a\n```\n\n```sh {name=b}\necho b\n```\n\n```sh {name=c}\necho c >&2\n```\n\n"+
			"## Stage 2: One\n\n```sh {name=d}\necho d\n```\n")})
	// Each point is noted with the number of receipts on disk then.
	var points []string
	onDisk := func() int {
		m, err := filepath.Glob(filepath.Join(r.root, "receipts", "*", "*", "*", "*", artifacts.ReceiptFile))
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	out := r.run(nil, func(o *Options) {
		o.Fault = func(point string) { points = append(points, fmt.Sprintf("%s:%d", point, onDisk())) }
	})
	at := func(n int, ps ...string) []string {
		var l []string
		for _, p := range ps {
			l = append(l, fmt.Sprintf("%s:%d", p, n))
		}
		return l
	}
	var want []string
	want = append(want, at(0, FaultBeforeIntent, FaultAfterIntent, FaultAfterExit, FaultAfterResult)...) // a
	// b runs while a's receipt is written, c while b's.
	for n := 0; n < 2; n++ {
		want = append(want, at(n, FaultBeforeIntent, FaultAfterIntent, FaultReceiptPending)...)
		want = append(want, at(n+1, FaultAfterReceipt, FaultAfterExit, FaultAfterResult)...)
	}
	// c's receipt is written before the stage's commit; d is alone in
	// its stage.
	want = append(want, at(3, FaultAfterReceipt, FaultIndexLockRecorded, FaultIndexLocked, FaultRefLockRecorded, FaultRefLocked, FaultAfterCommit, FaultBeforeIntent, FaultAfterIntent, FaultAfterExit, FaultAfterResult)...)
	want = append(want, at(4, FaultAfterReceipt, FaultIndexLockRecorded, FaultIndexLocked, FaultRefLockRecorded, FaultRefLocked, FaultAfterCommit)...)
	if diff := cmp.Diff(want, points); diff != "" {
		t.Errorf("fault points:receipts on disk (-want +got):\n%s", diff)
	}
	store := &artifacts.Store{Root: r.root}
	var steps []string
	prev := ""
	for i, rc := range out.Receipts {
		steps = append(steps, rc.Step)
		if i > 0 && rc.Prev != prev {
			t.Errorf("receipt %s: prev %q, want %q (the receipt before it)", rc.Step, rc.Prev, prev)
		}
		p, err := store.ReceiptPath(rc.RunKey)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		prev = artifacts.ChainHash(data)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, steps); diff != "" {
		t.Errorf("receipts (-want +got):\n%s", diff)
	}
	r.clean()
}
