package gcbudget

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		budget, live uint64
		want         int
	}{
		{192 * mib, 0, Max},
		{192 * mib, 1 * mib, Max},
		{192 * mib, 48 * mib, 300},
		{192 * mib, 64 * mib, 200},
		{192 * mib, 96 * mib, Min},
		{192 * mib, 110 * mib, Min}, // over half the budget: the default
		{192 * mib, 400 * mib, Min}, // over the budget: the default
	} {
		if got := Percent(tc.budget, tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB, %d MiB) = %d, want %d", tc.budget/mib, tc.live/mib, got, tc.want)
		}
	}
}

// TestPacerFollowsTheLiveHeap: after each collection the pacer sets the
// percentage from the live heap the collection left: high for a small
// live heap, the default for one near the budget, nothing once stopped.
func TestPacerFollowsTheLiveHeap(t *testing.T) {
	var mu sync.Mutex
	var set []int
	p := start(64<<20, func(v int) int {
		mu.Lock()
		defer mu.Unlock()
		set = append(set, v)
		return 0
	})
	// waitSet collects, runs a GC, and returns the first percentage set
	// after it.
	waitSet := func() int {
		t.Helper()
		mu.Lock()
		n := len(set)
		mu.Unlock()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			if len(set) > n {
				v := set[len(set)-1]
				mu.Unlock()
				return v
			}
			mu.Unlock()
		}
		t.Fatal("the pacer set nothing after a collection")
		return 0
	}
	if set[0] != Max {
		t.Errorf("first percentage %d, want Max (%d) before any collection", set[0], Max)
	}
	small := make([]byte, 4<<20)
	if v := waitSet(); v < 400 {
		t.Errorf("with about 4 MiB live of a 64 MiB budget: percentage %d, want at least 400", v)
	}
	big := make([]byte, 60<<20)
	if v := waitSet(); v != Min {
		t.Errorf("with about 64 MiB live of a 64 MiB budget: percentage %d, want Min (%d)", v, Min)
	}
	runtime.KeepAlive(small)
	runtime.KeepAlive(big)
	p.Stop()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	n := len(set)
	mu.Unlock()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(set) != n {
		t.Errorf("the pacer went on after Stop: %v", set[n:])
	}
}
