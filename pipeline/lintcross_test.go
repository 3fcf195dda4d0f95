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

// TestAfterCyclesAcrossLoops: steps of two loops that wait for each other
// (through after= and the order of each loop's steps) would never run;
// lint says so once per cycle, at the step whose after= closes it. A
// chain of waits that ends is not reported.
func TestAfterCyclesAcrossLoops(t *testing.T) {
	doc := func(path, id, body string) *loops.Document {
		return loops.Parse(path, []byte("---\nloop_id: "+id+"\nstatus: active\n---\n\n# "+id+"\n\n## Stage 1: S\n\n"+body))
	}
	a := doc("loops/a.md", "LOOP-A", "```sh {name=first}\ntrue\n```\n\n"+ // line 10
		"```sh {name=second after=LOOP-B/y}\ntrue\n```\n") // 14
	b := doc("loops/b.md", "LOOP-B", "```sh {name=x after=LOOP-A/second}\ntrue\n```\n\n"+ // 10
		"```sh {name=y}\ntrue\n```\n") // 14
	c := doc("loops/c.md", "LOOP-C", "```sh {name=z after=LOOP-A/first}\ntrue\n```\n") // a chain that ends
	d := doc("loops/d.md", "LOOP-D", "```sh {name=self after=LOOP-E/e}\ntrue\n```\n")
	e := doc("loops/e.md", "LOOP-E", "```sh {name=e after=LOOP-D/self}\ntrue\n```\n")
	got := messagesOf(GovernanceFindings(t.TempDir(), config.Default(), &loops.Set{Docs: []*loops.Document{a, b, c, d, e}}, nil))
	want := []string{
		"loops/a.md:14: warning: step second: after=LOOP-B/y closes a cycle of waits (LOOP-A/second → LOOP-B/y → LOOP-B/x → LOOP-A/second, each waiting for the next): none of these steps runs until one of them has passed",
		"loops/d.md:10: warning: step self: after=LOOP-E/e closes a cycle of waits (LOOP-D/self → LOOP-E/e → LOOP-D/self, each waiting for the next): none of these steps runs until one of them has passed",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}
