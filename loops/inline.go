package loops

import (
	"regexp"
	"strings"
)

// Inline metadata shapes real documents use in their first lines when they
// have no frontmatter.
var (
	// > **Status:** open   **Status:** open   - **status**: closed   * **Owner:** x
	boldMetaRe = regexp.MustCompile(`^(?:>\s*)?(?:[-*+]\s+)?\*\*([A-Za-z][A-Za-z0-9 _/-]{0,40}?)(?::\*\*|\*\*\s*:)\s*(.*)$`)
	// - status: closed (inside a ## Metadata section)
	plainMetaRe = regexp.MustCompile(`^[-*+]\s+([A-Za-z][A-Za-z0-9 _-]{0,40}?)\s*:\s+(.*)$`)
	// ## Status: closed
	headingMetaRe = regexp.MustCompile(`^#{2,6}\s+([A-Za-z][A-Za-z _-]{0,30}?)\s*:\s+(.+)$`)
)

// headingMetaKeys are the keys accepted in `## Key: value` headings; other
// headings with a colon are section titles ("## Phase 1: Foundation").
var headingMetaKeys = map[string]bool{
	"status": true, "created": true, "owner": true, "closed": true, "priority": true,
	"severity": true, "scope": true, "loop_id": true, "blocked_by": true, "opened": true,
}

// metaKey normalises an inline key: "Blocked By" becomes blocked_by.
func metaKey(k string) string {
	k = strings.ToLower(strings.TrimSpace(k))
	k = strings.NewReplacer(" ", "_", "-", "_", "/", "_").Replace(k)
	switch k {
	case "loop", "loop_id", "change_id":
		return "loop_id"
	}
	return k
}

// metaValue cleans an inline value: surrounding emphasis and code marks go.
func metaValue(v string) string {
	v = strings.TrimSpace(v)
	for len(v) >= 2 {
		c := v[0]
		if (c == '`' || c == '*' || c == '_') && v[len(v)-1] == c {
			v = strings.TrimSpace(v[1 : len(v)-1])
			continue
		}
		break
	}
	return v
}

// inlineMeta reads metadata from the first lines of a document without
// frontmatter: blockquotes, bold lines, bullets, `## Key: value` headings,
// a `## Metadata` list, or a two-column `| Field | Value |` table.
func (p *docParser) inlineMeta() {
	body := string(p.src[p.d.BodyOffset:])
	line := p.d.BodyLine - 1
	inMetaSection := false
	tableRows := -1 // -1: not in a metadata table
	var m Meta
	add := func(k, v string) {
		k = metaKey(k)
		if k == "" {
			return
		}
		if _, dup := m.Get(k); dup {
			return
		}
		m = append(m, Field{Key: k, Value: metaValue(v), Line: line})
	}
	for n := 0; n < 80 && body != ""; n++ {
		var raw string
		raw, body, _ = strings.Cut(body, "\n")
		line++
		s := strings.TrimSpace(strings.TrimRight(raw, "\r"))
		switch {
		case s == "" || s == "---" || s == "***" || s == ">":
			tableRows = min(tableRows, -1)
			continue
		case strings.HasPrefix(s, "# "):
			continue
		case tableRows >= 0 && strings.HasPrefix(s, "|"):
			cells := tableCells(s)
			if len(cells) == 2 && strings.Trim(cells[0], "-: ") != "" {
				add(cells[0], cells[1])
			}
			tableRows++
			continue
		case strings.HasPrefix(s, "|"):
			cells := tableCells(s)
			if len(cells) == 2 && isFieldHeader(cells[0]) {
				tableRows = 0
				continue
			}
		}
		if g := boldMetaRe.FindStringSubmatch(s); g != nil {
			add(g[1], g[2])
			continue
		}
		if inMetaSection {
			if g := plainMetaRe.FindStringSubmatch(s); g != nil {
				add(g[1], g[2])
				continue
			}
		}
		if g := headingMetaRe.FindStringSubmatch(s); g != nil && headingMetaKeys[metaKey(g[1])] {
			add(g[1], g[2])
			continue
		}
		if strings.HasPrefix(s, "#") {
			title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(s, "#")))
			inMetaSection = title == "metadata" || title == "meta" || title == "change description"
			if inMetaSection || len(m) == 0 {
				continue
			}
		}
		// Anything else is the document's content: metadata is over.
		break
	}
	if len(m) > 0 {
		p.d.Meta = m
		p.d.MetaSource = SourceInline
	}
}

func isFieldHeader(c string) bool {
	switch strings.ToLower(strings.TrimSpace(c)) {
	case "field", "key", "property", "attribute":
		return true
	}
	return false
}

// tableCells splits a Markdown table row into trimmed cells.
func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	row = strings.TrimSuffix(row, "|")
	cells := strings.Split(row, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}
