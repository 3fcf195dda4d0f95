package site

import (
	"bytes"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/gaps"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/render"
)

// ---- gaps ----

type gapRow struct {
	ID, URL, Status, Severity, Type, Discovered, Summary string
	Parent                                               template.HTML
	Orphan                                               bool
}

type gapsPage struct {
	pageBase
	Status                      string
	Statuses                    []statusLink
	Rows                        []gapRow
	RowsHTML                    template.HTML
	Total, Shown, Open, Orphans int
	LedgerErr                   string
}

type gapPage struct {
	pageBase
	G           *gaps.Gap
	Status      string
	Orphan      bool
	OrphanWhy   string
	Parent      template.HTML
	Description template.HTML
	Fields      []kvh
	Ledger      string
}

// gapStatus is the status filter of a gap.
func gapStatus(g *gaps.Gap) string {
	if g.Status == "" {
		return "none"
	}
	return strings.ToLower(g.Status)
}

func (st *buildState) gapIndexJobs() []job {
	counts := map[string]int{}
	for i := range st.gapList {
		counts[gapStatus(&st.gapList[i])]++
	}
	var statuses []string
	for s := range counts {
		if validID(s) {
			statuses = append(statuses, s)
		}
	}
	statusOrder(statuses)
	open := 0
	for _, g := range st.gapList {
		if g.IsOpen() {
			open++
		}
	}
	// The ledger pages depend on the ledger and on which loops exist.
	k := newKeyer(st.global, "gaps", st.pathsKey, st.ledgerErr)
	for i := range st.gapList {
		k.bytes(jsonMarshal(&st.gapList[i])).bool(st.orphan[st.gapList[i].ID]).bool(st.gapByID[st.gapList[i].ID] == &st.gapList[i])
	}
	key := k.sum()
	make1 := func(status string) job {
		return func(w *writer) error {
			p := "gaps/index.html"
			if status != "" {
				p = gapStatusPath(status)
			}
			if w.reuse(key, p) {
				return nil
			}
			root := rootOf(p)
			pg := &gapsPage{pageBase: st.base(p, "Gaps", "gaps"), Status: status, Total: len(st.gapList), Open: open, Orphans: len(st.orphan), LedgerErr: st.ledgerErr}
			for _, s := range statuses {
				pg.Statuses = append(pg.Statuses, statusLink{Name: s, URL: root + gapStatusPath(s), Count: counts[s], On: s == status})
			}
			for i := range st.gapList {
				g := &st.gapList[i]
				if status != "" && gapStatus(g) != status {
					continue
				}
				row := gapRow{ID: g.ID, Status: g.Status, Severity: g.Severity, Type: g.Type, Discovered: g.DiscoveredAt,
					Orphan: st.orphan[g.ID], Parent: st.loopLink(root, strings.TrimSpace(g.ParentLoop))}
				if st.gapByID[g.ID] == g {
					row.URL = root + gapPath(g.ID)
				}
				sum := g.Title
				if sum == "" {
					sum = firstLine(g.Description)
				}
				row.Summary = termtext.Clip(sum, 160)
				pg.Rows = append(pg.Rows, row)
			}
			pg.Shown = len(pg.Rows)
			return st.executeRows(w, p, key, "gaps.html", pg, len(pg.Rows), &pg.RowsHTML, func(w *hw) { w.gapRows(pg.Rows) })
		}
	}
	jobs := []job{make1("")}
	for _, s := range statuses {
		jobs = append(jobs, make1(s))
	}
	return jobs
}

// refsKey adds the resolution of every reference in text to k.
func (st *buildState) refsKey(k *keyer, text []byte) {
	for _, id := range loops.FindRunKeys(text) {
		k.bool(st.recByKey[id] != nil)
	}
	for _, id := range loops.FindGapIDs(text) {
		k.bool(st.gapByID[id] != nil)
	}
	for _, id := range loops.FindLoopIDs(text) {
		k.bool(st.docByID[id] != nil)
	}
}

