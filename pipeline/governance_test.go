package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/caps"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
)

func TestDerivedGate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"gaps.close", "ALLOW_GAPS_CLOSE"},
		{"infra.storage.audit-snapshot", "ALLOW_INFRA_STORAGE_AUDIT_SNAPSHOT"},
		{"zfs_destroy", "ALLOW_ZFS_DESTROY"},
		{"héllo wörld", "ALLOW_H__LLO_W__RLD"},
	} {
		if got := DerivedGate(tc.in); got != tc.want {
			t.Errorf("DerivedGate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCapabilityGate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    caps.Capability
		want string
	}{
		{"read-only auto", caps.Capability{Name: "a.b", Safety: caps.SafetyReadOnly, Approval: caps.ApprovalAuto}, ""},
		{"nothing set", caps.Capability{Name: "a.b"}, ""},
		{"mutating auto", caps.Capability{Name: "a.b", Safety: caps.SafetyMutating}, ""},
		{"destructive with gate", caps.Capability{Name: "a.b", Safety: caps.SafetyDestructive, Gate: "ALLOW_X"}, "ALLOW_X"},
		{"destructive without gate", caps.Capability{Name: "a.b", Safety: caps.SafetyDestructive}, "ALLOW_A_B"},
		{"manual without gate", caps.Capability{Name: "a.b", Approval: caps.ApprovalManual}, "ALLOW_A_B"},
		{"unknown safety counts as destructive", caps.Capability{Name: "a.b", Safety: "dangerous"}, "ALLOW_A_B"},
		{"unknown approval counts as manual", caps.Capability{Name: "a.b", Approval: "ask"}, "ALLOW_A_B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CapabilityGate(tc.c); got != tc.want {
				t.Errorf("CapabilityGate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCapabilityPolicy(t *testing.T) {
	if g, to := CapabilityPolicy(nil); g != nil || to != nil {
		t.Error("a nil registry has a policy")
	}
	reg, _, err := caps.Parse("capabilities.yaml", []byte("capabilities:\n  zfs.destroy:\n    safety: destructive\n    timeout: 90s\n  ro:\n    safety: read-only\n"))
	if err != nil {
		t.Fatal(err)
	}
	gate, timeout := CapabilityPolicy(reg)
	got := []string{gate("zfs.destroy"), gate("ro"), gate("unknown"), timeout("zfs.destroy").String(), timeout("ro").String(), timeout("unknown").String()}
	want := []string{"ALLOW_ZFS_DESTROY", "", "", "1m30s", "0s", "0s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
}

func TestStepTimeout(t *testing.T) {
	r := NewRunner(Options{Config: config.Default(), CapTimeout: func(c string) time.Duration {
		if c == "slow.op" {
			return time.Minute
		}
		return 0
	}})
	for _, tc := range []struct {
		step loops.Step
		want time.Duration
	}{
		{loops.Step{Name: "a", Cap: "slow.op"}, time.Minute},
		{loops.Step{Name: "a", Cap: "slow.op", Timeout: time.Second}, time.Second},
		{loops.Step{Name: "a", Cap: "other"}, 0},
		{loops.Step{Name: "a"}, 0},
	} {
		if got := r.stepTimeout(&tc.step); got != tc.want {
			t.Errorf("stepTimeout(%+v) = %s, want %s", tc.step, got, tc.want)
		}
	}
}

func TestLineDiff(t *testing.T) {
	for _, tc := range []struct{ name, a, b, want string }{
		{"same", "x\ny\n", "x\ny\n", ""},
		{"append", "x\n", "x\ny\n", "@@ line 2 @@\n+ y\n"},
		{"insert", "a\nz\n", "a\nb\nc\nz\n", "@@ line 2 @@\n+ b\n+ c\n"},
		{"replace", "a\nb\nc\n", "a\nB\nc\n", "@@ line 2 @@\n- b\n+ B\n"},
		{"from empty", "", "gaps:\n", "@@ line 1 @@\n+ gaps:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LineDiff([]byte(tc.a), []byte(tc.b)); got != tc.want {
				t.Errorf("LineDiff = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorFinding(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("gaps.yaml:7: invalid YAML: did not find expected key"), "gaps.yaml:7: error: invalid YAML: did not find expected key"},
		{errors.New("gaps.yaml: invalid YAML: boom"), "gaps.yaml: error: invalid YAML: boom"},
		{errors.New("other: boom"), "gaps.yaml: error: other: boom"},
	} {
		if got := ErrorFinding("gaps.yaml", tc.err).String(); got != tc.want {
			t.Errorf("ErrorFinding(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestGovernanceInPipeline files and closes a gap and closes a loop through
// the Runner, with a fixed clock, checking the dates it records.
func TestGovernanceInPipeline(t *testing.T) {
	r := newRepo(t)
	r.commit("fixture", map[string]string{
		"loops/LOOP-G.md": loopDoc("LOOP-G", "## Stage 0: Go\n\n```sh {name=hello}\necho hi\n```\n"),
		"gaps.yaml":       "# ledger\ngaps: []\n# end\n",
	})
	clock := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	fixed := func(o *Options) { o.Clock = func() time.Time { return clock } }
	r.run(nil, fixed)

	opts := r.runOpts(nil)
	fixed(&opts)
	ed, err := NewRunner(opts).FileGap(context.Background(), GapFiling{Loop: "LOOP-G", Title: "t", Severity: "low", Type: "runtime-bug", Command: "spine gap file"})
	if err != nil {
		t.Fatal(err)
	}
	if ed.Gap.ID != "GAP-OP-001" || ed.Gap.DiscoveredAt != "2026-03-01" || ed.Gap.ParentLoop != "LOOP-G" || ed.Commit == "" {
		t.Errorf("filed: %+v commit %q", ed.Gap, ed.Commit)
	}
	if got := r.read("gaps.yaml"); !strings.HasPrefix(got, "# ledger\ngaps:\n  - id: \"GAP-OP-001\"\n") || !strings.HasSuffix(got, "# end\n") {
		t.Errorf("ledger after filing:\n%s", got)
	}
	r.clean()

	opts = r.runOpts(nil)
	fixed(&opts)
	_, err = NewRunner(opts).CloseLoop(context.Background(), "LOOP-G", false, "spine loop close LOOP-G")
	var out *OutstandingError
	if !errors.As(err, &out) || len(out.Items) != 1 || !strings.Contains(out.Items[0], "GAP-OP-001") {
		t.Fatalf("close with an open gap: %v", err)
	}

	opts = r.runOpts(nil)
	fixed(&opts)
	if _, err := NewRunner(opts).CloseGap(context.Background(), "GAP-OP-404", "LOOP-G", "", "x"); !errors.Is(err, ErrGapNotFound) {
		t.Errorf("closing a missing gap: %v", err)
	}
	if _, err := NewRunner(opts).CloseGap(context.Background(), "GAP-OP-001", "LOOP-G", "", "x"); err != nil {
		t.Fatal(err)
	}
	opts = r.runOpts(nil)
	fixed(&opts)
	lc, err := NewRunner(opts).CloseLoop(context.Background(), "LOOP-G", false, "spine loop close LOOP-G")
	if err != nil {
		t.Fatal(err)
	}
	doc := loops.Parse("loops/LOOP-G.md", []byte(r.read("loops/LOOP-G.md")))
	if doc.Status != "closed" || doc.Meta.String("closed_at") != "2026-03-01T10:15:00Z" || lc.Receipt.Stage != StageCloseout {
		t.Errorf("closed doc: status %q closed_at %q", doc.Status, doc.Meta.String("closed_at"))
	}
	r.clean()
	opts = r.runOpts(nil)
	if _, err := NewRunner(opts).CloseLoop(context.Background(), "LOOP-G", true, "x"); !errors.Is(err, ErrNotClosable) {
		t.Errorf("closing a closed loop: %v", err)
	}
}

// BenchmarkCapabilityPolicy measures the per-step cost of a large
// registry: parsed once per command, then looked up by name.
func BenchmarkCapabilityPolicy(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("capabilities:\n")
	for i := range 800 {
		fmt.Fprintf(&sb, "  cap.%d:\n    description: \"capability %d\"\n    safety: destructive\n    approval: manual\n    timeout: 5m\n    command: ./x.sh\n", i, i)
	}
	data := []byte(sb.String())
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := caps.Parse("capabilities.yaml", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	reg, _, _ := caps.Parse("capabilities.yaml", data)
	gate, timeout := CapabilityPolicy(reg)
	b.Run("lookup", func(b *testing.B) {
		for b.Loop() {
			if gate("cap.799") == "" || timeout("cap.400") == 0 {
				b.Fatal("lookup failed")
			}
		}
	})
}

// TestGovernRollsBack checks that a governance action that fails after
// writing leaves the working tree and HEAD as they were.
func TestGovernRollsBack(t *testing.T) {
	r := newRepo(t)
	r.commit("fixture", map[string]string{
		"loops/LOOP-R.md": loopDoc("LOOP-R", ""),
		"gaps.yaml":       "gaps: []\n",
	})
	head := r.git("rev-parse", "HEAD")
	runner := NewRunner(r.runOpts(nil))
	_, err := runner.govern(context.Background(), func(_ context.Context, tx *govTx) error {
		if err := tx.writeFile("gaps.yaml", []byte("changed\n")); err != nil {
			return err
		}
		if err := tx.writeFile("new.txt", []byte("new\n")); err != nil {
			return err
		}
		if _, err := tx.write(record{loopID: "LOOP-R", stage: StageGaps, step: "x", capability: CapGapFile, status: "pass"}); err != nil {
			return err
		}
		return errors.New("boom")
	})
	if err == nil || err.Error() != "boom" {
		t.Fatalf("govern: %v", err)
	}
	if got := r.read("gaps.yaml"); got != "gaps: []\n" {
		t.Errorf("gaps.yaml not restored: %q", got)
	}
	if r.git("rev-parse", "HEAD") != head {
		t.Error("a failed action committed")
	}
	r.clean()
}
