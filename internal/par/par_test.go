package par

import (
	"sync/atomic"
	"testing"
)

func TestDo(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 0}, {1, 0}, {1, 4}, {7, 1}, {100, 0}, {100, 3}, {5, 64}} {
		seen := make([]atomic.Int32, tc.n)
		var running, most atomic.Int32
		Do(tc.n, tc.workers, func(i int) {
			r := running.Add(1)
			for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
			}
			seen[i].Add(1)
			running.Add(-1)
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Errorf("n=%d workers=%d: fn(%d) called %d times, want once", tc.n, tc.workers, i, c)
			}
		}
		if limit := tc.workers; limit > 0 && int(most.Load()) > limit {
			t.Errorf("n=%d workers=%d: %d calls at once", tc.n, tc.workers, most.Load())
		}
	}
}
