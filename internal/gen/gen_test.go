package gen

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spinehq/spine/loops"
)

func TestGenerateLoopsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := GenerateLoops(a, 50, 7); err != nil {
		t.Fatal(err)
	}
	if err := GenerateLoops(b, 50, 7); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		x, err := os.ReadFile(filepath.Join(a, Path(i)))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, Path(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Fatalf("document %d differs between two runs with the same seed", i)
		}
		if !bytes.Equal(x, Doc(i, Rand(7, i))) {
			t.Fatalf("document %d on disk differs from Doc(i, Rand(seed, i))", i)
		}
	}
	entries, err := os.ReadDir(filepath.Join(a, "loops"))
	if err != nil || len(entries) != 50 {
		t.Fatalf("%d files, %v", len(entries), err)
	}
	if bytes.Equal(Doc(3, Rand(7, 3)), Doc(3, Rand(8, 3))) {
		t.Error("seeds 7 and 8 give the same document")
	}
}

// TestDocsRealistic checks the shape of a large sample: sizes, stages,
// steps, run keys, gap references, and that documents read cleanly.
func TestDocsRealistic(t *testing.T) {
	const n = 2000
	docs := Docs(n, 1)
	var sizes []int
	ids := map[string]bool{}
	statuses := map[string]int{}
	sources := map[loops.MetaSource]int{}
	runKeys, gapRefs, manual := 0, 0, 0
	for i, src := range docs {
		sizes = append(sizes, len(src))
		d := loops.Parse(Path(i), src)
		if d.LoopID != LoopID(i) || ids[d.LoopID] {
			t.Fatalf("doc %d: loop id %q (want %q, unique)", i, d.LoopID, LoopID(i))
		}
		ids[d.LoopID] = true
		statuses[d.Status]++
		sources[d.MetaSource]++
		if len(d.Stages) < 3 || len(d.Stages) > 8 {
			t.Errorf("doc %d: %d stages", i, len(d.Stages))
		}
		for _, st := range d.Stages {
			commands := 0
			for _, s := range st.Steps {
				if s.Kind == loops.KindCommand {
					commands++
				} else {
					manual++
				}
			}
			if commands == 0 {
				t.Errorf("doc %d: stage %q has no command step", i, st.Title)
			}
		}
		runKeys += len(d.RunKeys)
		gapRefs += len(d.GapIDs)
		for _, p := range d.Problems {
			// Only closed loops may carry findings, and only the rejected
			// YAML older documents have.
			if d.Status != "closed" || !strings.HasPrefix(p.Message, "frontmatter: mapping values are not allowed") {
				t.Errorf("doc %d (%s): unexpected finding %s", i, d.Status, p)
			}
		}
	}
	slices.Sort(sizes)
	median, p99, largest := sizes[n/2], sizes[n*99/100], sizes[n-1]
	t.Logf("sizes: min %d median %d p90 %d p99 %d max %d; statuses %v; sources %v; run keys %d, gap refs %d, manual steps %d",
		sizes[0], median, sizes[n*9/10], p99, largest, statuses, sources, runKeys, gapRefs, manual)
	if median < 1700 || median > 2600 {
		t.Errorf("median size %d, want about 2 KB", median)
	}
	if p99 < 8<<10 || largest > MaxSize {
		t.Errorf("tail: p99 %d, max %d; want a tail toward %d", p99, largest, MaxSize)
	}
	if sizes[0] < 500 {
		t.Errorf("smallest document is %d bytes", sizes[0])
	}
	if statuses["closed"] < n/3 || statuses["active"] < n/20 || statuses["planned"] == 0 || statuses["blocked"] == 0 {
		t.Errorf("statuses %v", statuses)
	}
	if sources[loops.SourceInline] == 0 || sources[loops.SourceFrontmatterLines] == 0 || sources[loops.SourceFrontmatter] < n*8/10 {
		t.Errorf("metadata sources %v", sources)
	}
	if runKeys < n || gapRefs < n/4 || manual < n/4 {
		t.Errorf("run keys %d, gap refs %d, manual steps %d", runKeys, gapRefs, manual)
	}
}

func TestLoopIDAndPath(t *testing.T) {
	if got := LoopID(13); got != "LOOP-INFRA-PARITY-LOCK-00013-20260114" {
		t.Errorf("LoopID(13) = %q", got)
	}
	if got := Path(0); got != "loops/LOOP-MEDIA-CAPACITY-NORMALIZATION-00000-20260101.scope.md" {
		t.Errorf("Path(0) = %q", got)
	}
	if !loops.ValidLoopID(LoopID(99999)) {
		t.Error("LoopID(99999) is not a valid loop id")
	}
}

func TestGenerateLoopsError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := GenerateLoops(f, 1, 1); err == nil {
		t.Error("GenerateLoops under a file: no error")
	}
}
