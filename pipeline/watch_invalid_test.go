package pipeline

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinehq/spine/internal/logtest"
)

// TestWatcherWarnsOfAnInvalidLoopOnce: an idle watcher names a loop it
// skips as invalid, with its finding, once and not at every interval; a
// different finding is named again.
func TestWatcherWarnsOfAnInvalidLoopOnce(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("bad loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: One\n\n```python {name=py}\nprint(1)\n```\n")})
	sink := logtest.NewSink(1000)
	var cycles atomic.Int32
	w := &Watcher{
		Root: r.root, Interval: 20 * time.Millisecond, Log: slog.New(sink),
		Load: func() (Options, error) { cycles.Add(1); return r.runOpts(nil), nil },
	}
	// Look first, as a cycle does: the loop is invalid, and nothing is work.
	if o, err := Look(r.runOpts(nil)); err != nil || o.Work || len(o.Invalid) != 1 || o.Invalid[0].What != "LOOP-A" ||
		!strings.Contains(o.Invalid[0].Why, `loops/a.md:11: error: step language "python" is not runnable`) {
		t.Fatalf("look = %+v, %v", o, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitFor(t, 20*time.Second, func() bool { return cycles.Load() >= 5 })
	// The document changes under the running watcher: another finding.
	// Renamed into place, so that no cycle reads it half-written.
	r.write("loops/.a.md.new", loopDoc("LOOP-A", "## Stage 1: One\n\n```ruby {name=rb}\nputs 1\n```\n"))
	if err := os.Rename(filepath.Join(r.root, "loops/.a.md.new"), filepath.Join(r.root, "loops/a.md")); err != nil {
		t.Fatal(err)
	}
	r.git("commit", "-q", "-am", "another error")
	after := cycles.Load()
	waitFor(t, 20*time.Second, func() bool { return cycles.Load() >= after+4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var whys []string
	for len(sink.Ch) > 0 {
		rec := <-sink.Ch
		if rec.Level == slog.LevelWarn && rec.Message == "loop skipped: its document is invalid" {
			whys = append(whys, logtest.Attr(rec, "why").String())
		}
	}
	if len(whys) != 2 || !strings.Contains(whys[0], `loops/a.md:11: error: step language "python"`) || !strings.Contains(whys[1], `loops/a.md:11: error: step language "ruby"`) {
		t.Fatalf("%d cycles: warnings %q, want two: the python finding once, then the ruby one", cycles.Load(), whys)
	}
}
