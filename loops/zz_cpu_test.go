package loops

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCPU(t *testing.T) {
	docs := benchDocs()
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	best := time.Hour
	for r := 0; r < 7; r++ {
		runtime.GC()
		c := cpuNow()
		for _, d := range docs {
			Parse("x", d)
		}
		best = min(best, cpuNow()-c)
	}
	t.Logf("CPU per 5000 docs: %v = %.1f µs/doc", best, float64(best.Microseconds())/float64(len(docs)))
}
