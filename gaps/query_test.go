package gaps

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const queryLedger = `gaps:
  - id: Q-1
    status: open
    parent_loop: LOOP-A
  - id: Q-2
    status: open
    parent_loop: LOOP-CLOSED
  - id: Q-3
    status: open
    parent_loop: LOOP-GONE
  - id: Q-4
    status: fixed
    parent_loop: LOOP-GONE
  - id: Q-5
    status: open
  - id: Q-6
    status: accepted
    parent_loop: LOOP-GONE
  - id: Q-7
    parent_loop: LOOP-GONE
    severity: High
    type: runtime-bug
  - id: Q-8
    status: in-progress
    discovered_by: LOOP-A
  - id: Q-9
    status: closed
    loop: LOOP-A
`

func ids(gs []Gap) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

func TestOrphans(t *testing.T) {
	l := mustParse(t, "g.yaml", []byte(queryLedger))
	tests := []struct {
		name  string
		loops map[string]string
		want  []string
	}{
		{
			name:  "closed and missing parents",
			loops: map[string]string{"LOOP-A": "active", "LOOP-CLOSED": "Closed"},
			// Q-5 has no parent: unclaimed, not orphaned. are
			// not open. Q-7 has no status and counts as open.
			want: []string{"Q-2", "Q-3", "Q-7"},
		},
		{
			name:  "every parent alive",
			loops: map[string]string{"LOOP-A": "active", "LOOP-CLOSED": "blocked", "LOOP-GONE": "draft"},
		},
		{
			name: "no loops known",
			want: []string{"Q-1", "Q-2", "Q-3", "Q-7"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(Orphans(l, tt.loops))); diff != "" {
				t.Errorf("Orphans (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	l := mustParse(t, "g.yaml", []byte(queryLedger))
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"Q-1", "Q-2", "Q-3", "Q-4", "Q-5", "Q-6", "Q-7", "Q-8", "Q-9"}},
		{"open", Filter{Open: true}, []string{"Q-1", "Q-2", "Q-3", "Q-5", "Q-7", "Q-8"}},
		{"loop", Filter{Loop: "LOOP-A"}, []string{"Q-1", "Q-8", "Q-9"}},
		{"open in loop", Filter{Open: true, Loop: "LOOP-A"}, []string{"Q-1", "Q-8"}},
		{"status any case", Filter{Status: "FIXED"}, []string{"Q-4"}},
		{"severity and type", Filter{Severity: "high", Type: "Runtime-Bug"}, []string{"Q-7"}},
		{"nothing", Filter{Loop: "LOOP-NONE"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(Select(l.Gaps, tt.f))); diff != "" {
				t.Errorf("Select (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRealLedgerQueries(t *testing.T) {
	l := mustParse(t, "gaps.yaml", realLedger(t))
	open := Select(l.Gaps, Filter{Open: true})
	if len(open) != 21 {
		t.Errorf("open gaps = %d, want 21", len(open))
	}
	// With no loop known, every open gap that names a parent is an orphan.
	withParent := 0
	for _, g := range open {
		if g.ParentLoop != "" {
			withParent++
		}
	}
	if got := len(Orphans(l, nil)); got != withParent {
		t.Errorf("Orphans(no loops) = %d, want %d", got, withParent)
	}
}
