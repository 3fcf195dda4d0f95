package loops

import (
	"testing"
	"time"
)

func TestZZMin(t *testing.T) {
	docs := benchDocs()
	best := time.Hour
	for r := 0; r < 15; r++ {
		s := time.Now()
		for _, d := range docs {
			Parse("x", d)
		}
		best = min(best, time.Since(s))
	}
	t.Logf("min %v = %.1f µs/doc", best, float64(best.Microseconds())/float64(len(docs)))
}