func (st *buildState) gapJob(g *gaps.Gap) job {
	return func(w *writer) error {
		p := gapPath(g.ID)
		raw := jsonMarshal(g)
		k := newKeyer(st.global, "gap", st.cfg.Gaps).bytes(raw).bool(st.orphan[g.ID])
		parent := strings.TrimSpace(g.ParentLoop)
		if d := st.docByID[parent]; d != nil {
			k.str(d.Status)
		}
		st.refsKey(k, raw)
		key := k.sum()
		if w.reuse(key, p) {
			return nil
		}
		root := rootOf(p)
		pg := &gapPage{pageBase: st.base(p, g.ID, "gaps"), G: g, Status: g.Status, Orphan: st.orphan[g.ID], Ledger: st.cfg.Gaps,
			Parent: st.loopLink(root, parent)}
		if pg.Orphan {
			pg.OrphanWhy = "closed"
			if st.docByID[parent] == nil {
				pg.OrphanWhy = "not in this repository"
			}
		}
		if g.Description != "" {
			body, err := st.b.md.HTML([]byte(g.Description), render.Doc{Path: st.cfg.Gaps, Linker: linker{st, root}, LiteralTildes: true})
			if err != nil {
				return err
			}
			pg.Description = template.HTML(body) //nolint:gosec // escaping renderer
		}
		add := func(key, v string) {
			if v != "" {
				pg.Fields = append(pg.Fields, kvh{key, st.linkText(root, v, "")})
			}
		}
		add("id", g.ID)
		add("title", g.Title)
		add("type", g.Type)
		add("severity", g.Severity)
		add("status", g.Status)
		add("discovered_by", g.DiscoveredBy)
		add("discovered_at", g.DiscoveredAt)
		add("parent_loop", g.ParentLoop)
		add("fixed_in", g.FixedIn)
		add("fixed_at", g.FixedAt)
		add("closed_at", g.ClosedAt)
		add("notes", g.Notes)
		add("doc", g.Doc)
		for _, f := range g.Extra {
			pg.Fields = append(pg.Fields, kvh{f.Key, st.metaValue(root, f.Value, "", 0)})
		}
		return st.execute(w, p, key, "gap.html", pg)
	}
}

// ---- verify packs ----

type packRow struct {
	Name, URL, Description, Summary string
	Checks, Runs                    int
	Last                            *runRef
	// Gone: the pack's file is no longer in the verify folder; its runs
	// remain.
	Gone bool
}

type packsPage struct {
	pageBase
	Packs []packRow
}

type packCheckRow struct {
	ID, Title, Run, Last string
	Blocking             bool
	Pass, Fail           int
}

type packRunRow struct {
	Key, URL, Status, Summary, When, ISO string
	Loop                                 template.HTML
}

type packPage struct {
	pageBase
	Name, Description, Path string
	Checks                  []packCheckRow
	Runs                    []packRunRow
	History                 template.HTML
	HistoryCaption          string
	// Gone: as packRow's.
	Gone bool
}

func (st *buildState) packJobs() []job {
	jobs := []job{func(w *writer) error {
		p := "verify/index.html"
		root := rootOf(p)
		pg := &packsPage{pageBase: st.base(p, "Verify packs", "verify")}
		for _, pi := range st.packs {
			row := packRow{Name: pi.Name, URL: root + packPath(pi.Name), Runs: len(pi.Runs), Gone: pi.Def == nil}
			if pi.Def != nil {
				row.Description, row.Checks = pi.Def.Description, len(pi.Def.Checks)
			}
			if n := len(pi.Runs); n > 0 {
				last := pi.Runs[n-1]
				row.Last = st.runRef(root, last)
				row.Summary = last.Receipt.Summary
				if row.Checks == 0 {
					row.Checks = len(last.Receipt.Checks)
				}
			}
			pg.Packs = append(pg.Packs, row)
		}
		return st.execute(w, p, "", "packs.html", pg)
	}}
	for _, pi := range st.packs {
		jobs = append(jobs, st.packJob(pi))
	}
	return jobs
}

