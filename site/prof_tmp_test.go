package site_test

import (
	"context"
	"os"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/site"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(0, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestProfTmp(t *testing.T) {
	repo := "/tmp/spine-bench-repo"
	if _, err := os.Stat(repo); err != nil {
		genRepo(t, repo, 2000, 10)
	}
	set := loadSet(t, repo)
	out := "/dev/shm/spine-prof/public"
	os.RemoveAll(out)
	run := func(name, prof string, b *site.Builder) {
		if prof != "" {
			f, _ := os.Create(prof)
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		c0, w0 := cpuNow(), time.Now()
		st, err := b.Build(context.Background(), site.Options{Root: repo, Out: out, Config: config.Default(), Set: set})
		t.Logf("%s: wall %s cpu %s written=%d unchanged=%d err=%v", name, time.Since(w0).Round(time.Millisecond), (cpuNow() - c0).Round(time.Millisecond), st.Written, st.Unchanged, err)
	}
	b, _ := site.NewBuilder()
	run("full", os.Getenv("PROF_FULL"), b)
	b2, _ := site.NewBuilder()
	run("cold", os.Getenv("PROF_COLD"), b2)
	run("warm", os.Getenv("PROF_WARM"), b2)
}
