// Package gcbudget paces the garbage collector to a heap budget: a
// process whose live heap is small lets its heap grow to the budget
// before the next collection, instead of to twice the live heap (the
// runtime's default, GOGC=100), and one whose live heap is large is
// collected as by default.
//
// A site build of a small repository has a small live heap (tens of MB)
// and allocates it many times over while it parses and renders pages: at
// the default pacing it spends about a fifth of its CPU in the collector.
// A fixed higher GOGC would save that, but takes a build with a large
// live heap (hundreds of MB) far over its memory goal. Pacing to a budget
// gets both: after each collection the percentage is set so that the
// next one comes when the heap reaches the budget, within [Min, Max].
package gcbudget

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Pacing bounds the percentages the pacer sets.
const (
	// Min is the lowest percentage set: the runtime's default. A live
	// heap near or over the budget is collected as it would be anyway.
	Min = 100
	// Max is the highest: a nearly empty heap does not wait for the
	// budget in one stride (the first collections come early anyway).
	Max = 800
)

// Percent returns the GC percentage under which a heap whose live part is
// live bytes is next collected at budget bytes, within [Min, Max].
func Percent(budget, live uint64) int {
	if live == 0 {
		return Max
	}
	p := int64(budget*100/live) - 100
	switch {
	case p < Min:
		return Min
	case p > Max:
		return Max
	}
	return int(p)
}

// Pacer sets the GC percentage after every collection (see Percent) until
// stopped.
type Pacer struct {
	budget  uint64
	stopped atomic.Bool
	sample  []metrics.Sample
	// set is debug.SetGCPercent (tests watch what is set).
	set func(int) int
}

// sentinel is an object made unreachable on purpose: its finalizer runs
// once the collection that found it unreachable is over.
type sentinel struct{ p *Pacer }

// Start paces the collector to budget bytes of heap and returns the
// pacer; Stop ends it, leaving the percentage it last set. It does
// nothing (and returns nil) when the process's GOGC is set: the operator
// chose.
func Start(budget uint64, gogcSet bool) *Pacer {
	if gogcSet {
		return nil
	}
	return start(budget, debug.SetGCPercent)
}

// start is Start with set in place of debug.SetGCPercent.
func start(budget uint64, set func(int) int) *Pacer {
	p := &Pacer{budget: budget, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, set: set}
	p.set(Max)
	p.arm()
	return p
}

// arm leaves an unreachable sentinel whose finalizer, run after the next
// collection, paces the one after it and arms again.
func (p *Pacer) arm() {
	s := &sentinel{p}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.p.stopped.Load() {
			return
		}
		s.p.pace()
		s.p.arm()
	})
}

// pace sets the percentage from the live heap the last collection left.
func (p *Pacer) pace() {
	metrics.Read(p.sample)
	var live uint64
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	p.set(Percent(p.budget, live))
}

// Stop ends the pacing (a nil Pacer is stopped already).
func (p *Pacer) Stop() {
	if p != nil {
		p.stopped.Store(true)
	}
}