func (st *buildState) packJob(pi *packInfo) job {
	return func(w *writer) error {
		p := packPath(pi.Name)
		root := rootOf(p)
		pg := &packPage{pageBase: st.base(p, pi.Name, "verify"), Name: pi.Name, Gone: pi.Def == nil}
		var ids []string
		seen := map[string]bool{}
		rows := map[string]*packCheckRow{}
		if pi.Def != nil {
			pg.Description = pi.Def.Description
			if rel, ok := strings.CutPrefix(pi.Def.Path, st.root+"/"); ok {
				pg.Path = rel
			}
			for _, c := range pi.Def.Checks {
				if seen[c.ID] {
					continue
				}
				seen[c.ID] = true
				ids = append(ids, c.ID)
				rows[c.ID] = &packCheckRow{ID: c.ID, Title: c.Title, Run: c.Run, Blocking: c.Blocking}
			}
		}
		results := map[string]map[string]string{} // run key → check → status
		for _, r := range pi.Runs {
			m := map[string]string{}
			for _, c := range r.Receipt.Checks {
				m[c.ID] = c.Status
				row := rows[c.ID]
				if row == nil {
					seen[c.ID] = true
					ids = append(ids, c.ID)
					row = &packCheckRow{ID: c.ID, Title: c.Title, Blocking: c.Blocking}
					rows[c.ID] = row
				}
				switch c.Status {
				case artifacts.StatusPass:
					row.Pass++
				case artifacts.StatusFail:
					row.Fail++
				}
				row.Last = c.Status
				if pi.Def == nil && c.Command != "" {
					// No file to read it from: the command as it last ran.
					row.Run = c.Command
				}
			}
			results[r.RunKey] = m
		}
		for _, id := range ids {
			pg.Checks = append(pg.Checks, *rows[id])
		}
		hist := pi.Runs
		if len(hist) > 60 {
			hist = hist[len(hist)-60:]
		}
		pg.History = packHistory(ids, hist, func(c string, r *receiptRec) string { return results[r.RunKey][c] }, root)
		if pg.History != "" {
			pg.HistoryCaption = "the last " + strconv.Itoa(len(hist)) + " runs, oldest left; one row per check"
		}
		for i := len(pi.Runs) - 1; i >= 0; i-- {
			r := pi.Runs[i]
			pg.Runs = append(pg.Runs, packRunRow{Key: r.RunKey, URL: root + receiptPath(r.RunKey), Status: recStatus(r), Summary: r.Receipt.Summary,
				When: fmtWhen(r.Start), ISO: fmtISO(r.Start), Loop: st.loopLink(root, r.Receipt.LoopID)})
		}
		return st.execute(w, p, "", "pack.html", pg)
	}
}

// ---- timeline ----

type timelineRun struct {
	Key, URL, Step, Status, Duration, Host, When, ISO string
	Loop                                              template.HTML
	// Resolved: see runRow.
	Resolved bool
}

type monthLink struct {
	Name, URL string
	Count     int
	On        bool
}

type timelinePage struct {
	pageBase
	Month, Span, ListTitle string
	Total                  int
	Chart                  template.HTML
	ChartCaption           string
	Months                 []monthLink
	Runs                   []timelineRun
	RunsHTML               template.HTML
}

// latestRuns is how many runs the timeline's first page lists.
const latestRuns = 200

func (st *buildState) timelineRuns(root string, recs []*receiptRec) []timelineRun {
	out := make([]timelineRun, 0, len(recs))
	// Many runs share a loop: its link is made once.
	links := map[string]template.HTML{}
	loopLink := func(id string) template.HTML {
		l, ok := links[id]
		if !ok {
			l = st.loopLink(root, id)
			links[id] = l
		}
		return l
	}
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		tr := timelineRun{Key: r.RunKey, URL: root + receiptPath(r.RunKey), Status: recStatus(r), When: fmtWhen(r.Start), ISO: fmtISO(r.Start), Duration: "—"}
		if rc := r.Receipt; rc != nil {
			tr.Step, tr.Host, tr.Duration = rc.Step, rc.Host, fmtDuration(rc.DurationMS)
			if rc.Resolved() {
				tr.Resolved, tr.Duration = true, "—"
			}
			tr.Loop = loopLink(rc.LoopID)
		} else {
			tr.Loop = loopLink("")
		}
		out = append(out, tr)
	}
	return out
}

