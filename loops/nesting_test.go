package loops

import (
	"strings"
	"testing"
	"time"
)

func TestNesting(t *testing.T) {
	for _, tc := range []struct {
		src         string
		depth, line int
	}{
		{"", 0, 0},
		{"plain\ntext\n", 0, 0},
		{"> quote\n> > deeper\n", 2, 2},
		{"- a\n  - b\n    - c\n", 3, 3},
		{"1. one\n   2) two\n", 2, 2},
		{"text\n" + strings.Repeat(">", 500) + "\n", 500, 2},
		{"- - - x\n", 3, 1},
		{"-not a list\n*also not\n12x\n", 0, 0},
		{"\t\tcode\n", 0, 0},
		// Indentation alone, blank lines, code in fences, thematic
		// breaks: no containers.
		{strings.Repeat(" ", 300) + "\n" + strings.Repeat(" ", 210) + "x\n", 0, 0},
		{"```sh\n" + strings.Repeat("> ", 200) + "x\n```\n> y\n", 1, 4},
		{strings.Repeat("- ", 150) + "\n", 0, 0},
		{"    - nested\n", 3, 1},
	} {
		d, l := Nesting([]byte(tc.src))
		if d != tc.depth || l != tc.line {
			t.Errorf("Nesting(%q) = %d, %d; want %d, %d", tc.src, d, l, tc.depth, tc.line)
		}
	}
}

// TestDeepNestingRefused: a document nested deeper than MaxNesting is an
// error naming the line, read at once instead of in minutes (goldmark's
// block parser takes time in the square of the depth), and none of its
// steps is taken; one nested up to the limit is read as usual.
func TestDeepNestingRefused(t *testing.T) {
	head := "---\nloop_id: LOOP-A\n---\n\n## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n\n"
	start := time.Now()
	d := Parse("loops/a.md", []byte(head+strings.Repeat(">", 400_000)+"\n"))
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("parse took %s", el)
	}
	want := "11: error: block quotes and lists nested 400000 levels deep here; spine reads documents nested at most 100 deep, and not this one's steps"
	if got := messages(d.Problems); len(got) != 1 || got[0] != want {
		t.Errorf("problems %q; want %q", got, want)
	}
	if len(d.Stages) != 0 {
		t.Errorf("stages read from a refused body: %v", d.Stages)
	}
	ok := Parse("loops/a.md", []byte(head+strings.Repeat("> ", MaxNesting)+"deep\n"))
	if ok.HasErrors() || len(ok.Stages) != 1 {
		t.Errorf("nested %d deep: %v, %d stages; want read", MaxNesting, messages(ok.Problems), len(ok.Stages))
	}
}
