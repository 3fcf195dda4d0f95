// Command siteprof builds the evidence site of a repository the way
// `spine site build` does (without the planner's step states) under the
// CPU profiler, for finding what limits the build.
//
//	go run ./bench/siteprof -repo DIR -out /dev/shm/x -cpuprofile site.prof
//	go tool pprof -top -cum site.prof
//	go run ./bench/siteprof -repo DIR -out /dev/shm/x -memprofile heap.prof
//	go tool pprof -sample_index=inuse_space -top heap.prof
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/site"
)

func main() {
	repo := flag.String("repo", ".", "repository `DIR`")
	out := flag.String("out", "", "output `DIR`")
	prof := flag.String("cpuprofile", "", "write a CPU profile to `FILE`")
	memprof := flag.String("memprofile", "", "write a heap profile taken at the end of the build to `FILE`")
	flag.Parse()
	cfg, err := config.Load(*repo)
	check(err)
	paths, err := loops.Discover(*repo, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	check(err)
	if *prof != "" {
		f, err := os.Create(*prof)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	set := loops.Load(*repo, paths)
	t1 := time.Now()
	st, err := site.Build(context.Background(), site.Options{Root: *repo, Out: *out, Config: cfg, Set: set})
	check(err)
	if *memprof != "" {
		f, err := os.Create(*memprof)
		check(err)
		check(pprof.Lookup("heap").WriteTo(f, 0))
		check(f.Close())
	}
	fmt.Printf("load %s, build %s, %d files\n", t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond), st.Files)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "siteprof:", err)
		os.Exit(1)
	}
}
