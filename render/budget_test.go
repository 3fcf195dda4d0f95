package render_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spinehq/spine/render"
)

// TestMarkdownBudget: Markdown on which goldmark's inline parsing takes
// time in the square of a paragraph's length is shown as text past the
// document's budget, at once, escaped; ordinary Markdown, a big table
// and many small paragraphs among them, is still rendered.
func TestMarkdownBudget(t *testing.T) {
	var table strings.Builder
	table.WriteString("| disk | wwn | size | state |\n|---|---|---|---|\n")
	for i := 0; table.Len() < 24<<10; i++ {
		fmt.Fprintf(&table, "| sd%d | 0x5000c500%08x | 8 TB | `ok` |\n", i, i)
	}
	cases := []struct {
		name, src string
		asText    int // paragraphs shown as text
		want      []string
	}{
		{"unclosed inline links", "# T\n\n" + strings.Repeat("[a](", 250_000) + "<script>\n", 1,
			[]string{"A paragraph of 1000009 bytes, shown as text", "[a]([a](", "&lt;script&gt;"}},
		{"link reference definitions", strings.Repeat("[a]: b\n", 140_000), 1,
			[]string{"A paragraph of 980000 bytes, shown as text"}},
		{"long heading line", "# " + strings.Repeat("[a](", 100_000) + "\n", 1,
			[]string{"shown as text", "# [a]([a]("}},
		{"setext heading", strings.Repeat("[a](", 100_000) + "\n===\n", 1,
			[]string{"A paragraph of 400000 bytes, shown as text", "<p>===</p>"}},
		{"quoted and listed", "> - " + strings.Repeat("[a](", 100_000) + "\n", 1,
			[]string{"shown as text", "<blockquote>"}},
		{"table with a huge cell", "| a |\n|---|\n| " + strings.Repeat("[a](", 50_000) + " |\n", 1,
			[]string{"shown as text", "| a |"}},
		{"many short lines", "a\n" + strings.Repeat("[a](\n", 100_000), 1,
			[]string{"A paragraph of 50000"}},
		// Within the squares' budget, over the cells' (a million).
		{"short rows under a wide header", "|" + strings.Repeat("a|", 5_000) + "\n|" + strings.Repeat("-|", 5_000) + "\n" + strings.Repeat("a\n", 200), 1,
			[]string{"shown as text"}},
		{"emphasis delimiter runs", strings.Repeat("*a_b", 40_000) + "\n", 1,
			[]string{"A paragraph of 16000"}},
		{"table of 140,000 cells", "| a | b | c | d |\n|---|---|---|---|\n" + strings.Repeat("| 1 | y | z | w |\n", 35_000), 0,
			[]string{"<table>", "<td>w</td>"}},
		{"table whose header starts with a link", "[Gap](http://x) | Status | Owner\n---|---|---\n" + strings.Repeat("[GAP-OP-1](http://x) | open | ops team member\n", 400), 0,
			[]string{"<table>", "<td>open</td>"}},
		// 200 headings of 4 KB: the first 16 fill the budget, the rest
		// are paragraphs over it.
		{"many long headings", strings.Repeat("# "+strings.Repeat("[a](", 1020)+"\n\n", 200), 184,
			[]string{"<h1 id=", "shown as text"}},
		{"table of 24 KiB", "# Disks\n\n" + table.String(), 0,
			[]string{"<table>", "<td>sd0</td>", "<code>ok</code>", `<h1 id="disks">`}},
		{"a thousand small paragraphs", strings.Repeat("Some *prose* with a [link](https://example.com).\n\n", 1000), 0,
			[]string{`<em>prose</em> with a <a href="https://example.com"`}},
		// 40 paragraphs of 5 KB: the first 10 fill the budget.
		{"budget per document", strings.Repeat(strings.Repeat("[a](", 1250)+"\n\n", 40), 30,
			[]string{"A paragraph of 500"}},
		// Over 1 MiB the document is shown as text whole: 2 million list
		// items in 8 MiB took 12 s and 1.3 GB.
		{"many small blocks", strings.Repeat("- a\n", 300_000), 1,
			[]string{"A document of 1200000 bytes, shown as text", "- a\n- a\n"}},
		{"heading under the guard", "# " + strings.Repeat("a", 4000) + "\n", 0,
			[]string{`<h1 id="` + strings.Repeat("a", 100)}},
	}
	r := render.New(render.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan string, 1)
			go func() { done <- renderString(t, r, c.src) }()
			var got string
			select {
			case got = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("render did not end in 60s")
			}
			if n := strings.Count(got, "shown as text"); n != c.asText {
				t.Errorf("%d paragraphs shown as text, want %d", n, c.asText)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in %.400s", w, got)
				}
			}
			if strings.Contains(got, "<script>") {
				t.Error("raw <script> on the page")
			}
		})
	}
}

// TestFindRefsManyIDs: the references of a long text are found and sorted
// at once, however their kinds interleave (an insertion sort took 17 s
// over 80,000 loop ids before 80,000 gap ids), in text order.
func TestFindRefsManyIDs(t *testing.T) {
	src := []byte(strings.Repeat("LOOP-A-1 ", 80_000) + strings.Repeat("GAP-OP-1 ", 80_000))
	start := time.Now()
	refs := render.FindRefs(src)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("FindRefs took %s", el)
	}
	if len(refs) != 160_000 {
		t.Fatalf("%d references, want 160000", len(refs))
	}
	for i := 1; i < len(refs); i++ {
		if refs[i].Start <= refs[i-1].Start {
			t.Fatalf("reference %d at %d after one at %d", i, refs[i].Start, refs[i-1].Start)
		}
	}
}
