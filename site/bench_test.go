package site_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/site"
)

// Benchmark sizes: 2,000 loops with 10 receipts each.
const (
	benchLoops   = 2000
	benchPerLoop = 10
)

// benchOutDir returns a folder for site output: under /dev/shm when it
// exists (the figure of record), else under the test's temp folder.
func benchOutDir(b *testing.B, disk bool) string {
	if !disk {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			d, err := os.MkdirTemp("/dev/shm", "spine-bench-")
			if err == nil {
				b.Cleanup(func() { os.RemoveAll(d) })
				return d
			}
		}
	}
	return b.TempDir()
}

// peakRSS returns the process's peak resident set size in MiB (Linux), or
// -1.
func peakRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err == nil {
				return float64(kb) / 1024
			}
		}
	}
	return -1
}

// BenchmarkSiteBuild measures a full build of 2,000 generated loops with
// 20,000 receipts (to /dev/shm, and to disk), and a rebuild after one loop
// changed. Metrics: loop-pages/s and pages/s for full builds; the rebuild's
// share of the full build's time.
func BenchmarkSiteBuild(b *testing.B) {
	repo := b.TempDir()
	t0 := time.Now()
	genRepo(b, repo, benchLoops, benchPerLoop)
	b.Logf("generated %d loops and %d receipts in %s", benchLoops, benchLoops*benchPerLoop, time.Since(t0).Round(time.Millisecond))
	set := loadSet(b, repo)
	cfg := config.Default()
	ctx := context.Background()

	var fullNS float64
	full := func(disk bool) func(b *testing.B) {
		return func(b *testing.B) {
			per := benchFullBuild(b, repo, set, disk)
			if !disk {
				fullNS = per * 1e9
			}
		}
	}
	b.Run("full-shm", full(false))
	b.Run("full-disk", full(true))

	b.Run("rebuild-one-loop", func(b *testing.B) {
		out := filepath.Join(benchOutDir(b, false), "public")
		bl, err := site.NewBuilder()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bl.Build(ctx, site.Options{Root: repo, Out: out, Config: cfg, Set: set}); err != nil {
			b.Fatal(err)
		}
		docs := append([]*loops.Document(nil), set.Docs...)
		target := 0
		var total, cpu time.Duration
		n := 0
		for b.Loop() {
			b.StopTimer()
			d := docs[target]
			src := append([]byte(nil), d.Source...)
			src = append(src, []byte("\nEdited in iteration "+strconv.Itoa(n)+".\n")...)
			docs[target] = loops.Parse(d.Path, src)
			nset := loops.NewSet(docs)
			b.StartTimer()
			start, c0 := time.Now(), cpuTime()
			st, err := bl.Build(ctx, site.Options{Root: repo, Out: out, Config: cfg, Set: nset})
			total += time.Since(start)
			cpu += cpuTime() - c0
			if err != nil {
				b.Fatal(err)
			}
			if st.Written == 0 || st.Written > 10 {
				b.Fatalf("rebuild wrote %d files: %v", st.Written, st.WrittenPaths)
			}
			n++
		}
		per := total.Seconds() / float64(b.N)
		b.ReportMetric(per*1e3, "ms/rebuild")
		b.ReportMetric(cpu.Seconds()/float64(b.N)*1e3, "cpu-ms/rebuild")
		if fullNS > 0 {
			b.ReportMetric(100*per*1e9/fullNS, "%-of-full")
		}
	})
}

// BenchmarkSiteBuildLoopsOnly measures a full one-shot build (site.Build)
// of 2,000 generated loops without receipts: the pages Hugo and the bare
// goldmark + html/template renderer of bench/bare make too (issue #8).
// Metrics: loop-pages/s, CPU seconds per build (both cores) and the
// process's peak RSS.
func BenchmarkSiteBuildLoopsOnly(b *testing.B) {
	repo := b.TempDir()
	genRepo(b, repo, benchLoops, 0)
	benchFullBuild(b, repo, loadSet(b, repo), false)
}

// benchFullBuild runs full one-shot builds (site.Build) of set into a fresh
// folder on /dev/shm or disk, reports loop-pages/s, files/s, CPU seconds
// per build (both cores) and the process's peak RSS, and returns the
// seconds one build took.
func benchFullBuild(b *testing.B, repo string, set *loops.Set, disk bool) float64 {
	cfg := config.Default()
	ctx := context.Background()
	var pages int
	var total, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		out := filepath.Join(benchOutDir(b, disk), "public")
		b.StartTimer()
		start, c0 := time.Now(), cpuTime()
		st, err := site.Build(ctx, site.Options{Root: repo, Out: out, Config: cfg, Set: set})
		total += time.Since(start)
		cpu += cpuTime() - c0
		if err != nil {
			b.Fatal(err)
		}
		if st.Written < benchLoops {
			b.Fatalf("wrote %d files for %d loops", st.Written, benchLoops)
		}
		pages = st.Files
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
	per := total.Seconds() / float64(b.N)
	b.ReportMetric(float64(benchLoops)/per, "loop-pages/s")
	b.ReportMetric(float64(pages)/per, "files/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/build")
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
	return per
}
