package loops

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/spinehq/spine/internal/gen"
)

// benchN is the number of generated documents the benchmarks read: the
// size DESIGN.md's performance target names (`spine status --json` over
// 5,000 documents in at most 1 s on a 2-core machine).
const benchN = 5000

var benchDocs = sync.OnceValue(func() [][]byte { return gen.Docs(benchN, 1) })

// BenchmarkParse parses 5,000 generated documents per iteration and
// reports the throughput in MB/s.
func BenchmarkParse(b *testing.B) {
	docs := benchDocs()
	total := 0
	for _, d := range docs {
		total += len(d)
	}
	paths := make([]string, len(docs))
	for i := range paths {
		paths[i] = gen.Path(i)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	// As the loader parses: one goroutine's buffers reused.
	var scratch parseScratch
	for b.Loop() {
		for i, src := range docs {
			parseWith(paths[i], src, &scratch.steps)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(docs)), "µs/doc")
}

// BenchmarkParseCorpus parses the real documents, when present.
func BenchmarkParseCorpus(b *testing.B) {
	docs := corpusDocs(b)
	total := 0
	for _, d := range docs {
		total += len(d.src)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range docs {
			Parse(d.name, d.src)
		}
	}
}

// generatedRepo writes 5,000 generated documents into a temporary
// repository and returns its root.
func generatedRepo(tb testing.TB) string {
	tb.Helper()
	root := tb.TempDir()
	if err := gen.GenerateLoops(root, benchN, 1); err != nil {
		tb.Fatal(err)
	}
	return root
}

var defaultGlobs = []string{"loops/**/*.md", "**/loop-scopes/*.md"}

// BenchmarkDiscoverLoad measures what `spine status` does before printing:
// find 5,000 documents and read them all.
func BenchmarkDiscoverLoad(b *testing.B) {
	root := generatedRepo(b)
	b.ResetTimer()
	for b.Loop() {
		paths, err := Discover(root, defaultGlobs, nil, []string{"receipts", "artifacts", "public"})
		if err != nil || len(paths) != benchN {
			b.Fatalf("Discover: %d paths, %v", len(paths), err)
		}
		if set := Load(root, paths); len(set.Docs) != benchN {
			b.Fatalf("Load: %d docs", len(set.Docs))
		}
	}
}

// TestDiscoverLoad5000 measures Discover+Load of 5,000 generated documents
// (the 1 s budget of `spine status --json` covers this and more). Timings
// on a shared machine are noisy, so it only logs the figure unless
// SPINE_PERF_BUDGET is set (a Go duration, e.g. 1s): then it takes the best
// of 3 runs and fails past the budget.
func TestDiscoverLoad5000(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing test: skipped with -short and under the race detector")
	}
	root := generatedRepo(t)
	best := time.Duration(1<<63 - 1)
	runs := 1
	budget := os.Getenv("SPINE_PERF_BUDGET")
	if budget != "" {
		runs = 3
	}
	for range runs {
		start := time.Now()
		paths, err := Discover(root, defaultGlobs, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		set := Load(root, paths)
		elapsed := time.Since(start)
		best = min(best, elapsed)
		if len(set.Docs) != benchN || len(set.Problems) != 0 {
			t.Fatalf("%d documents read, problems %v", len(set.Docs), set.Problems)
		}
	}
	t.Logf("Discover+Load of %d documents: best of %d: %v", benchN, runs, best)
	if budget != "" {
		limit, err := time.ParseDuration(budget)
		if err != nil {
			t.Fatalf("SPINE_PERF_BUDGET=%q: %v", budget, err)
		}
		if best > limit {
			t.Errorf("Discover+Load of %d documents took %v, over the budget of %v", benchN, best, limit)
		}
	}
}
