package render

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Markdown's inline syntax costs goldmark time in the square of a
// paragraph's length on some input: a paragraph of 100 KB of "[a](" takes
// it seconds, of 1 MB minutes, and a paragraph of link reference
// definitions does the same. A loop document is anybody's commit, so the
// site bounds that work per document: each paragraph costs its length
// squared (a table, whose cells are parsed one by one, the sum of its
// lines' squares), and one that would take the document past
// markdownBudget is shown as text instead of parsed. Real documents come
// nowhere near it: the largest loop document of the operators' corpus is
// 19 KB in all.
const (
	// markdownBudget is the sum of squared paragraph lengths, in bytes, a
	// document may have parsed as Markdown: one paragraph of 16 KiB, or
	// a thousand of 500 bytes. At goldmark's worst known rate it bounds a
	// document's inline parsing to about a fifth of a second.
	markdownBudget = 1 << 28
	// maxTableCells is the most table cells a document may have: goldmark
	// gives every row of a table as many cells as its header has, so 200
	// rows of "a" under a header of 20,000 columns took 900 MB. It is
	// counted before a paragraph becomes a table, as its lines times the
	// most cells a line of it could have (rowCells).
	maxTableCells = 200_000
	// maxHeadingLine is the longest line read as an ATX heading ("# …");
	// a longer one is read as a paragraph, and so counted against the
	// budget.
	maxHeadingLine = 4 << 10
)

// budgetKey is the parser context's slot for the document's budget (see
// docKey for why it is taken once).
var budgetKey = parser.NewContextKey()

// inlineBudget is what a document has left of markdownBudget and
// maxTableCells.
type inlineBudget struct {
	left, cells int64
	// paid is what each paragraph was charged before it could become a
	// table.
	paid map[*ast.Paragraph]int64
}

// budgetOf returns the budget of the document pc parses (nil: none, as
// for goldmark used without Render).
func budgetOf(pc parser.Context) *inlineBudget {
	b, _ := pc.Get(budgetKey).(*inlineBudget)
	return b
}

// charge takes cost from the budget and reports whether it was there.
func (b *inlineBudget) charge(cost int64) bool {
	if cost > b.left {
		return false
	}
	b.left -= cost
	return true
}

// paragraphCost returns a paragraph's length, the sum of its lines'
// squares, the most table cells it could make (see maxTableCells) and
// whether it starts with "[" (after the indentation a link reference
// definition may have).
func paragraphCost(p *ast.Paragraph, src []byte) (n, lines, cells int64, bracket bool) {
	ls := p.Lines()
	widest := 0
	for i := range ls.Len() {
		s := ls.At(i)
		l := int64(s.Stop - s.Start)
		n += l
		lines += l * l
		if w := rowCells(s.Value(src)); w > widest {
			widest = w
		}
	}
	if widest > 1 {
		cells = int64(widest) * int64(ls.Len())
	}
	if ls.Len() > 0 {
		s := ls.At(0)
		first := s.Value(src)
		i := 0
		for i < len(first) && i < 3 && first[i] == ' ' {
			i++
		}
		// A definition starts "[label]:", its label maybe going on to the
		// next line; "[text](url) | b", a table's header, starts none.
		if i < len(first) && first[i] == '[' {
			end := bytes.IndexByte(first[i:], ']')
			bracket = end < 0 || bytes.HasPrefix(first[i+end+1:], []byte{':'})
		}
	}
	return n, lines, cells, bracket
}

// rowCells returns the most cells a line could make as a table row: its
// "|" plus one, less a "|" that starts or ends it.
func rowCells(line []byte) int {
	line = bytes.TrimSpace(line)
	n := bytes.Count(line, []byte{'|'})
	if n == 0 {
		return 1
	}
	cells := n + 1
	if line[0] == '|' {
		cells--
	}
	if len(line) > 1 && line[len(line)-1] == '|' {
		cells--
	}
	return max(cells, 1)
}

// budgetBefore charges each paragraph as it closes, before goldmark looks
// for link reference definitions or a table in it: the sum of its lines'
// squares (what it costs as a table), or its length squared when it may
// start with definitions. One over budget becomes a textBlock.
type budgetBefore struct{}

