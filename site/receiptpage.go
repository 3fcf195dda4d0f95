package site

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// writeReceipt writes a receipt page. It is written by hand rather than
// with html/template: a site holds one receipt page per run, tens of
// thousands of them, and reflection would dominate the build.
func (st *buildState) writeReceipt(w *hw, pg *receiptPage) {
	lay := st.receiptLayout
	w.s(lay.head)
	w.e(pg.Title)
	w.s(lay.mid)
	w.s(`<p class="crumbs"><a href="`, pg.Root, `index.html">Loops</a> / `)
	switch {
	case pg.LoopURL != "":
		w.s(`<a href="`)
		w.e(pg.LoopURL)
		w.s(`">`)
		w.e(pg.LoopID)
		w.s(`</a>`)
	case pg.LoopID != "":
		w.s(`<span class="missing" title="no loop document with this id in this repository">`)
		w.e(pg.LoopID)
		w.s(`</span>`)
	default:
		w.s(`<span class="muted">unknown loop</span>`)
	}
	w.s(" / run</p>\n", `<h1 class="id-title key">`)
	w.e(pg.Key)
	if pg.R != nil {
		w.s(" ")
		w.badge(pg.R.Status)
	}
	w.s("</h1>\n")
	switch {
	case pg.Missing:
		w.s(`<div class="callout warn" role="alert"><b>No receipt yet.</b> `)
		w.e(pg.Err)
		w.s("</div>\n")
	case pg.Err != "":
		w.s(`<div class="callout error" role="alert"><b>This receipt cannot be read.</b> `)
		w.e(pg.Err)
		w.s("</div>\n")
	}
	if r := pg.R; r != nil {
		w.s(`<p class="facts"><span><b>step</b> <code>`)
		w.e(r.Step)
		w.s(`</code></span><span><b>stage</b> `)
		w.e(r.Stage)
		w.s(`</span><span><b>host</b> `)
		w.e(r.Host)
		w.s(`</span><span><b>exit</b> `, fmtExit(r.ExitCode), `</span><span><b>duration</b> `)
		w.e(pg.Duration)
		w.s(`</span><span><b>started</b> <time datetime="`, pg.ISO, `">`, pg.When, `</time></span>`)
		if pg.PackURL != "" {
			w.s(`<span><b>pack</b> <a href="`)
			w.e(pg.PackURL)
			w.s(`">`)
			w.e(pg.Pack)
			w.s(`</a></span>`)
		}
		w.s("</p>\n<div class=\"checks-row\">\n")
		okClass := func(ok bool) string {
			if ok {
				return "ok"
			}
			return "bad"
		}
		w.s(`<div class="chip `, okClass(pg.ChainOK), `"><b>hash chain</b> `)
		if pg.ChainOK {
			w.s("ok")
		} else {
			w.s("broken")
		}
		if pg.Chain != "" {
			w.s(`<div class="sub">`)
			w.e(pg.Chain)
			w.s(`</div>`)
		}
		w.s("</div>\n", `<div class="chip `, okClass(pg.HashesOK), `"><b>hashes</b> `)
		if pg.HashesOK {
			w.s("verified")
		} else {
			w.s("mismatch")
		}
		w.s(`<div class="sub">command `)
		if pg.V.CommandOK {
			w.s("ok")
		} else {
			w.s("command_sha256 does not match")
		}
		w.s(" · output ")
		w.e(pg.V.LogState)
		if n := len(pg.V.Artifacts); n > 0 {
			w.s(" · ", strconv.Itoa(n), " artifact")
			if n != 1 {
				w.s("s")
			}
		}
		w.s("</div></div>\n")
		sigClass := "chip"
		switch {
		case strings.HasPrefix(pg.Signature, "signed, verified"):
			sigClass = "chip ok"
		case pg.Signature != "unsigned" && !strings.HasPrefix(pg.Signature, "signed (no trusted keys"):
			sigClass = "chip bad" // a bad signature, or unsignedAfterSigned
		}
		w.s(`<div class="`, sigClass, `"><b>signature</b> `)
		w.e(pg.Signature)
		w.s("</div>\n", `<div class="chip"><b>approval</b> `)
		w.e(pg.ApprovalText)
		w.s("</div>\n</div>\n")
		if r.Note != "" {
			w.s(`<p class="note">`)
			w.h(st.linkText(pg.Root, r.Note, ""))
			w.s("</p>\n")
		}
		if r.Resolved() {
			w.s(`<div class="callout warn" role="note"><b>Nothing ran.</b> This receipt records an operator's verdict, given with <code>spine resolve</code>: the command below was not run for it, and its exit status is the verdict's.</div>`, "\n")
			w.s("<section>\n<h2>Command (not run)</h2>\n")
		} else {
			w.s("<section>\n<h2>Command</h2>\n")
		}
		switch {
		case r.Command != "":
			w.h(pg.Command)
		case len(pg.Checks) > 0:
			// A verify pack's step: its checks' commands are below.
			w.s(`<p class="empty">No command of its own: its checks ran, each with its command (see Checks).</p>`, "\n")
		default:
			w.s(`<p class="empty">No command recorded.</p>`, "\n")
		}
		w.s("</section>\n")
		if len(pg.Checks) > 0 {
			w.s("<section>\n<h2>Checks")
			if r.Summary != "" {
				w.s(` <span class="muted">· `)
				w.e(r.Summary)
				w.s(`</span>`)
			}
			// Each check's command, as it ran, where the receipt records
			// it (receipts from before it did have none).
			commands := slices.ContainsFunc(pg.Checks, func(c checkRow) bool { return c.Command != "" })
			w.s("</h2>\n", `<div class="table-wrap"><table class="grid">`, "\n",
				`<thead><tr><th>Check</th><th>Title</th><th>Status</th><th class="num">Exit</th><th class="num">Duration</th><th>Blocking</th>`)
			if commands {
				w.s(`<th>Command</th>`)
			}
			w.s("</tr></thead>\n<tbody>")
			for _, c := range pg.Checks {
				w.s(`<tr><td><code>`)
				w.e(c.ID)
				w.s(`</code></td><td>`)
				w.e(c.Title)
				w.s(`</td><td>`)
				w.badge(c.Status)
				w.s(`</td><td class="num">`, fmtExit(c.ExitCode), `</td><td class="num">`, c.Duration, `</td><td>`)
				if c.Blocking {
					w.s("yes")
				} else {
					w.s("no")
				}
				if commands {
					w.s(`</td><td><code>`)
					w.e(c.Command)
					w.s(`</code>`)
				}
				w.s("</td></tr>\n")
			}
			w.s("</tbody></table></div>\n</section>\n")
		}
		w.s("<section>\n<h2>Artifacts <span class=\"count\">", strconv.Itoa(len(pg.Artifacts)), "</span></h2>\n")
		if len(pg.Artifacts) == 0 {
			w.s(`<p class="empty">No artifacts.</p>`, "\n")
		} else {
			w.s(`<div class="table-wrap"><table class="grid">`, "\n",
				`<thead><tr><th>Path</th><th class="num">Size</th><th>sha256</th><th>State</th></tr></thead>`, "\n<tbody>")
			for _, a := range pg.Artifacts {
				w.s(`<tr><td>`)
				if a.URL != "" {
					w.s(`<a href="`)
					w.e(a.URL)
					w.s(`"><code>`)
					w.e(a.Path)
					w.s(`</code></a>`)
				} else {
					w.s(`<code>`)
					w.e(a.Path)
					w.s(`</code>`)
				}
				w.s(`</td><td class="num">`, a.Size, `</td><td><code class="hash" title="`)
				w.e(a.SHA256)
				w.s(`">`)
				w.e(a.Short)
				w.s(`</code></td><td>`)
				if a.RewrittenBy != "" {
					w.s(`rewritten by a later run, <a href="`)
					w.e(a.RewrittenURL)
					w.s(`"><code>`)
					w.e(a.RewrittenBy)
					w.s(`</code></a>; this run's file is in git's history`)
				} else if a.OK {
					w.s(`<span class="ok">ok</span>`)
				} else {
					w.s(`<span class="bad">`)
					w.e(a.State)
					w.s(`</span>`)
				}
				w.s("</td></tr>\n")
			}
			w.s("</tbody></table></div>\n")
		}
		w.s("</section>\n")
	}
	w.s("<section>\n<h2>Output</h2>\n")
	lv := pg.Log
	switch {
	case lv.Present:
		w.s(`<p class="muted small">`, pg.LogSize, " · ", strconv.Itoa(lv.Lines), " line")
		if lv.Lines != 1 {
			w.s("s")
		}
		if r := pg.R; r != nil {
			if r.Redactions > 0 {
				w.s(" · ", strconv.Itoa(r.Redactions), " secret value")
				if r.Redactions != 1 {
					w.s("s")
				}
				w.s(" redacted")
			}
			if r.OutputTruncated {
				w.s(" · output was cut at capture")
			}
		}
		if pg.LogURL != "" {
			w.s(` · <a href="`, pg.LogURL, `">full log (.txt)</a>`)
		}
		w.s("</p>\n")
		switch {
		case lv.Folded:
			w.s(`<pre class="log">`)
			w.h(pg.LogHead)
			w.s("</pre>\n", `<p class="fold">… `, strconv.Itoa(lv.Omitted), ` lines not shown · <a href="`, pg.LogURL, `">open the full log</a> …</p>`, "\n", `<pre class="log">`)
			w.h(pg.LogTail)
			w.s("</pre>\n")
		case pg.LogHead != "":
			w.s(`<pre class="log">`)
			w.h(pg.LogHead)
			w.s("</pre>\n")
		default:
			w.s(`<p class="empty">The output was empty.</p>`, "\n")
		}
	case lv.Err != "":
		w.s(`<p class="bad">`)
		w.e(lv.Err)
		w.s("</p>\n")
	default:
		w.s(`<p class="empty">No output.log in the run folder.</p>`, "\n")
	}
	w.s("</section>\n")
	if pg.R != nil {
		w.s("<section>\n<h2>Receipt fields</h2>\n<dl class=\"meta fields\">")
		st.writeFields(w, pg.Root, pg.rec)
		w.s("</dl>\n</section>\n")
	}
	if len(pg.Raw) > 0 {
		w.s(`<details class="raw"><summary>receipt.json`)
		if pg.RawCut {
			w.s(" (first 64 KiB)")
		}
		w.s(`</summary><pre><code>`)
		if utf8.Valid(pg.Raw) {
			w.e(unsafeString(pg.Raw))
		} else {
			w.e(strings.ToValidUTF8(string(pg.Raw), "\uFFFD"))
		}
		w.s("</code></pre></details>\n")
	}
	w.s(`<nav class="pager">`)
	if pg.Prev != nil {
		w.s(`<a href="`)
		w.e(pg.Prev.URL)
		w.s(`">← previous run of this loop</a>`)
	}
	if pg.Next != nil {
		w.s(`<a href="`)
		w.e(pg.Next.URL)
		w.s(`">next run of this loop →</a>`)
	}
	w.s("</nav>\n")
	w.s(lay.foot)
}
