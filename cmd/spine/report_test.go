package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

// TestHeldGateSaysHowToApprove: a blocked step's next move is to add the
// gate to approvals: when it is not there; when it is (the approval does
// not cover the step as it is, and the reason says why), to approve it
// again, not to add what is there already.
func TestHeldGateSaysHowToApprove(t *testing.T) {
	doc := func(approvals string) *loops.Document {
		return loops.Parse("loops/a.md", []byte("---\nloop_id: LOOP-A\nstatus: active\n"+approvals+"---\n\n# LOOP-A\n\n## Stage 1: W\n\n```sh {name=w gate=G}\ntrue\n```\n"))
	}
	for _, tc := range []struct {
		name      string
		approvals string
		gitOnly   bool
		want      string
	}{
		{"not listed", "", false, "approve: G=yes spine run, or add G to approvals: (commit by an approver)"},
		{"not listed, a hook's run", "", true, "approve: add G to approvals: in a commit by an approver, and push"},
		{"listed", "approvals: [G]\n", false, "approve: G=yes spine run, or an approver commits approvals: without G, then with it"},
		{"listed, a hook's run", "approvals: [G]\n", true, "approve again: an approver commits approvals: without G, then with it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			rep := newTermReporter(&out, &out, false)
			rep.gitApprovalsOnly = tc.gitOnly
			d := doc(tc.approvals)
			rep.Held(&pipeline.Item{LoopID: "LOOP-A", Name: "w", Gate: "G", State: pipeline.StateBlocked, Reason: "gate G: ...", Doc: d})
			if len(rep.rows) != 1 || rep.rows[0].next != tc.want {
				t.Fatalf("next = %q, want %q", rep.rows[0].next, tc.want)
			}
			if tc.approvals != "" && strings.Contains(rep.rows[0].next, "add G") {
				t.Fatalf("next asks to add what approvals: lists: %q", rep.rows[0].next)
			}
		})
	}
	// A --retry refused at the gate of a step that failed before: the
	// approval alone will not run it.
	var out bytes.Buffer
	rep := newTermReporter(&out, &out, false)
	rep.Held(&pipeline.Item{LoopID: "LOOP-A", Name: "w", Gate: "G", State: pipeline.StateBlocked, Reason: "gate G: ...", Doc: doc(""), RetryNeeded: true})
	if want := "approve and retry: G=yes spine run --retry w, or an approver commits G in approvals:, then spine run --retry w"; len(rep.rows) != 1 || rep.rows[0].next != want {
		t.Fatalf("next = %q, want %q", rep.rows[0].next, want)
	}
}
