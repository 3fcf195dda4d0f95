package site

import (
	"bytes"
	"html/template"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spinehq/spine/render"
)

// hw writes HTML by hand, for the pages the site has by the thousand
// (receipts), where html/template's reflection would dominate the build.
// Every dynamic value goes through e (element text) or a (attribute
// value), which escape it.
type hw struct{ bytes.Buffer }

// Buffered implements goldmark's util.BufWriter, so that a document is
// rendered straight into the page: nothing is held back.
func (w *hw) Buffered() int { return 0 }

// Flush implements util.BufWriter.
func (w *hw) Flush() error { return nil }

// s writes trusted markup.
func (w *hw) s(parts ...string) {
	for _, p := range parts {
		w.WriteString(p)
	}
}

// h writes already-escaped HTML.
func (w *hw) h(x template.HTML) { w.WriteString(string(x)) }

// e writes text escaped for element content or a quoted attribute value.
func (w *hw) e(s string) { w.escape(s, false) }

// escape writes s with & < > " ' and NUL escaped as html/template escapes
// them, and + as well when plus is set (html/template does in its text
// and attribute contexts; the receipt pages never needed it).
func (w *hw) escape(s string, plus bool) {
	mode := escTemplate
	if plus {
		mode = escTemplatePlus
	}
	escapeHTML(w, s, mode)
}

// escapeMode says which escaping escapeHTML applies.
type escapeMode uint8

const (
	// escText escapes & < > " ' as html.EscapeString does, and replaces
	// each control character but tab and line breaks (NUL included) and
	// each byte of invalid UTF-8 with U+FFFD, as render.EscapeText does:
	// the pages say they are UTF-8, and an escape or a form feed from a
	// document or the gap ledger is shown, not passed on.
	escText escapeMode = iota
	// escTemplate is escText as html/template writes it (' and " as
	// numeric references).
	escTemplate
	// escTemplatePlus also escapes +, as html/template does in text and
	// attribute values.
	escTemplatePlus
)

// escapeHTML writes s to w escaped as mode says, copying the runs between
// the characters it replaces as they are: the site's one HTML escaper.
func escapeHTML(w io.StringWriter, s string, mode escapeMode) {
	last := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '&':
			rep = "&amp;"
		case '"':
			rep = "&#34;"
		case '\'':
			rep = "&#39;"
		case '+':
			if mode != escTemplatePlus {
				continue
			}
			rep = "&#43;"
		case 0:
			rep = "\uFFFD"
		case 0xE2:
			_, n := utf8.DecodeRuneInString(s[i:])
			if n == 1 {
				rep = "\uFFFD"
				break
			}
			// A bidirectional override makes text read other than it
			// runs (Trojan Source): shown, not obeyed.
			if m := render.BidiMarker(s[i:]); m != "" {
				w.WriteString(s[last:i])
				w.WriteString(m)
				i += 2
				last = i + 1
			} else {
				i += n - 1 // the rest of the character
			}
			continue
		default:
			c := s[i]
			switch {
			case c < 0x20 && c != '\t' && c != '\n' && c != '\r', c == 0x7f:
				rep = "\uFFFD"
			case c >= 0x80:
				r, n := utf8.DecodeRuneInString(s[i:])
				if r != utf8.RuneError || n != 1 {
					i += n - 1
					continue
				}
				rep = "\uFFFD"
			default:
				continue
			}
		}
		w.WriteString(s[last:i])
		w.WriteString(rep)
		last = i + 1
	}
	w.WriteString(s[last:])
}

// code writes s as code, escaped as html.EscapeString escapes it, or a
// dash for "".
func (w *hw) code(s string) {
	if s == "" {
		w.s(`<span class="muted">—</span>`)
		return
	}
	w.s("<code>")
	w.hesc(s)
	w.s("</code>")
}

// badge writes a status badge.
func (w *hw) badge(status string) {
	w.s(`<span class="badge st-`, stateClass(status), `">`)
	if status == "" {
		w.s("none")
	} else {
		w.e(status)
	}
	w.s(`</span>`)
}

// layout is the page frame for one kind of page (one depth and active
// navigation item), split around the page title: head + title + mid +
// content + foot.
type layout struct {
	head, mid, foot string
}

// titleMark stands for the page title while the layout is rendered.
const titleMark = "SPINE-PAGE-TITLE-MARK-7f3a9c"

