package site

import (
	"bytes"
	"html/template"
	"strconv"
	"strings"

	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/render"
)

// A loop page is written by hand, like a receipt page: html/template's
// reflection was a sixth of a build of loops. The output is the bytes
// templates/loop.html gives (TestLoopPageMatchesTemplate checks that on
// every loop of the corpus); loop.html stays the reference.

// t writes s escaped exactly as html/template escapes a string in element
// text or a quoted attribute value: & < > " ' + and NUL (hw.e leaves +).
func (w *hw) t(s string) { w.escape(s, true) }

// plainURL reports whether html/template writes the URL s in an href
// unchanged but for t's escaping: a relative path of characters that its
// URL filter and normaliser leave alone.
func plainURL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/' || c == '~' || c == '#') {
			return false
		}
	}
	return true
}

// urlTmpl escapes URLs that are not plain the way the templates do.
const urlTmpl = `{{define "spine-url"}}<a href="{{.}}">{{end}}`

// u writes the URL s as the value of an href attribute, as html/template
// would.
func (st *buildState) u(w *hw, s string) {
	if plainURL(s) {
		w.t(s)
		return
	}
	var b bytes.Buffer
	if err := st.b.urlTmpl.ExecuteTemplate(&b, "spine-url", s); err != nil {
		w.t("#ZgotmplZ")
		return
	}
	out := strings.TrimSuffix(strings.TrimPrefix(b.String(), `<a href="`), `">`)
	w.WriteString(out)
}

// badgeT writes templates/layout.html's "badge".
func (w *hw) badgeT(status string) {
	w.s(`<span class="badge st-`)
	w.t(stateClass(status))
	w.s(`">`)
	if status == "" {
		w.s("none")
	} else {
		w.t(status)
	}
	w.s(`</span>`)
}