func dayCounts(recs []*receiptRec) []dayCount {
	if len(recs) == 0 {
		return nil
	}
	first := recs[0].Start.UTC().Truncate(24 * time.Hour)
	last := recs[len(recs)-1].Start.UTC().Truncate(24 * time.Hour)
	if last.Sub(first) > 730*24*time.Hour {
		first = last.Add(-730 * 24 * time.Hour)
	}
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	days := make([]dayCount, n)
	for i := range days {
		days[i].Day = first.Add(time.Duration(i) * 24 * time.Hour)
	}
	for _, r := range recs {
		i := int(r.Start.UTC().Truncate(24*time.Hour).Sub(first) / (24 * time.Hour))
		if i < 0 || i >= n {
			continue
		}
		switch recStatus(r) {
		case artifacts.StatusPass:
			days[i].Pass++
		case artifacts.StatusFail:
			days[i].Fail++
		default:
			days[i].Other++
		}
	}
	return days
}

func (st *buildState) timelineJobs() []job {
	byMonth := map[string][]*receiptRec{}
	var months []string
	for _, r := range st.recs {
		m := r.Start.UTC().Format("2006-01")
		if r.Start.IsZero() {
			m = "undated"
		}
		if byMonth[m] == nil {
			months = append(months, m)
		}
		byMonth[m] = append(byMonth[m], r)
	}
	sort.Strings(months)
	monthLinks := func(root, on string) []monthLink {
		var out []monthLink
		for i := len(months) - 1; i >= 0; i-- {
			m := months[i]
			out = append(out, monthLink{Name: m, URL: root + monthPath(m), Count: len(byMonth[m]), On: m == on})
		}
		return out
	}
	span := ""
	if n := len(st.recs); n > 0 {
		span = fmtWhen(st.recs[0].Start) + " to " + fmtWhen(st.recs[n-1].Start)
	}
	jobs := []job{func(w *writer) error {
		p := "timeline/index.html"
		root := rootOf(p)
		pg := &timelinePage{pageBase: st.base(p, "Timeline", "timeline"), Total: len(st.recs), Span: span, Months: monthLinks(root, "")}
		pg.Chart = dayChart(dayCounts(st.recs))
		if pg.Chart != "" {
			pg.ChartCaption = "runs per day: pass, fail and other outcomes"
		}
		recent := st.recs
		if len(recent) > latestRuns {
			recent = recent[len(recent)-latestRuns:]
		}
		pg.ListTitle = "Latest runs"
		if len(recent) < len(st.recs) {
			pg.ListTitle = "Latest " + strconv.Itoa(len(recent)) + " runs (every run is listed on its month's page)"
		}
		pg.Runs = st.timelineRuns(root, recent)
		return st.executeRows(w, p, "", "timeline.html", pg, len(pg.Runs), &pg.RunsHTML, func(w *hw) { w.timelineRows(pg.Runs) })
	}}
	for _, m := range months {
		recs := byMonth[m]
		jobs = append(jobs, func(w *writer) error {
			p := monthPath(m)
			k := newKeyer(st.global, "month", m, st.pathsKey)
			for _, mm := range months {
				k.str(mm).int(int64(len(byMonth[mm])))
			}
			for _, r := range recs {
				k.str(r.RunKey).str(r.Hash).bool(r.Missing)
			}
			key := k.sum()
			if w.reuse(key, p) {
				return nil
			}
			root := rootOf(p)
			pg := &timelinePage{pageBase: st.base(p, "Timeline "+m, "timeline"), Month: m, Total: len(recs), Months: monthLinks(root, m),
				ListTitle: "Runs of " + m}
			pg.Chart = dayChart(dayCounts(recs))
			if pg.Chart != "" {
				pg.ChartCaption = "runs per day in " + m
			}
			pg.Runs = st.timelineRuns(root, recs)
			return st.executeRows(w, p, key, "timeline.html", pg, len(pg.Runs), &pg.RunsHTML, func(w *hw) { w.timelineRows(pg.Runs) })
		})
	}
	return jobs
}

// ---- Atom feed ----

// feedRuns is how many runs the feed holds.
const feedRuns = 50

