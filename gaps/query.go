package gaps

import "strings"

// Orphans returns the open gaps (see Gap.IsOpen) whose parent_loop names a
// loop that is closed or that does not exist. loops maps each known loop id
// to its normalised status ("closed" counts as closed, in any case).
//
// A gap with no parent_loop is not an orphan: nothing claimed it, which is
// what `gap list --open` shows; an orphan is a gap whose owner went away.
func Orphans(l *Ledger, loops map[string]string) []Gap {
	var out []Gap
	for _, g := range l.Gaps {
		parent := strings.TrimSpace(g.ParentLoop)
		if !g.IsOpen() || parent == "" {
			continue
		}
		status, known := loops[parent]
		if !known || normalize(status) == "closed" {
			out = append(out, g)
		}
	}
	return out
}

// Filter selects gaps for `spine gap list`. Zero fields select everything.
type Filter struct {
	// Open keeps only gaps that still want work (Gap.IsOpen).
	Open bool
	// Loop keeps gaps that belong to a loop: its parent_loop, or, as older
	// ledger entries record it, its discovered_by or loop field.
	Loop string
	// Status, Severity and Type keep gaps with that value (any case).
	Status, Severity, Type string
}

// Match reports whether g passes the filter.
func (f Filter) Match(g Gap) bool {
	if f.Open && !g.IsOpen() {
		return false
	}
	if f.Status != "" && normalize(f.Status) != g.Status {
		return false
	}
	if f.Severity != "" && normalize(f.Severity) != normalize(g.Severity) {
		return false
	}
	if f.Type != "" && normalize(f.Type) != normalize(g.Type) {
		return false
	}
	if loop := strings.TrimSpace(f.Loop); loop != "" {
		owned := strings.TrimSpace(g.ParentLoop) == loop || strings.TrimSpace(g.DiscoveredBy) == loop
		if v, ok := g.Get("loop"); ok {
			if s, isText := v.(string); isText && strings.TrimSpace(s) == loop {
				owned = true
			}
		}
		if !owned {
			return false
		}
	}
	return true
}

// Select returns the gaps that pass f, in ledger order.
func Select(gaps []Gap, f Filter) []Gap {
	var out []Gap
	for _, g := range gaps {
		if f.Match(g) {
			out = append(out, g)
		}
	}
	return out
}
