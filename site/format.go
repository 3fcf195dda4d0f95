package site

import (
	"fmt"
	"html"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spinehq/spine/render"
)

// pageBase is what every page's layout needs.
type pageBase struct {
	Title     string
	SiteTitle string
	// Root is the relative path from the page to the site's root folder
	// ("" or a run of "../").
	Root string
	// Nav names the active navigation item.
	Nav string
}

// base returns the layout data of the page at path p.
func (st *buildState) base(p, title, nav string) pageBase {
	return pageBase{Title: title, SiteTitle: st.title, Root: rootOf(p), Nav: nav}
}

// rootOf returns the relative path from the file p to the site root.
func rootOf(p string) string { return strings.Repeat("../", strings.Count(p, "/")) }

// Site paths.
func loopPath(id string) string     { return "loops/" + id + "/index.html" }
func receiptPath(k string) string   { return "receipts/" + k + "/index.html" }
func gapPath(id string) string      { return "gaps/" + id + "/index.html" }
func packPath(name string) string   { return "verify/" + name + "/index.html" }
func statusPath(s string) string    { return "status/" + s + "/index.html" }
func gapStatusPath(s string) string { return "gaps/status/" + s + "/index.html" }
func monthPath(m string) string     { return "timeline/" + m + "/index.html" }

// linker resolves references for a page whose root prefix is root.
type linker struct {
	st   *buildState
	root string
}

// RunKey implements render.Linker.
func (l linker) RunKey(k string) (string, bool) {
	if l.st.recByKey[k] == nil {
		return "", false
	}
	return l.root + receiptPath(k), true
}

// Gap implements render.Linker.
func (l linker) Gap(id string) (string, bool) {
	if l.st.gapByID[id] == nil {
		return "", false
	}
	return l.root + gapPath(id), true
}

// Loop implements render.Linker.
func (l linker) Loop(id string) (string, bool) {
	if l.st.docByID[id] == nil {
		return "", false
	}
	return l.root + loopPath(id), true
}

// Path implements render.Linker: links to loop documents go to their page.
func (l linker) Path(p string) (string, bool) {
	d := l.st.docByPath[p]
	if d == nil {
		return "", false
	}
	return l.root + loopPath(d.LoopID), true
}

var _ render.Linker = linker{}

// linkText escapes text and links the references in it.
func (st *buildState) linkText(root, text, self string) template.HTML {
	return template.HTML(render.LinkText(text, linker{st, root}, self)) //nolint:gosec // escaped by LinkText
}

// loopLink returns a loop id linked to its page, or marked missing.
func (st *buildState) loopLink(root, id string) template.HTML {
	if id == "" {
		return template.HTML(`<span class="muted">—</span>`)
	}
	if st.docByID[id] != nil {
		return template.HTML(`<a href="` + html.EscapeString(root+loopPath(id)) + `">` + html.EscapeString(id) + `</a>`) //nolint:gosec // escaped
	}
	return template.HTML(`<span class="missing" title="no loop document with this id in this repository">` + html.EscapeString(id) + `</span>`) //nolint:gosec // escaped
}

// runRef is a link to a run with its status.
type runRef struct {
	Key, URL, Status, When, ISO string
}

func (st *buildState) runRef(root string, r *receiptRec) *runRef {
	if r == nil {
		return nil
	}
	return &runRef{Key: r.RunKey, URL: root + receiptPath(r.RunKey), Status: recStatus(r), When: fmtWhen(r.Start), ISO: fmtISO(r.Start)}
}

// recStatus is a run's status for display.
func recStatus(r *receiptRec) string {
	switch {
	case r.Missing:
		return "running"
	case r.Receipt == nil:
		return "corrupt"
	case r.Receipt.Status == "":
		return "unknown"
	}
	return r.Receipt.Status
}

func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func fmtISO(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtDuration formats milliseconds compactly: 850ms, 12.3s, 4m05s, 2h10m.
func fmtDuration(ms int64) string {
	switch {
	case ms < 0:
		return "—"
	case ms < 1000:
		return strconv.FormatInt(ms, 10) + "ms"
	case ms < 60_000:
		return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + "s"
	case ms < 3_600_000:
		return fmt.Sprintf("%dm%02ds", ms/60_000, ms/1000%60)
	}
	return fmt.Sprintf("%dh%02dm", ms/3_600_000, ms/60_000%60)
}

// fmtExit formats a receipt's exit code: "—" for -1, spine's "no exit
// code" (the step did not run: blocked, not started, interrupted; or it
// did not exit by itself), which a reader would take for a process's.
func fmtExit(code int) string {
	if code == -1 {
		return "—"
	}
	return strconv.Itoa(code)
}

// fmtAge formats a duration as a short age: 45s, 12m, 5h, 3d.
func fmtAge(d time.Duration) string {
	switch {
	case d < 0:
		return "in " + fmtAge(-d)
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

// fmtSize formats a byte count: 512 B, 4.2 KiB, 50.0 MiB.
func fmtSize(n int64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
}

// stateClass maps a status or state word to a CSS class suffix of [a-z-].
func stateClass(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "none"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '-') {
			return "other"
		}
	}
	return s
}

func funcMap() template.FuncMap {
	return template.FuncMap{"stateClass": stateClass}
}

// statusOrder sorts statuses: the usual lifecycle first, others by name.
func statusOrder(list []string) {
	rank := map[string]int{"active": 0, "open": 1, "blocked": 2, "draft": 3, "planned": 4, "deferred": 5, "fixed": 6, "closed": 7}
	sort.Slice(list, func(i, j int) bool {
		ri, oki := rank[list[i]]
		rj, okj := rank[list[j]]
		switch {
		case oki && okj:
			return ri < rj
		case oki != okj:
			return oki
		}
		return list[i] < list[j]
	})
}

// firstLine returns the first non-empty line of s.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}