// feedJob writes feed.xml: the latest runs as Atom entries, identified by
// their run keys so that ids never change.
func (st *buildState) feedJob() job {
	return func(w *writer) error {
		recs := make([]*receiptRec, len(st.recs))
		copy(recs, st.recs)
		sort.SliceStable(recs, func(i, j int) bool {
			if !recs[i].Finish.Equal(recs[j].Finish) {
				return recs[i].Finish.After(recs[j].Finish)
			}
			return recs[i].RunKey > recs[j].RunKey
		})
		if len(recs) > feedRuns {
			recs = recs[:feedRuns]
		}
		updated := time.Unix(0, 0).UTC()
		for _, r := range recs {
			if t := feedTime(r); t.After(updated) {
				updated = t
			}
		}
		var b bytes.Buffer
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
		b.WriteString(`<feed xmlns="http://www.w3.org/2005/Atom"`)
		if st.baseURL != "" {
			b.WriteString(` xml:base="` + xmlEscape(st.baseURL) + `"`)
		}
		b.WriteString(">\n")
		b.WriteString("<title>" + xmlEscape(st.title) + ": runs</title>\n")
		if st.baseURL != "" {
			b.WriteString("<id>" + xmlEscape(st.baseURL+"feed.xml") + "</id>\n")
			b.WriteString(`<link rel="self" href="` + xmlEscape(st.baseURL+"feed.xml") + `"/>` + "\n")
			b.WriteString(`<link rel="alternate" type="text/html" href="` + xmlEscape(st.baseURL+"timeline/index.html") + `"/>` + "\n")
		} else {
			b.WriteString("<id>urn:spine:feed:" + xmlEscape(urnPart(st.title)) + "</id>\n")
			b.WriteString(`<link rel="alternate" type="text/html" href="timeline/index.html"/>` + "\n")
		}
		b.WriteString("<updated>" + updated.Format(time.RFC3339) + "</updated>\n")
		b.WriteString("<author><name>spine</name></author>\n")
		b.WriteString("<generator>spine</generator>\n")
		for _, r := range recs {
			status := recStatus(r)
			loop, step, host, summary := "", "", "", ""
			if rc := r.Receipt; rc != nil {
				loop, step, host = rc.LoopID, rc.Step, rc.Host
				exit := "exit " + strconv.Itoa(rc.ExitCode)
				if rc.ExitCode == -1 {
					exit = "no exit code"
				}
				summary = exit + ", " + fmtDuration(rc.DurationMS) + " on " + host
				if rc.Summary != "" {
					summary += ", " + rc.Summary
				}
				if rc.Note != "" {
					summary += ". " + rc.Note
				}
			} else if r.Err != nil {
				summary = r.Err.Error()
			}
			href := receiptPath(r.RunKey)
			id := "urn:spine:run:" + r.RunKey
			if st.baseURL != "" {
				href = st.baseURL + href
				id = href
			}
			b.WriteString("<entry>\n")
			b.WriteString("<id>" + xmlEscape(id) + "</id>\n")
			b.WriteString("<title>" + xmlEscape(status+": "+loop+" / "+step) + "</title>\n")
			b.WriteString(`<link rel="alternate" type="text/html" href="` + xmlEscape(href) + `"/>` + "\n")
			b.WriteString("<updated>" + feedTime(r).Format(time.RFC3339) + "</updated>\n")
			if !r.Start.IsZero() {
				b.WriteString("<published>" + r.Start.Format(time.RFC3339) + "</published>\n")
			}
			if loop != "" {
				b.WriteString(`<category term="` + xmlEscape(loop) + `"/>` + "\n")
			}
			b.WriteString(`<summary type="text">` + xmlEscape(r.RunKey+": "+summary) + "</summary>\n")
			b.WriteString("</entry>\n")
		}
		b.WriteString("</feed>\n")
		return w.emit("feed.xml", "", b.Bytes())
	}
}

// feedTime returns when a run was last updated, for the feed: its end,
// else its start (a run still going, or one a crash cut off), else the
// epoch (a receipt that cannot be read).
func feedTime(r *receiptRec) time.Time {
	switch {
	case !r.Finish.IsZero():
		return r.Finish
	case !r.Start.IsZero():
		return r.Start
	}
	return time.Unix(0, 0).UTC()
}

// xmlEscape escapes text for XML content and attributes, dropping
// characters XML does not allow.
func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&apos;")
		case r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r != 0xFFFE && r != 0xFFFF && !(r >= 0xD800 && r <= 0xDFFF):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// urnPart reduces s to characters allowed in a URN's specific part.
func urnPart(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnumByte(c) || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "site"
	}
	return b.String()
}
