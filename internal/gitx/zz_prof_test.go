package gitx

import (
	"fmt"
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

func BenchmarkZZFresh(b *testing.B) {
	g, root := benchRepo(b, 20000)
	_ = g
	f, _ := os.Create("/tmp/fresh.prof")
	pprof.StartCPUProfile(f)
	var tot time.Duration
	var n int
	for it := 0; it < 300; it++ {
		paths := stageFiles(b, root, it)
		fresh := it%2 == 0
		if fresh {
			g, _ = Open(root)
		}
		t0 := time.Now()
		if _, ok, err := g.CommitFiles(paths, fmt.Sprintf("s %d", it), benchSig()); err != nil || !ok {
			b.Fatal(err)
		}
		if fresh {
			tot += time.Since(t0)
			n++
		}
	}
	pprof.StopCPUProfile()
	f.Close()
	b.Logf("fresh mean %v", tot/time.Duration(n))
}
