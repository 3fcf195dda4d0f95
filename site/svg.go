package site

import (
	"html"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/spinehq/spine/internal/termtext"
)

// Inline SVG charts. Colours come from CSS classes (st-pass, st-fail, …) so
// that light and dark schemes both work; no inline styles are used, so the
// site's content security policy holds.

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// progressBar draws done/total as a small bar.
func progressBar(done, total int) template.HTML {
	const w, h = 80.0, 6.0
	fill := 0.0
	if total > 0 {
		fill = w * float64(done) / float64(total)
	}
	cls := "bar-fg"
	if total > 0 && done == total {
		cls += " full"
	}
	return template.HTML(`<svg class="bar" viewBox="0 0 80 6" width="80" height="6" aria-hidden="true"><rect class="bar-bg" width="80" height="6" rx="3"/>` + //nolint:gosec // numbers only
		`<rect class="` + cls + `" width="` + f1(fill) + `" height="` + f1(h) + `" rx="3"/></svg>`)
}

// timelineRow is one row of the stage timeline: a step and its runs.
type timelineRow struct {
	Label string
	Runs  []*receiptRec
}

// stageTimeline draws one bar per run, one row per step, positioned by
// time and coloured by status; each bar links to its receipt page.
func stageTimeline(rows []timelineRow, root string) (template.HTML, string) {
	var w hw
	caption := w.stageTimeline(rows, root)
	return w.html(), caption
}

// f1 writes v with one decimal, as f1 formats it.
func (w *hw) f1(v float64) {
	w.Write(strconv.AppendFloat(w.AvailableBuffer(), v, 'f', 1, 64))
}

// hesc writes s escaped as html.EscapeString escapes it.
func (w *hw) hesc(s string) { escapeHTML(w, s, escText) }

