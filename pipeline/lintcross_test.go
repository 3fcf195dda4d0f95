package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
)

// TestGovernanceFindingsAcrossLoops: lint warns of a step waiting for a
// step of another loop that no document has (it waits until a receipt of
// it passes), and of an approval that opens no gate of its loop (a typo
// leaves the gate closed without a word); a reference that resolves, and
// an approval of a gate a step has, are not reported.
func TestGovernanceFindingsAcrossLoops(t *testing.T) {
	a := loops.Parse("loops/a.md", []byte("---\nloop_id: LOOP-A\nstatus: active\napprovals: [ALLOW_NEW, ALLOW_NWE]\n---\n\n# LOOP-A\n\n## Stage 1: S\n\n"+
		"```sh {name=gated gate=ALLOW_NEW}\ntrue\n```\n\n"+ // line 11
		"```sh {name=no-loop after=LOOP-NOPE/x}\ntrue\n```\n\n"+ // 15
		"```sh {name=no-step after=LOOP-B/nosuch}\ntrue\n```\n\n"+ // 19
		"```sh {name=fine after=LOOP-B:y}\ntrue\n```\n"))
	b := loops.Parse("loops/b.md", []byte("---\nloop_id: LOOP-B\nstatus: active\n---\n\n# LOOP-B\n\n## Stage 1: S\n\n```sh {name=y}\ntrue\n```\n"))
	got := messagesOf(GovernanceFindings(t.TempDir(), config.Default(), &loops.Set{Docs: []*loops.Document{a, b}}, nil))
	want := []string{
		"loops/a.md:4: warning: approvals: ALLOW_NWE opens no gate of this loop (its gates: ALLOW_NEW)",
		"loops/a.md:15: warning: step no-loop: after=LOOP-NOPE/x names loop LOOP-NOPE, which no document here has; the step waits until a receipt of LOOP-NOPE/x passes",
		"loops/a.md:19: warning: step no-step: after=LOOP-B/nosuch names no step of loop LOOP-B (loops/b.md); the step waits until a receipt of it passes",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func messagesOf(ps []loops.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// TestNoVerifyPackNotSaidOfABrokenPack: a verify step whose pack's file
// does not parse gets that file's error, not also "no verify pack".
func TestNoVerifyPackNotSaidOfABrokenPack(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "verify"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "verify", "p.yaml"), []byte("pack: p\nchecks: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := loops.Parse("loops/a.md", []byte("---\nloop_id: LOOP-A\nstatus: active\n---\n\n# LOOP-A\n\n## Stage 1: S\n\n```verify {name=v pack=p}\n```\n\n```verify {name=w pack=q}\n```\n"))
	got := messagesOf(GovernanceFindings(root, config.Default(), &loops.Set{Docs: []*loops.Document{d}}, nil))
	var pFile, noP, noQ bool
	for _, m := range got {
		pFile = pFile || strings.HasPrefix(m, "verify/p.yaml:")
		noP = noP || strings.Contains(m, `no verify pack "p"`)
		noQ = noQ || strings.Contains(m, `no verify pack "q"`)
	}
	if !pFile || noP || !noQ {
		t.Errorf("findings %q; want verify/p.yaml's error, no 'no verify pack \"p\"', and 'no verify pack \"q\"'", got)
	}
}