// writeLoop writes the loop page of d, whose parts other than the
// rendered document are in pg (from loopData: the tables and the chart
// are written from pg's rows, not from its HTML fields).
func (st *buildState) writeLoop(w *hw, d *loops.Document, pg *loopPage) error {
	lay := st.loopLayout
	w.s(lay.head)
	w.t(pg.Title)
	w.s(lay.mid)
	w.s("\n", `<p class="crumbs"><a href="`)
	st.u(w, pg.Root+"index.html")
	w.s(`">Loops</a> / `)
	w.t(pg.ID)
	w.s("</p>\n", `<h1 class="id-title">`)
	w.t(pg.ID)
	w.s(" ")
	w.badgeT(pg.Status)
	w.s("</h1>\n")
	if pg.DocTitle != "" {
		w.s(`<p class="lead">`)
		w.t(pg.DocTitle)
		w.s(`</p>`)
	}
	w.s("\n", `<p class="facts">`)
	for _, f := range pg.Facts {
		w.s(`<span><b>`)
		w.t(f.K)
		w.s(`</b> `)
		w.t(f.V)
		w.s(`</span>`)
	}
	w.s(`<span><b>file</b> <code>`)
	w.t(pg.Path)
	w.s("</code></span></p>\n")
	for _, b := range pg.Blocked {
		w.s(`<div class="callout blocked" role="alert"><b>Blocked at a gate.</b> Step <a href="`)
		st.u(w, b.URL)
		w.s(`"><code>`)
		w.t(b.Step)
		w.s(`</code></a> (`)
		w.t(b.Stage)
		w.s(`) needs the approval <code class="gate">`)
		w.t(b.Gate)
		w.s(`</code>: run with <code>`)
		w.t(b.Gate)
		if b.Listed {
			// The approval is there, and did not cover the step: the
			// receipt says why.
			w.s(`=yes</code> in the environment, or have an approver approve it again (commit <code>approvals:</code> without <code>`)
			w.t(b.Gate)
			w.s(`</code>, then with it): this loop's <code>approvals:</code> lists it, but spine does not take that approval`)
			if b.Reason != "" {
				w.s(`: `)
				w.t(b.Reason)
			} else {
				w.s(` (spine plan says why)`)
			}
			w.s(`. Refused <time datetime="`)
		} else {
			w.s(`=yes</code> in the environment, or have an approver add <code>`)
			w.t(b.Gate)
			w.s(`</code> to <code>approvals:</code> in this loop's frontmatter. Refused <time datetime="`)
		}
		w.t(b.ISO)
		w.s(`">`)
		w.t(b.When)
		w.s("</time>.</div>\n")
	}
	for _, h := range pg.Held {
		w.s(`<div class="callout blocked" role="alert"><b>Held for an operator.</b> Step <code>`)
		w.t(h.Step)
		w.s(`</code> (`)
		w.t(h.Stage)
		w.s(`) is `)
		w.t(h.State)
		w.s(`: `)
		w.t(h.Reason)
		w.s("</div>\n")
	}
	if len(pg.Problems) > 0 {
		w.s(`<details class="callout warn"><summary>`, strconv.Itoa(len(pg.Problems)), ` lint finding`)
		if len(pg.Problems) != 1 {
			w.s("s")
		}
		w.s(`</summary><ul>`)
		for _, p := range pg.Problems {
			w.s(`<li><code>`)
			w.t(p)
			w.s(`</code></li>`)
		}
		w.s("</ul></details>\n")
	}
	w.s("\n<section>\n<h2>Stages</h2>\n")
	if len(pg.Stages) > 0 {
		w.s(`<div class="table-wrap"><table class="grid steps">`+"\n",
			`<thead><tr><th>Stage</th><th>Step</th><th>State</th><th class="hide-sm">Attributes</th><th>Last run</th></tr></thead>`+"\n",
			`<tbody>`)
		w.stageRows(pg.Stages)
		w.s(`</tbody></table></div>`)
	} else {
		w.s(`<p class="empty">This document has no stages (headings starting Stage N, Phase N, Step-N or Wave N).</p>`)
	}
	w.s("\n</section>\n")
	if len(pg.timeline) > 0 {
		w.s("<section>\n<h2>Runs over time</h2>\n", `<figure class="chart">`)
		caption := timelineCaption(w.stageTimeline(pg.timeline, pg.Root), pg.timelineLeft)
		w.s("\n<figcaption>")
		w.t(caption)
		w.s("</figcaption></figure>\n</section>")
	}
	w.s("\n<section>\n", `<h2>Runs <span class="count">`, strconv.Itoa(len(pg.Runs)), "</span></h2>\n")
	if len(pg.Runs) > 0 {
		w.s(`<div class="table-wrap"><table class="grid runs">`+"\n",
			`<thead><tr><th>Started</th><th>Step</th><th>Status</th><th class="num">Exit</th><th class="num">Duration</th><th>Run key</th><th>Chain</th></tr></thead>`+"\n",
			`<tbody>`)
		w.runRows(pg.Runs)
		w.s(`</tbody></table></div>`)
	} else {
		w.s(`<p class="empty">No receipts for this loop yet.</p>`)
	}
	w.s("\n</section>\n", `<section id="gaps">`+"\n", `<h2>Open gaps <span class="count">`, strconv.Itoa(len(pg.Gaps)), "</span></h2>\n")
	if len(pg.Gaps) > 0 {
		w.s(`<ul class="gaplist">`)
		for _, g := range pg.Gaps {
			w.s(`<li><a href="`)
			st.u(w, g.URL)
			w.s(`">`)
			w.t(g.ID)
			w.s(`</a> `)
			w.badgeT(g.Severity)
			w.s(` `)
			w.t(g.Title)
			if g.Orphan {
				w.s(` <span class="badge st-orphan">orphan</span>`)
			}
			w.s("</li>\n")
		}
		w.s(`</ul>`)
	} else {
		w.s(`<p class="empty">None.</p>`)
	}
	w.s("\n</section>\n<section>\n", `<h2>Metadata <span class="muted small">(`)
	w.t(pg.MetaSource)
	w.s(")</span></h2>\n")
	if len(pg.Meta) > 0 {
		w.s(`<dl class="meta">`)
		for _, m := range pg.Meta {
			w.s(`<dt>`)
			w.t(m.Key)
			w.s(`</dt><dd>`, string(m.Value), "</dd>\n")
		}
		w.s(`</dl>`)
	} else {
		w.s(`<p class="empty">No metadata.</p>`)
	}
	w.s("\n</section>\n", `<section class="doc">`+"\n<h2>Document</h2>\n", `<article class="markdown">`)
	if err := st.b.md.Render(w, d.Body(), render.Doc{LoopID: d.LoopID, Path: d.Path, Linker: linker{st, pg.Root}}); err != nil {
		return err
	}
	w.s("</article>\n</section>\n", lay.foot)
	return nil
}

// parseURLTemplate parses urlTmpl with the site's functions.
func parseURLTemplate() (*template.Template, error) {
	return template.New("url").Parse(urlTmpl)
}
