//go:build unix

package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/spinehq/spine/internal/logtest"
	"github.com/spinehq/spine/site"
)

// BenchmarkServeRebuild measures `spine site serve`'s rebuild after one
// loop document changed, on the generated repository of bench/run.sh
// ($SPINE_BENCH_REPO, default /dev/shm/spine-bench/site-2000-r20000; 2,000
// loops and 20,000 receipts), copied first. It reports the rebuild's time
// as Serve logs it (reading the changes and building; not the 20 ms the
// watcher waits for the file system to settle), and a full one-shot build
// of the same repository in the same run (site.Build into an empty
// folder), with the rebuild's share of it, in elapsed and in CPU time (the
// process's, both cores: the edit is made and the rebuild awaited by an
// otherwise idle benchmark). SPINE_BENCH_PROFILE names a file for a CPU
// profile of the rebuilds; SPINE_BENCH_MEMPROFILE names a file for the
// allocations profile after them, and that name with ".base" for the one
// before (go tool pprof -sample_index=alloc_space -diff_base F.base F).
func BenchmarkServeRebuild(b *testing.B) {
	src := os.Getenv("SPINE_BENCH_REPO")
	if src == "" {
		src = "/dev/shm/spine-bench/site-2000-r20000"
	}
	if _, err := os.Stat(filepath.Join(src, "loops")); err != nil {
		b.Skipf("no generated repository at %s (bench/run.sh makes it): %v", src, err)
	}
	scratch := "/dev/shm"
	if fi, err := os.Stat(scratch); err != nil || !fi.IsDir() {
		scratch = b.TempDir()
	}
	work, err := os.MkdirTemp(scratch, "spine-serve-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(work) })
	repo := filepath.Join(work, "repo")
	if out, err := exec.Command("cp", "-a", src, repo).CombinedOutput(); err != nil {
		b.Fatalf("copy %s: %v\n%s", src, err, out)
	}
	a := newApp(io.Discard, io.Discard)
	a.repo = repo
	ctx := context.Background()

	// A full build, as `spine site build` makes it (one-shot), measured in
	// this run: the median of three.
	var fulls, fullCPU []time.Duration
	for i := range 3 {
		opts, err := a.siteOptions(filepath.Join(work, "full"+strconv.Itoa(i)), "", true)
		if err != nil {
			b.Fatal(err)
		}
		start, c0 := time.Now(), processCPU()
		if _, err := site.Build(ctx, opts); err != nil {
			b.Fatal(err)
		}
		fulls = append(fulls, time.Since(start))
		fullCPU = append(fullCPU, processCPU()-c0)
		os.RemoveAll(filepath.Join(work, "full"+strconv.Itoa(i)))
	}
	full := median(fulls)

	h := logtest.NewSink(64)
	l := &siteLoader{a: a, out: filepath.Join(work, "public")}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		served <- site.Serve(sctx, site.ServeOptions{Addr: "127.0.0.1:0", Load: l.load, Reload: l.reload, Logger: slog.New(h),
			Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-served:
		b.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-served; err != nil {
			b.Error(err)
		}
	}()
	doc := filepath.Join(repo, "loops")
	des, err := os.ReadDir(doc)
	if err != nil || len(des) == 0 {
		b.Fatalf("no loop documents in %s: %v", doc, err)
	}
	doc = filepath.Join(doc, des[0].Name())
	if p := os.Getenv("SPINE_BENCH_PROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	writeAllocs := func(suffix string) {}
	if p := os.Getenv("SPINE_BENCH_MEMPROFILE"); p != "" {
		writeAllocs = func(suffix string) {
			runtime.GC() // the profile counts what the last collection saw
			f, err := os.Create(p + suffix)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	writeAllocs(".base")
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var took, cpu []time.Duration
	n := 0
	for b.Loop() {
		n++
		c0 := processCPU()
		f, err := os.OpenFile(doc, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.WriteString("\nEdited in iteration " + strconv.Itoa(n) + ".\n"); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		var r slog.Record
	wait:
		for {
			select {
			case r = <-h.Ch:
				switch r.Message {
				case "site rebuilt":
					break wait
				case "site rebuild failed", "site rebuild: reading the repository":
					b.Fatalf("rebuild failed: %v", logtest.Attr(r, "err"))
				}
			case <-time.After(time.Minute):
				b.Fatal("no rebuild within a minute")
			}
		}
		{
			if !logtest.Attr(r, "incremental").Bool() || logtest.Attr(r, "written").Int64() < 1 {
				b.Fatalf("rebuild not incremental or wrote nothing: %v", r)
			}
			took = append(took, logtest.Attr(r, "took").Duration())
			cpu = append(cpu, processCPU()-c0)
		}
	}
	runtime.ReadMemStats(&ms1)
	writeAllocs("")
	med := median(took)
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(n)/(1<<20), "alloc-MiB/rebuild")
	b.ReportMetric(float64(med.Microseconds())/1e3, "rebuild-ms")
	b.ReportMetric(float64(full.Microseconds())/1e3, "full-ms")
	b.ReportMetric(100*med.Seconds()/full.Seconds(), "%-of-full")
	b.ReportMetric(float64(median(cpu).Microseconds())/1e3, "rebuild-cpu-ms")
	b.ReportMetric(float64(median(fullCPU).Microseconds())/1e3, "full-cpu-ms")
	b.ReportMetric(100*median(cpu).Seconds()/median(fullCPU).Seconds(), "cpu-%-of-full")
}

// processCPU returns the CPU time (user and system) the process used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