// Transform implements parser.ParagraphTransformer.
func (budgetBefore) Transform(p *ast.Paragraph, reader text.Reader, pc parser.Context) {
	b := budgetOf(pc)
	if b == nil {
		return
	}
	n, lines, cells, bracket := paragraphCost(p, reader.Source())
	cost := lines
	if bracket {
		cost = n * n
	}
	if cells > b.cells || !b.charge(cost) {
		asText(p, n)
		return
	}
	b.cells -= cells
	if b.paid == nil {
		b.paid = map[*ast.Paragraph]int64{}
	}
	b.paid[p] = cost
}

// budgetAfter charges what is still a paragraph once the table
// transformer has looked at it: the rest of its length squared. One over
// budget becomes a textBlock.
type budgetAfter struct{}

// Transform implements parser.ParagraphTransformer.
func (budgetAfter) Transform(p *ast.Paragraph, reader text.Reader, pc parser.Context) {
	b := budgetOf(pc)
	if b == nil {
		return
	}
	n, _, _, _ := paragraphCost(p, reader.Source())
	paid := b.paid[p]
	delete(b.paid, p)
	if !b.charge(n*n - paid) {
		b.left += paid
		asText(p, n)
	}
}

// asText puts a textBlock in a paragraph's place, n being the
// paragraph's length.
func asText(p *ast.Paragraph, n int64) {
	t := &textBlock{size: n}
	t.SetLines(p.Lines())
	t.SetBlankPreviousLines(p.HasBlankPreviousLines())
	parent := p.Parent()
	parent.ReplaceChild(parent, p, t)
}

// kindText is the kind of textBlock.
var kindText = ast.NewNodeKind("SpineText")

// textBlock is a paragraph over the document's budget: its lines are
// shown as text, not parsed as Markdown.
type textBlock struct {
	ast.BaseBlock
	size int64
}

// Kind implements ast.Node.
func (n *textBlock) Kind() ast.NodeKind { return kindText }

// IsRaw implements ast.Node: goldmark does not parse its lines.
func (n *textBlock) IsRaw() bool { return true }

// Dump implements ast.Node.
func (n *textBlock) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Size": fmt.Sprint(n.size)}, nil)
}

// renderText shows a textBlock's lines, escaped, under a note that says
// why.
func (nr *nodeRenderer) renderText(w util.BufWriter, src []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*textBlock)
	fmt.Fprintf(w, "<p class=\"note\">A paragraph of %d bytes, shown as text: this document holds more Markdown than the site parses for one page.</p>\n<pre class=\"as-text\">", n.size)
	lines := n.Lines()
	for i := range lines.Len() {
		s := lines.At(i)
		_, _ = w.WriteString(EscapeText(string(s.Value(src))))
	}
	_, _ = w.WriteString("</pre>\n")
	return ast.WalkSkipChildren, nil
}

// headingGuard is goldmark's ATX heading parser for lines up to
// maxHeadingLine: a longer "# …" line is left to the paragraph parser, so
// that its inline parsing is charged to the budget like a paragraph's.
type headingGuard struct{ parser.BlockParser }

// Open implements parser.BlockParser. A heading's inline parsing costs
// its line's length squared, charged as a paragraph's is: one over the
// budget is left to the paragraph parser, and so shown as text.
func (g headingGuard) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	line, _ := reader.PeekLine()
	if len(line) > maxHeadingLine {
		return nil, parser.NoChildren
	}
	// Decided before the heading parser reads the line (it moves the
	// reader past what it takes).
	cost := int64(len(line)) * int64(len(line))
	b := budgetOf(pc)
	if b != nil && cost > b.left {
		return nil, parser.NoChildren
	}
	node, state := g.BlockParser.Open(parent, reader, pc)
	if node != nil && b != nil {
		b.left -= cost
	}
	return node, state
}

// SetOption passes options (automatic heading ids) to the heading parser.
func (g headingGuard) SetOption(name parser.OptionName, value any) {
	if s, ok := g.BlockParser.(parser.SetOptioner); ok {
		s.SetOption(name, value)
	}
}

// guardedBlockParsers returns goldmark's default block parsers with the
// ATX heading parser behind headingGuard.
func guardedBlockParsers() []util.PrioritizedValue {
	atx := reflect.TypeOf(parser.NewATXHeadingParser())
	ps := parser.DefaultBlockParsers()
	for i, p := range ps {
		if reflect.TypeOf(p.Value) == atx {
			ps[i].Value = headingGuard{p.Value.(parser.BlockParser)}
		}
	}
	return ps
}