// makeLayout renders the layout templates once for pages at depth root
// with navigation item nav.
func (st *buildState) makeLayout(root, nav string) (*layout, error) {
	data := pageBase{Title: titleMark, SiteTitle: st.title, Root: root, Nav: nav}
	var head, foot bytes.Buffer
	if err := st.b.tmpl.ExecuteTemplate(&head, "head", data); err != nil {
		return nil, err
	}
	if err := st.b.tmpl.ExecuteTemplate(&foot, "foot", data); err != nil {
		return nil, err
	}
	before, after, ok := strings.Cut(head.String(), titleMark)
	if !ok {
		return nil, errNoTitle
	}
	return &layout{head: before, mid: after, foot: foot.String()}, nil
}

type layoutError string

func (e layoutError) Error() string { return string(e) }

const errNoTitle = layoutError("site: layout template has no title")

// html returns the written markup.
func (w *hw) html() template.HTML { return template.HTML(w.String()) } //nolint:gosec // built from escaped parts

// runref writes a link to a run with its status and time, or a dash.
func (w *hw) runref(r *runRef) {
	if r == nil {
		w.s(`<span class="muted">—</span>`)
		return
	}
	w.s(`<a class="run" href="`)
	w.e(r.URL)
	w.s(`" title="`)
	w.e(r.Key)
	w.s(`">`)
	w.badge(r.Status)
	w.s(` <time datetime="`, r.ISO, `">`, r.When, `</time></a>`)
}

// indexRows writes the rows of the loops table.
func (w *hw) indexRows(rows []loopRow) {
	w.Grow(len(rows) * 900)
	for i := range rows {
		r := &rows[i]
		w.s(`<tr><td class="loop-cell"><a class="id" href="`)
		w.e(r.URL)
		w.s(`">`)
		w.e(r.ID)
		w.s(`</a>`)
		if r.Title != "" {
			w.s(`<div class="sub">`)
			w.e(r.Title)
			w.s(`</div>`)
		}
		if r.Problems > 0 {
			w.s(`<div class="sub warn">`, strconv.Itoa(r.Problems), ` finding`)
			if r.Problems != 1 {
				w.s("s")
			}
			w.s(`</div>`)
		}
		if r.Broken > 0 {
			w.s(`<div class="sub bad">chain broken at `, strconv.Itoa(r.Broken), ` run`)
			if r.Broken != 1 {
				w.s("s")
			}
			w.s(`</div>`)
		}
		w.s("</td>\n<td>")
		w.badge(r.Status)
		w.s("</td>\n<td>")
		w.e(r.Owner)
		w.s("</td>\n<td>")
		if r.Priority != "" {
			w.s(`<span class="prio prio-`, stateClass(r.Priority), `">`)
			w.e(r.Priority)
			w.s(`</span>`)
		}
		w.s("</td>\n<td class=\"hide-sm\">")
		w.e(r.Scope)
		w.s("</td>\n<td class=\"progress\">")
		if r.Total > 0 {
			w.s(`<span class="frac">`, strconv.Itoa(r.Done), "/", strconv.Itoa(r.Total), `</span>`)
			w.h(r.Bar)
		} else {
			w.s(`<span class="muted">no steps</span>`)
		}
		w.s("</td>\n<td><span class=\"hb hb-", r.HeartClass, `"`)
		if r.HeartISO != "" {
			w.s(` data-hb="`)
			w.e(r.HeartISO)
			w.s(`" data-ttl="`, strconv.Itoa(r.HeartTTL), `"`)
		}
		w.s(` title="`)
		w.e(r.HeartTitle)
		w.s(`">`)
		w.e(r.HeartAge)
		w.s("</span></td>\n<td class=\"num\">")
		if r.OpenGaps > 0 {
			w.s(`<a href="`)
			w.e(r.URL)
			w.s(`#gaps">`, strconv.Itoa(r.OpenGaps), `</a>`)
		} else {
			w.s(`<span class="muted">0</span>`)
		}
		w.s("</td>\n<td>")
		w.runref(r.LastRun)
		w.s("</td></tr>\n")
	}
}

// stageRows returns the rows of a loop's stages table.
func stageRows(stages []stageView) template.HTML {
	var w hw
	w.stageRows(stages)
	return w.html()
}

// stageRows writes the rows of a loop's stages table.
func (w *hw) stageRows(stages []stageView) {
	for _, sg := range stages {
		if len(sg.Steps) == 0 {
			w.s(`<tr><td class="stage-cell">`)
			w.e(sg.Title)
			w.s(`</td><td colspan="4" class="muted">no steps</td></tr>`, "\n")
			continue
		}
		for i, s := range sg.Steps {
			w.s("<tr>")
			if i == 0 {
				w.s(`<td rowspan="`, strconv.Itoa(len(sg.Steps)), `" class="stage-cell">`)
				w.e(sg.Title)
				w.s("</td>")
			}
			w.s("\n<td>")
			if s.Kind == "manual" {
				w.s(`<span class="manual">`)
				w.e(s.Name)
				w.s(`</span>`)
			} else {
				w.s(`<a href="#step-`)
				w.e(s.Name)
				w.s(`"><code>`)
				w.e(s.Name)
				w.s(`</code></a>`)
			}
			w.s("</td>\n<td>")
			w.badge(s.State)
			w.s("</td>\n<td class=\"hide-sm attrs\">")
			for _, a := range s.Attrs {
				if a.Gate {
					w.s(`<span class="attr attr-gate">`)
				} else {
					w.s(`<span class="attr">`)
				}
				w.e(a.K)
				if a.V != "" {
					w.s("=<b>")
					w.e(a.V)
					w.s("</b>")
				}
				w.s("</span> ")
			}
			w.s("</td>\n<td>")
			w.runref(s.Last)
			w.s("</td></tr>\n")
		}
	}
}