// stageTimeline writes the chart of stageTimeline and returns its
// caption; it writes nothing and returns "" when no row has a run.
func (w *hw) stageTimeline(rows []timelineRow, root string) string {
	var t0, t1 time.Time
	n := 0
	for _, r := range rows {
		for _, run := range r.Runs {
			if t0.IsZero() || run.Start.Before(t0) {
				t0 = run.Start
			}
			if run.Finish.After(t1) {
				t1 = run.Finish
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	// A short span is shown as ten minutes at least, so that one quick
	// run is a short bar, not the whole width; the caption gives the runs'
	// own span.
	last := t1
	if t1.Sub(t0) < 10*time.Minute {
		t1 = t0.Add(10 * time.Minute)
	}
	const labelW, plotW, rowH, barH, top = 170.0, 780.0, 18.0, 12.0, 4.0
	width := labelW + plotW + 10
	height := top + rowH*float64(len(rows)) + 22
	span := t1.Sub(t0).Seconds()
	x := func(t time.Time) float64 { return labelW + plotW*t.Sub(t0).Seconds()/span }
	w.Grow(300 + 100*len(rows) + 330*n)
	w.s(`<svg class="tl" viewBox="0 0 `)
	w.f1(width)
	w.s(` `)
	w.f1(height)
	w.s(`" width="`)
	w.f1(width)
	w.s(`" height="`)
	w.f1(height)
	w.s(`" role="img" aria-label="runs of this loop over time">`)
	for i, r := range rows {
		y := top + rowH*float64(i)
		if i%2 == 1 {
			w.s(`<rect class="tl-band" x="0" y="`)
			w.f1(y - 2)
			w.s(`" width="`)
			w.f1(width)
			w.s(`" height="`)
			w.f1(rowH)
			w.s(`"/>`)
		}
		w.s(`<text class="tl-label" x="`)
		w.f1(labelW - 6)
		w.s(`" y="`)
		w.f1(y + barH - 2)
		w.s(`" text-anchor="end">`)
		w.hesc(termtext.Clip(r.Label, 26))
		w.s(`</text>`)
		for _, run := range r.Runs {
			x0 := x(run.Start)
			bw := max(2.5, x(run.Finish)-x0)
			if x0+bw > labelW+plotW {
				x0 = labelW + plotW - bw
			}
			dur := "—"
			if run.Receipt != nil {
				dur = fmtDuration(run.Receipt.DurationMS)
			}
			status := recStatus(run)
			w.s(`<a href="`)
			w.hesc(root)
			w.s(`receipts/`)
			w.hesc(run.RunKey)
			w.s(`/index.html"><rect class="st-`, stateClass(status), `" x="`)
			w.f1(x0)
			w.s(`" y="`)
			w.f1(y)
			w.s(`" width="`)
			w.f1(bw)
			w.s(`" height="`)
			w.f1(barH)
			w.s(`" rx="2"><title>`)
			w.hesc(run.RunKey)
			w.s(" · ")
			w.hesc(status)
			w.s(" · ")
			w.hesc(dur)
			w.s(" · ", fmtWhen(run.Start), `</title></rect></a>`)
		}
	}
	axisY := top + rowH*float64(len(rows)) + 4
	w.s(`<line class="tl-axis" x1="`)
	w.f1(labelW)
	w.s(`" y1="`)
	w.f1(axisY)
	w.s(`" x2="`)
	w.f1(labelW + plotW)
	w.s(`" y2="`)
	w.f1(axisY)
	w.s(`"/>`, `<text class="tl-tick" x="`)
	w.f1(labelW)
	w.s(`" y="`)
	w.f1(axisY + 14)
	w.s(`">`, fmtWhen(t0), `</text>`, `<text class="tl-tick" x="`)
	w.f1(labelW + plotW)
	w.s(`" y="`)
	w.f1(axisY + 14)
	w.s(`" text-anchor="end">`, fmtWhen(t1), `</text>`, `</svg>`)
	caption := strconv.Itoa(n) + " run"
	if n != 1 {
		caption += "s"
	}
	return caption + " from " + fmtWhen(t0) + " to " + fmtWhen(last) + ", one row per step, coloured by status"
}

// packHistory draws a grid: one row per check, one column per run (oldest
// left), each cell coloured by the check's result in that run.
func packHistory(checks []string, runs []*receiptRec, cell func(check string, run *receiptRec) string, root string) template.HTML {
	if len(checks) == 0 || len(runs) == 0 {
		return ""
	}
	const labelW, cw, ch, gap, top = 90.0, 14.0, 14.0, 2.0, 4.0
	width := max(labelW+float64(len(runs))*(cw+gap)+4, labelW+130)
	height := top + float64(len(checks))*(ch+gap) + 20
	var b strings.Builder
	b.WriteString(`<svg class="hist" viewBox="0 0 ` + f1(width) + ` ` + f1(height) + `" width="` + f1(width) + `" height="` + f1(height) + `" role="img" aria-label="check results per run">`)
	for i, c := range checks {
		y := top + float64(i)*(ch+gap)
		b.WriteString(`<text class="tl-label" x="` + f1(labelW-6) + `" y="` + f1(y+ch-3) + `" text-anchor="end">` + html.EscapeString(termtext.Clip(c, 12)) + `</text>`)
		for j, run := range runs {
			s := cell(c, run)
			x := labelW + float64(j)*(cw+gap)
			cls := "st-" + stateClass(s)
			if s == "" {
				cls = "st-absent"
				s = "not run"
			}
			b.WriteString(`<a href="` + html.EscapeString(root+receiptPath(run.RunKey)) + `"><rect class="` + cls + `" x="` + f1(x) + `" y="` + f1(y) + `" width="` + f1(cw) + `" height="` + f1(ch) + `" rx="2"><title>` +
				html.EscapeString(c+" · "+s+" · "+fmtWhen(run.Start)+" · "+run.RunKey) + `</title></rect></a>`)
		}
	}
	y := top + float64(len(checks))*(ch+gap) + 12
	b.WriteString(`<text class="tl-tick" x="` + f1(labelW) + `" y="` + f1(y) + `">` + fmtWhen(runs[0].Start) + `</text>`)
	if len(runs) > 12 {
		b.WriteString(`<text class="tl-tick" x="` + f1(width-4) + `" y="` + f1(y) + `" text-anchor="end">` + fmtWhen(runs[len(runs)-1].Start) + `</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped parts
}

// dayCount is the number of runs of one day, by outcome.
type dayCount struct {
	Day               time.Time
	Pass, Fail, Other int
}

// dayChart draws runs per day as stacked bars (pass, fail, other).
func dayChart(days []dayCount) template.HTML {
	if len(days) == 0 {
		return ""
	}
	most := 1
	for _, d := range days {
		most = max(most, d.Pass+d.Fail+d.Other)
	}
	const plotH, top = 80.0, 4.0
	bw := max(2.0, min(16.0, 960.0/float64(len(days))))
	// Wide enough for the date under each end ("2006-01-02" is about 65
	// units in the tick font): a chart of one or a few days cut it.
	width := bw*float64(len(days)) + 2
	if len(days) == 1 {
		width = max(width, 72)
	} else {
		width = max(width, 150)
	}
	height := top + plotH + 20
	var b strings.Builder
	b.WriteString(`<svg class="days" viewBox="0 0 ` + f1(width) + ` ` + f1(height) + `" width="` + f1(width) + `" height="` + f1(height) + `" role="img" aria-label="runs per day">`)
	for i, d := range days {
		x := float64(i) * bw
		y := top + plotH
		for _, part := range []struct {
			n   int
			cls string
		}{{d.Pass, "st-pass"}, {d.Fail, "st-fail"}, {d.Other, "st-other"}} {
			if part.n == 0 {
				continue
			}
			h := plotH * float64(part.n) / float64(most)
			y -= h
			b.WriteString(`<rect class="` + part.cls + `" x="` + f1(x) + `" y="` + f1(y) + `" width="` + f1(max(1, bw-1)) + `" height="` + f1(h) + `"><title>` +
				d.Day.Format("2006-01-02") + ": " + strconv.Itoa(d.Pass) + " pass, " + strconv.Itoa(d.Fail) + " fail, " + strconv.Itoa(d.Other) + " other</title></rect>")
		}
	}
	b.WriteString(`<text class="tl-tick" x="0" y="` + f1(top+plotH+14) + `">` + days[0].Day.Format("2006-01-02") + `</text>`)
	if len(days) > 1 {
		b.WriteString(`<text class="tl-tick" x="` + f1(width) + `" y="` + f1(top+plotH+14) + `" text-anchor="end">` + days[len(days)-1].Day.Format("2006-01-02") + `</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and dates only
}