// runRows returns the rows of a loop's runs table.
func runRows(runs []runRow) template.HTML {
	var w hw
	w.runRows(runs)
	return w.html()
}

// resolvedSub marks, under its status, a run that is an operator's
// verdict (spine resolve): nothing ran.
const resolvedSub = `<div class="sub">resolved: nothing ran</div>`

// runRows writes the rows of a loop's runs table.
func (w *hw) runRows(runs []runRow) {
	w.Grow(len(runs) * 600)
	for _, r := range runs {
		w.s(`<tr><td><time datetime="`, r.ISO, `">`, r.When, `</time></td><td><code>`)
		w.e(r.Step)
		w.s(`</code><div class="sub">`)
		w.e(r.Stage)
		w.s(`</div></td><td>`)
		w.badge(r.Status)
		if r.Resolved {
			w.s(resolvedSub)
		}
		if r.Approval != "" {
			w.s(`<div class="sub">`)
			w.e(r.Approval)
			w.s(`</div>`)
		}
		w.s(`</td><td class="num">`, r.Exit, `</td><td class="num">`, r.Duration, `</td><td><a class="key" href="`)
		w.e(r.URL)
		w.s(`">`)
		w.e(r.Key)
		w.s(`</a></td><td>`)
		if r.ChainOK {
			w.s(`<span class="ok">ok</span>`)
		} else {
			w.s(`<span class="bad" title="`)
			w.e(r.Chain)
			w.s(`">broken</span>`)
		}
		w.s("</td></tr>\n")
	}
}

// timelineRows writes the rows of a timeline table.
func (w *hw) timelineRows(runs []timelineRun) {
	w.Grow(len(runs) * 600)
	for _, r := range runs {
		w.s(`<tr><td class="nowrap"><time datetime="`, r.ISO, `">`, r.When, `</time></td><td>`)
		w.h(r.Loop)
		w.s(`</td><td>`)
		if r.Step != "" {
			w.s(`<code>`)
			w.e(r.Step)
			w.s(`</code>`)
		}
		w.s(`</td><td>`)
		w.badge(r.Status)
		if r.Resolved {
			w.s(resolvedSub)
		}
		w.s(`</td><td class="num">`, r.Duration, `</td><td class="hide-sm">`)
		w.e(r.Host)
		w.s(`</td><td><a class="key" href="`)
		w.e(r.URL)
		w.s(`">`)
		w.e(r.Key)
		w.s("</a></td></tr>\n")
	}
}

// gapRows writes the rows of the gap ledger table.
func (w *hw) gapRows(rows []gapRow) {
	w.Grow(len(rows) * 700)
	for _, r := range rows {
		if r.Orphan {
			w.s(`<tr class="orphan-row">`)
		} else {
			w.s(`<tr>`)
		}
		w.s("\n<td>")
		if r.URL != "" {
			w.s(`<a class="id" href="`)
			w.e(r.URL)
			w.s(`">`)
			w.e(r.ID)
			w.s(`</a>`)
		} else {
			w.s(`<span class="id">`)
			w.e(r.ID)
			w.s(`</span>`)
		}
		if r.Orphan {
			w.s(` <span class="badge st-orphan" title="open, and its parent loop is closed or not in this repository">orphan</span>`)
		}
		w.s("</td>\n<td>")
		w.badge(r.Status)
		w.s("</td>\n<td>")
		if r.Severity != "" {
			w.s(`<span class="prio prio-`, stateClass(r.Severity), `">`)
			w.e(r.Severity)
			w.s(`</span>`)
		}
		w.s("</td>\n<td class=\"hide-sm\">")
		w.e(r.Type)
		w.s("</td>\n<td>")
		w.h(r.Parent)
		w.s("</td>\n<td class=\"hide-sm nowrap\">")
		w.e(r.Discovered)
		w.s("</td>\n<td class=\"desc\">")
		w.e(r.Summary)
		w.s("</td>\n</tr>\n")
	}
}
