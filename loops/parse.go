package loops

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"gopkg.in/yaml.v3"

	"github.com/spinehq/spine/internal/yamlx"
)

// Markers delimiting the evidence block spine regenerates in a document.
const (
	EvidenceBegin = "<!-- spine:evidence:begin -->"
	EvidenceEnd   = "<!-- spine:evidence:end -->"
)

// knownStatuses maps the status words seen in real repositories to their
// normalised form.
var knownStatuses = map[string]string{
	"active":      "active",
	"open":        "active",
	"in_progress": "active",
	"in-progress": "active",
	"running":     "active",
	"wip":         "active",
	"draft":       "draft",
	"planned":     "planned",
	"proposed":    "planned",
	"blocked":     "blocked",
	"deferred":    "deferred",
	"paused":      "deferred",
	"closed":      "closed",
	"complete":    "closed",
	"completed":   "closed",
	"done":        "closed",
	"superseded":  "closed",
	"cancelled":   "closed",
	"canceled":    "closed",
	"abandoned":   "closed",
}

// NormalizeStatus maps a raw status value to its normalised form and
// reports whether it was recognised. Case, surrounding emphasis or code
// marks and leading decoration (an emoji, a bullet) do not matter, and only
// the first word counts when it is a known one: "closed (superseded by X)"
// and "✅ COMPLETE" are closed, "In Progress" is active. An unknown value is
// returned lower-cased and trimmed, with ok false. An empty value is "" and
// ok.
func NormalizeStatus(raw string) (string, bool) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if s == "" {
		return "", true
	}
	letters := strings.TrimLeftFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	letters = strings.TrimRight(letters, "*_` \t")
	if letters == "" {
		return s, false
	}
	word := letters
	if end := strings.IndexFunc(word, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r == '_' || r == '-')
	}); end >= 0 {
		word = word[:end]
	}
	if n, ok := knownStatuses[word]; ok {
		return n, true
	}
	// A phrase of several words: "in progress", "on hold".
	phrase := letters
	if end := strings.IndexFunc(phrase, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r == '_' || r == '-' || r == ' ')
	}); end >= 0 {
		phrase = phrase[:end]
	}
	phrase = strings.Join(strings.Fields(phrase), "_")
	if n, ok := knownStatuses[phrase]; ok {
		return n, true
	}
	return letters, false
}

// blockParser is the goldmark parser used to find headings, fenced blocks
// and task-list items. Only CommonMark's block structure matters here: the
// title and stage headings are read from their raw text, run keys and gap
// ids are scanned on the raw document, tables are not needed. So no inline
// parser is registered, tables are dropped, and a paragraph transformer
// drops the lines of every paragraph but a task-list item's (and one a
// setext heading takes), which leaves goldmark's inline pass almost
// nothing to do. Check boxes are recognised on the list items,
// as the task-list extension does. It is safe for concurrent use.
var blockParser = parser.NewParser(
	parser.WithBlockParsers(parser.DefaultBlockParsers()...),
	parser.WithParagraphTransformers(util.Prioritized(dropParagraphs{}, 100)),
)

var tableTransformer = extension.NewTableParagraphTransformer()

// maxDefinitionLines is the longest paragraph dropParagraphs looks for link
// reference definitions in.
const maxDefinitionLines = 256

// dropParagraphs empties every paragraph except the two kinds whose text
// Parse reads: one a setext underline is about to make a heading, and the
// first paragraph of a list item that may start with a check box. Those
// first go through the paragraph transformers of goldmark with the table
// extension, in their order (tables, then link reference definitions), as
// these decide whether the heading or check box exists; the tables made
// are dropped. Goldmark removes the emptied paragraphs.
type dropParagraphs struct{}

func (dropParagraphs) Transform(node *ast.Paragraph, reader text.Reader, pc parser.Context) {
	lines := node.Lines()
	if lines.Len() == 0 {
		return
	}
	line, _ := reader.PeekLine()
	setext := isSetextBar(line)
	task := false
	if li, ok := node.Parent().(*ast.ListItem); ok && li.FirstChild() == node {
		first := lines.At(0)
		task = bytes.HasPrefix(util.TrimLeftSpace(first.Value(reader.Source())), []byte("["))
	}
	if !setext && !task {
		node.SetLines(text.NewSegments())
		return
	}
	parent, prev, next := node.Parent(), node.PreviousSibling(), node.NextSibling()
	tableTransformer.Transform(node, reader, pc)
	c := parent.FirstChild()
	if prev != nil {
		c = prev.NextSibling()
	}
	for c != nil && c != next {
		n := c.NextSibling()
		if _, ok := c.(*extast.Table); ok {
			parent.RemoveChild(parent, c)
		}
		c = n
	}
	if node.Parent() == nil {
		return
	}
	// goldmark reads link reference definitions in time in the square of
	// their number: a check-box item or a setext heading of 80,000 took
	// plan 9 s. A paragraph that long is read as no definitions.
	if lines.Len() <= maxDefinitionLines {
		parser.LinkReferenceParagraphTransformer.Transform(node, reader, pc)
	}
	if node.Parent() == nil || setext {
		return
	}
	if lines := node.Lines(); lines.Len() > 0 {
		first := lines.At(0)
		if node.Parent().FirstChild() == node && taskListRe.Match(util.TrimLeftSpace(first.Value(reader.Source()))) {
			return
		}
	}
	node.SetLines(text.NewSegments())
}

// isSetextBar reports whether line underlines a setext heading: up to
// three spaces, then only '=' or only '-', then white space.
func isSetextBar(line []byte) bool {
	i := 0
	for i < len(line) && i < 3 && line[i] == ' ' {
		i++
	}
	if i >= len(line) || line[i] != '=' && line[i] != '-' {
		return false
	}
	c := line[i]
	for i < len(line) && line[i] == c {
		i++
	}
	return len(bytes.TrimSpace(line[i:])) == 0
}

// taskListRe is the task-list extension's check box at the start of a list
// item's first paragraph.
var taskListRe = regexp.MustCompile(`^\[([\sxX])\]\s*`)

// stageNumber reads a stage heading's text: leading emphasis or code
// marks aside, it starts with stage, phase, wave or step (any case) and
// a number, maybe after one space or '-', that ends the word. It returns
// the number. It is the regexp `(?i)^(stage|phase|wave|step)[ -]?(\d+)\b`
// (whose case folding also lets 'ſ' stand for an 's' after the first
// letter) without the regexp's cost; TestStageNumber and FuzzStageNumber
// check it against that regexp.
func stageNumber(txt string) (string, bool) {
	txt = strings.TrimLeft(txt, "*_`")
	if txt == "" {
		return "", false
	}
	var word string
	switch txt[0] | 0x20 {
	case 's':
		word = "stage"
		if len(txt) > 2 && txt[2]|0x20 == 'e' {
			word = "step"
		}
	case 'p':
		word = "phase"
	case 'w':
		word = "wave"
	default:
		return "", false
	}
	rest := txt[1:]
	for i := 1; i < len(word); i++ {
		c := word[i]
		switch {
		case rest != "" && rest[0]|0x20 == c:
			rest = rest[1:]
		case c == 's' && strings.HasPrefix(rest, "\u017f"):
			rest = rest[len("\u017f"):]
		default:
			return "", false
		}
	}
	if len(rest) > 1 && (rest[0] == ' ' || rest[0] == '-') && isDigit(rest[1]) {
		rest = rest[1:]
	}
	n := 0
	for n < len(rest) && isDigit(rest[n]) {
		n++
	}
	if n == 0 || n < len(rest) && (isAlnum(rest[n]) || rest[n] == '_') {
		return "", false
	}
	return rest[:n], true
}

// isDigit reports whether c is an ASCII digit.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Parse reads one loop document. It never fails: whatever is wrong with the
// document becomes a finding in Problems, and as much as can be read is.
// path is the repository-relative path used in findings.
func Parse(path string, src []byte) *Document {
	return parseWith(path, src, nil)
}

// parseWith is Parse collecting each stage's steps in *steps, a buffer
// the caller reuses from one document to the next (nil: a new one per
// document). The buffer is left empty and cleared, holding nothing alive.
func parseWith(path string, src []byte, steps *[]Step) *Document {
	p := &docParser{d: &Document{Path: path, Source: src}, src: src, steps: steps}
	p.parse()
	return p.d
}

type docParser struct {
	d   *Document
	src []byte
	// lineOff and lineNo cache lineAt's last answer: lineNo-1 newlines
	// come before byte offset lineOff (lineNo 0 means none yet).
	lineOff, lineNo int
	// steps, when set, is the caller's buffer for a stage's steps.
	steps *[]Step
	// noScan makes body use goldmark for every document (the tests
	// compare the two ways).
	noScan bool
	// unlisted counts the findings past maxProblems, from line
	// unlistedFrom on; unlistedErr is set when one is an error.
	unlisted, unlistedFrom      int
	unlistedErr, unlistedHidden bool
}

// maxProblems is the most findings a document lists: a step of 800,000
// unknown attributes made 1.6 million (88 MB of lint output, gigabytes
// of memory). The rest are counted in one last finding.
const maxProblems = 1000

// lineAt returns the 1-based line of byte offset off: one more than the
// newlines before it. The lines are counted from the previous call's
// offset when off is past it (Parse asks in document order), so a document
// is counted about once, and no table of line starts is allocated.
func (p *docParser) lineAt(off int) int {
	off = min(max(off, -1), len(p.src))
	if off < 0 {
		return 0
	}
	if p.lineNo == 0 || off < p.lineOff {
		p.lineOff, p.lineNo = 0, 1
	}
	p.lineNo += bytes.Count(p.src[p.lineOff:off], []byte{'\n'})
	p.lineOff = off
	return p.lineNo
}

func (p *docParser) problem(line int, level Level, format string, args ...any) {
	if len(p.d.Problems) >= maxProblems {
		if p.unlisted == 0 || line < p.unlistedFrom {
			p.unlistedFrom = line
		}
		p.unlisted++
		p.unlistedErr = p.unlistedErr || level == LevelError
		// A finding of a step not read, unlisted, still makes the loop
		// one whose steps were not all read (Document.StepsUnread).
		if level == LevelError && hidesStep(format) {
			p.unlistedHidden = true
		}
		return
	}
	p.d.Problems = append(p.d.Problems, Problem{Path: p.d.Path, Line: line, Level: level, Message: fmt.Sprintf(format, args...)})
}

func (p *docParser) parse() {
	d := p.d
	d.FileID = FileID(d.Path)
	d.MetaSource = SourceNone
	d.BodyLine = 1
	d.Meta = Meta{}
	if len(bytes.TrimSpace(p.src)) == 0 {
		p.problem(1, LevelError, msgEmpty)
		p.finish()
		return
	}
	if i := binaryAt(p.src); i >= 0 {
		p.problem(p.lineAt(i), LevelError, msgBinary)
		p.finish()
		return
	}
	if !utf8.Valid(p.src) {
		off := firstInvalidUTF8(p.src)
		p.problem(p.lineAt(off), LevelWarning, "invalid UTF-8 at byte %d", off)
	}
	start := 0
	if bytes.HasPrefix(p.src, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	d.BodyOffset = start
	p.frontmatter(start)
	d.BodyLine = p.lineAt(d.BodyOffset)
	p.body()
	if d.MetaSource == SourceNone {
		p.inlineMeta()
	}
	p.finish()
}

// frontmatter reads a YAML block opened by `---` on line 1.
func (p *docParser) frontmatter(start int) {
	first := p.src[start:]
	if nl := bytes.IndexByte(first, '\n'); nl >= 0 {
		first = first[:nl]
	}
	if string(bytes.TrimRight(first, " \t\r")) != "---" {
		return
	}
	// The block ends at the next line that is --- once trimmed (the rule
	// of adrg/frontmatter, which Parse used to call on the block and which
	// TestFrontmatterBlockMatchesAdrg checks gives the same block).
	blockStart := start + len(first) + 1
	var block []byte
	found := false
	closeEnd := 0
	if loc, err := locateFrontmatter(p.src); err == nil {
		if i := bytes.IndexByte(p.src[loc.close:], '\n'); i >= 0 {
			closeEnd = loc.close + i + 1
		} else {
			closeEnd = len(p.src)
		}
		block, found = p.src[loc.start:loc.close], true
	}
	if !found {
		p.problem(1, LevelError, "frontmatter: block opened on line 1 never closes with ---")
		// Still read what looks like its keys (up to the first blank
		// line) so the loop id and status are known.
		end := len(p.src)
		if blockStart > end {
			blockStart = end
		}
		for _, blank := range []string{"\n\n", "\n\r\n"} {
			if i := bytes.Index(p.src[blockStart:end], []byte(blank)); i >= 0 {
				end = blockStart + i + 1
			}
		}
		if m := linewiseMeta(p.src[blockStart:end], 2); len(m) > 0 {
			p.d.Meta = m
			p.d.MetaSource = SourceFrontmatterLines
		}
		return
	}
	p.d.BodyOffset = closeEnd
	meta, source, yamlErr := decodeFrontmatter(block, p.lineAt(blockStart))
	p.d.Meta, p.d.MetaSource = meta, source
	if yamlErr != nil {
		line, msg := yamlErrorLine(yamlErr, block, p.lineAt(blockStart))
		p.problem(line, LevelError, "frontmatter: %s (read line by line instead)", msg)
		return
	}
	p.checkMetaTypes()
}

// maxYAMLNodes bounds the work of converting one frontmatter block (alias
// expansion can otherwise grow exponentially: the "billion laughs").
const maxYAMLNodes = 100000

// errTooManyNodes is reported when a frontmatter block expands beyond
// maxYAMLNodes values.
var errTooManyNodes = errors.New("yaml: block expands to too many values (aliases?)")

// decodeFrontmatter reads a frontmatter block whose first line is file line
// blockLine. YAML that is rejected (or is not a mapping) is read line by
// line and returned with the error.
func decodeFrontmatter(block []byte, blockLine int) (Meta, MetaSource, error) {
	if meta, ok := fastFrontmatter(block, blockLine); ok {
		return meta, SourceFrontmatter, nil
	}
	return yamlFrontmatter(block, blockLine)
}

// yamlFrontmatter is decodeFrontmatter with yaml.v3 for every block.
func yamlFrontmatter(block []byte, blockLine int) (Meta, MetaSource, error) {
	var root yaml.Node
	yamlErr := yaml.Unmarshal(block, &root)
	if yamlErr == nil {
		doc := &root
		if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
			doc = doc.Content[0]
		}
		switch {
		case root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0):
			return Meta{}, SourceFrontmatter, nil
		case doc.Kind == yaml.ScalarNode && doc.ShortTag() == "!!null":
			return Meta{}, SourceFrontmatter, nil // only comments
		case doc.Kind == yaml.MappingNode:
			c := &nodeConv{budget: maxYAMLNodes}
			meta := Meta{}
			for i := 0; i+1 < len(doc.Content); i += 2 {
				k, v := doc.Content[i], doc.Content[i+1]
				meta = append(meta, Field{Key: k.Value, Value: c.value(v, 0), Line: yamlFileLine(block, k.Line, blockLine)})
			}
			if c.budget >= 0 {
				return meta, SourceFrontmatter, nil
			}
			yamlErr = errTooManyNodes
		default:
			yamlErr = fmt.Errorf("not a mapping of keys to values")
		}
	}
	return linewiseMeta(block, blockLine), SourceFrontmatterLines, yamlErr
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErrorLine converts a YAML error's block-relative line to a file line.
func yamlErrorLine(err error, block []byte, blockLine int) (int, string) {
	var msg string
	n := 0
	if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
		msg = te.Errors[0]
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			n, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		}
	} else {
		// The problem's own line, counted from 1 (yamlx.ErrorLine).
		n, msg = yamlx.ErrorLine(block, err)
	}
	if strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token") {
		// YAML names the line before the tab's, or none: the line is
		// the first at or after it indented with a tab.
		if t := tabIndentedLine(block, max(1, n-1)); t > 0 {
			return blockLine + t - 1, msg
		}
	}
	if n > 0 {
		return yamlFileLine(block, n, blockLine), msg
	}
	return max(1, blockLine-1), msg
}

// tabIndentedLine returns the first line of block, counting from 1, at or
// after line from, whose indentation holds a tab; 0 when none does.
func tabIndentedLine(block []byte, from int) int {
	for i, line := range bytes.Split(block, []byte("\n")) {
		if i+1 < from {
			continue
		}
		for _, c := range line {
			if c == '\t' {
				return i + 1
			}
			if c != ' ' {
				break
			}
		}
	}
	return 0
}

// yamlFileLine converts YAML's line n of block to a file line. YAML counts
// CR, CRLF, LF, NEL, LS and PS as line breaks; files are counted in LFs.
// A line past the block's end is the closing --- line's.
func yamlFileLine(block []byte, n, blockLine int) int {
	if n < 1 {
		return max(1, blockLine)
	}
	line := blockLine
	for i, y := 0, 1; i < len(block) && y < n; y++ {
		// Skip to the end of YAML's line y.
		for i < len(block) {
			c := block[i]
			if c == '\n' {
				i++
				line++
				break
			}
			if c == '\r' {
				i++
				if i < len(block) && block[i] == '\n' {
					i++
					line++
				}
				break
			}
			if c == 0xC2 && i+1 < len(block) && block[i+1] == 0x85 {
				i += 2
				break
			}
			if c == 0xE2 && i+2 < len(block) && block[i+1] == 0x80 && (block[i+2] == 0xA8 || block[i+2] == 0xA9) {
				i += 3
				break
			}
			i++
		}
	}
	return line
}

// nodeConv converts YAML nodes to plain Go values within a budget of nodes.
type nodeConv struct{ budget int }

// value converts a YAML node to a plain Go value. Scalars keep their
// written text except booleans and numbers; dates stay strings.
func (c *nodeConv) value(n *yaml.Node, depth int) any {
	c.budget--
	if depth > 64 || c.budget < 0 {
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return c.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			out = append(out, c.value(e, depth+1))
		}
		return out
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = c.value(n.Content[i+1], depth+1)
		}
		return out
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				return f
			}
		}
		return n.Value
	}
	return nil
}

// scalarString renders a metadata value as text.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = scalarString(e)
		}
		return strings.Join(parts, ", ")
	default:
		return fmt.Sprint(x)
	}
}

var lineKeyRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]*):(?:\s+(.*?))?\s*$`)

// linewiseMeta reads a rejected YAML block as top-level `key: value` lines,
// with indented `- item` lines under a key collected as a list.
func linewiseMeta(block []byte, firstLine int) Meta {
	var m Meta
	for i, raw := range strings.Split(string(block), "\n") {
		line := strings.TrimRight(raw, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' || line[0] == '-' {
			item := strings.TrimSpace(line)
			if len(m) > 0 && strings.HasPrefix(item, "- ") {
				last := &m[len(m)-1]
				if list, ok := last.Value.([]any); ok || last.Value == nil {
					last.Value = append(list, unquote(strings.TrimSpace(item[2:])))
				}
			}
			continue
		}
		if g := lineKeyRe.FindStringSubmatch(line); g != nil {
			var v any
			if g[2] != "" {
				v = unquote(g[2])
			}
			m = append(m, Field{Key: g[1], Value: v, Line: firstLine + i})
		}
	}
	return m
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"') {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

// checkMetaTypes reports frontmatter values whose type spine relies on,
// and keys written twice (YAML wants each key once; spine reads the first,
// another tool may read the last).
func (p *docParser) checkMetaTypes() {
	for i, f := range p.d.Meta {
		// A handful of keys: a scan costs less than a map per document.
		for _, e := range p.d.Meta[:i] {
			if e.Key == f.Key {
				p.problem(f.Line, LevelWarning, "frontmatter: key %s appears twice (first on line %d); spine reads the first", f.Key, e.Line)
				break
			}
		}
		switch f.Key {
		case "loop_id", "status", "owner", "host":
			switch v := f.Value.(type) {
			case string:
				if f.Key == "host" && v != "" && !isStepName(v) {
					p.problem(f.Line, LevelError, "frontmatter: host %q: one host name, of letters, digits, '.', '_' and '-'", v)
				}
			case nil:
			default:
				p.problem(f.Line, LevelError, "frontmatter: %s must be a string, got %s", f.Key, typeName(f.Value))
			}
		case HeartbeatKey:
			// spine writes it (RFC 3339, UTC); one it cannot read makes
			// the loop's heartbeat age unknown, which status --stale
			// counts as stale.
			switch v := f.Value.(type) {
			case nil:
			case string:
				if _, err := time.Parse(time.RFC3339, v); v != "" && err != nil {
					p.problem(f.Line, LevelWarning, "frontmatter: %s %q is not an RFC 3339 time (such as 2026-11-28T10:00:00Z): the heartbeat's age is unknown (spine status --stale counts an active loop with heartbeat_ttl_minutes as stale); spine sets it when it runs the loop", HeartbeatKey, v)
				}
			default:
				p.problem(f.Line, LevelWarning, "frontmatter: %s is %s, not an RFC 3339 time (such as 2026-11-28T10:00:00Z): the heartbeat's age is unknown (spine status --stale counts an active loop with heartbeat_ttl_minutes as stale); spine sets it when it runs the loop", HeartbeatKey, typeName(f.Value))
			}
		case "heartbeat_ttl_minutes":
			if _, ok := f.Value.(int64); !ok && f.Value != nil {
				p.problem(f.Line, LevelWarning, "frontmatter: heartbeat_ttl_minutes must be a whole number of minutes, got %q", scalarString(f.Value))
			}
		case "approvals":
			switch v := f.Value.(type) {
			case nil, string:
			case []any:
				for _, e := range v {
					if _, ok := e.(string); !ok {
						p.problem(f.Line, LevelError, "frontmatter: approvals must be a list of gate names")
						break
					}
				}
			default:
				p.problem(f.Line, LevelError, "frontmatter: approvals must be a list of gate names")
			}
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// body reads the title, stages and steps: from the blocks scanBlocks
// finds when it can read the body, otherwise from goldmark's block tree.
func (p *docParser) body() {
	body := p.src[p.d.BodyOffset:]
	if depth, line := Nesting(body); depth > MaxNesting {
		p.problem(p.d.BodyLine+line-1, LevelError, msgTooDeep+" %d levels deep here; spine reads documents nested at most %d deep, and not this one's steps", depth, MaxNesting)
		return
	}
	w := &bodyWalker{p: p, body: body, base: p.d.BodyOffset}
	defer w.lostSteps()
	if p.steps != nil {
		w.steps = (*p.steps)[:0]
		defer func() {
			clear(w.steps[:cap(w.steps)])
			*p.steps = w.steps[:0]
		}()
	}
	if !p.noScan {
		var buf [64]blockEvent
		if evs, ok := scanBlocks(body, buf[:0]); ok {
			for _, ev := range evs {
				switch ev.kind {
				case evHeading:
					w.heading(ev.level, body[ev.start:ev.stop], ev.start)
				case evFence:
					w.addFence(lineStart(body, ev.cstart-1), ev.cstop, ev.cstop < len(body))
					if ev.start >= 0 {
						w.fence(body[ev.start:ev.stop], ev.start, body[ev.cstart:ev.cstop])
					}
				case evItem:
					w.item(body[ev.start:ev.stop], body[ev.start:ev.stop], ev.start)
				}
			}
			w.endStage()
			return
		}
	}
	root := blockParser.Parse(text.NewReader(body))
	// spine's own evidence block repeats stage titles as headings; they are
	// a record of runs, not stages.
	evBegin, evEnd, err := evidenceSpan(body)
	if err != nil {
		evBegin, evEnd = -1, -1
	}
	inEvidence := func(n ast.Node) bool {
		off := segStart(n, body)
		return evBegin >= 0 && evEnd > evBegin && off > evBegin && off < evEnd
	}
	_ = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		if n.Type() == ast.TypeBlock && inEvidence(n) {
			w.endStage()
			return ast.WalkSkipChildren, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			w.heading(n.Level, segmentsText(n.Lines(), body), segStart(n, body))
			return ast.WalkSkipChildren, nil
		case *ast.FencedCodeBlock:
			if pos := n.Pos(); pos >= 0 {
				end := lineEnd(body, pos)
				if l := n.Lines(); l.Len() > 0 {
					end = l.At(l.Len() - 1).Stop
				}
				w.addFence(pos, end, closesFence(body, end, body[pos], runOf(body[pos:], body[pos])))
			}
			if n.Info != nil {
				w.fence(n.Info.Segment.Value(body), n.Info.Segment.Start, segmentsText(n.Lines(), body))
			}
			return ast.WalkSkipChildren, nil
		case *ast.ListItem:
			if w.cur == nil {
				return ast.WalkContinue, nil
			}
			para := n.FirstChild()
			if para == nil || para.Lines().Len() == 0 {
				return ast.WalkContinue, nil
			}
			if _, ok := para.(*ast.TextBlock); !ok {
				if _, ok := para.(*ast.Paragraph); !ok {
					return ast.WalkContinue, nil
				}
			}
			first := para.Lines().At(0)
			w.item(first.Value(body), segmentsText(para.Lines(), body), segStart(para, body))
		}
		return ast.WalkContinue, nil
	})
	w.endStage()
}

// bodyWalker collects the title, stages and steps from a body's blocks in
// document order.
type bodyWalker struct {
	p    *docParser
	body []byte
	base int // the body's offset in the document
	cur  *Stage
	// steps collects the current stage's steps; they are copied into it
	// when it ends, in one allocation of the right size rather than the
	// doubling appends leave behind.
	steps []Step
	names map[string]int
	// artifacts maps each artifact name to the line of the
	// first step naming it.
	artifacts map[string]int
	// manual maps each manual step's text to the line of the first
	// one with it.
	manual map[string]int
	// fences are the fenced code blocks, in document order (see
	// lostSteps).
	fences []fenceSpan
}

// fenceSpan is a fenced code block of a body: the offset of its opening
// fence run, the fence's character and length, the end of its content,
// and whether a closing fence ends it.
type fenceSpan struct {
	open, end int
	c         byte
	n         int
	closed    bool
}

// endStage closes the current stage.
func (w *bodyWalker) endStage() {
	if w.cur != nil && len(w.steps) > 0 {
		w.cur.Steps = append([]Step(nil), w.steps...)
	}
	w.cur, w.steps = nil, w.steps[:0]
}

// heading reads a heading of text lines whose first line starts at body
// offset off.
func (w *bodyWalker) heading(level int, lines []byte, off int) {
	p := w.p
	txt := strings.TrimSpace(string(lines))
	line := p.lineAt(w.base + off)
	if w.cur != nil && level <= w.cur.Level {
		w.endStage()
	}
	if level == 1 {
		if p.d.Title == "" {
			p.d.Title = txt
		}
	} else if num, ok := stageNumber(txt); ok {
		w.endStage()
		p.d.Stages = append(p.d.Stages, Stage{Number: num, Title: txt, Level: level, Line: line})
		w.cur = &p.d.Stages[len(p.d.Stages)-1]
	}
}

// fence reads a fenced code block whose info string starts at body offset
// infoOff.
func (w *bodyWalker) fence(info []byte, infoOff int, content []byte) {
	p := w.p
	line := p.lineAt(w.base + infoOff)
	step, ok := p.step(string(info), line)
	if !ok {
		return
	}
	step.Command = string(content)
	if step.Kind == KindCommand {
		if i := strings.IndexByte(step.Command, '\r'); i >= 0 {
			// The shell would take each CR as part of its line's last
			// word: `rm -rf /tank/old` then removes nothing, and passes.
			p.problem(line+1+strings.Count(step.Command[:i], "\n"), LevelError,
				"step %q: its code has a carriage return (CRLF line endings, from a Windows editor or git's core.autocrlf), which the shell would take as part of the line's last word; save the document with LF line endings (dos2unix, or `*.md text eol=lf` in .gitattributes)", step.Name)
		}
	}
	if w.cur == nil {
		p.problem(line, LevelError, "step %q"+msgOutsideStage+" (put it under a `### Stage N: ...` heading)", step.Name)
		return
	}
	if step.Name != "" {
		if prev, dup := w.names[step.Name]; dup {
			p.problem(line, LevelError, msgDuplicate+"%q (also on line %d)", step.Name, prev)
		} else {
			if w.names == nil {
				w.names = map[string]int{}
			}
			w.names[step.Name] = line
		}
	}
	if step.Artifact != "" {
		// Both steps write artifacts/<loop>/NAME: the later run's file
		// replaces the earlier one's, which only git's history keeps.
		name := step.Artifact
		if prev, dup := w.artifacts[name]; dup {
			p.problem(line, LevelWarning, "step %q: artifact %q is also the artifact of the step on line %d: the later run replaces the earlier run's file (git's history keeps it); give each step its own artifact name", step.Name, step.Artifact, prev)
		} else {
			if w.artifacts == nil {
				w.artifacts = map[string]int{}
			}
			w.artifacts[name] = line
		}
	}
	w.steps = append(w.steps, step)
}

// item reads the first paragraph of a list item, whose first line is
// first and which starts at body offset off: a check box makes it a manual
// step of the current stage.
func (w *bodyWalker) item(first, para []byte, off int) {
	if w.cur == nil || len(first) == 0 || first[0] != '[' {
		return // not a check box (taskListRe starts with `\[`)
	}
	m := taskListRe.FindSubmatchIndex(first)
	if m == nil {
		return
	}
	txt := string(para)[m[1]:]
	checked := first[m[2]] == 'x' || first[m[2]] == 'X'
	line := w.p.lineAt(w.base + off)
	name := strings.Join(strings.Fields(txt), " ")
	// Either still makes the stage wait until it is checked; what it
	// waits for is unclear.
	switch prev, dup := w.manual[name]; {
	case name == "":
		w.p.problem(line, LevelWarning, "a manual step without text: the stage waits until it is checked; write what the operator confirms")
	case dup:
		w.p.problem(line, LevelWarning, "manual step %q is also on line %d: spine plan cannot tell them apart; word each differently", name, prev)
	default:
		if w.manual == nil {
			w.manual = map[string]int{}
		}
		w.manual[name] = line
	}
	w.steps = append(w.steps, Step{Kind: KindManual, Name: name, Checked: checked, Line: line})
}

// addFence records a fenced code block whose opening fence run starts at
// body offset open (see fenceSpan).
func (w *bodyWalker) addFence(open, end int, closed bool) {
	for open < len(w.body) && w.body[open] != '`' && w.body[open] != '~' {
		open++ // the fast scanner gives the line's start
	}
	if open >= len(w.body) {
		return
	}
	c := w.body[open]
	w.fences = append(w.fences, fenceSpan{open: open, end: end, c: c, n: runOf(w.body[open:], c), closed: closed})
}

// lostSteps reports each line written as a step's fence (a fence run, a
// language and attributes with a name) that the parser did not read as
// one, so that it would never run, silently: a line indented into a code
// block, inside an HTML block, a ``` line whose info holds a backtick (not
// a fence at all), or one inside the code block another fence opened (an
// unclosed one, or one whose closing line was taken for an opening one).
// A step written as an example inside a longer fence, or one of the other
// character, is content, and fine.
func (w *bodyWalker) lostSteps() {
	body, fi := w.body, 0
	evBegin, evEnd, err := evidenceSpan(body)
	if err != nil {
		evBegin, evEnd = -1, -1
	}
	var comments [][2]int // HTML comments, found when a line needs them
	for off := 0; off < len(body); {
		end := lineEnd(body, off)
		line := body[off:end]
		off0 := off
		off = end
		if bytes.IndexByte(line, '{') < 0 {
			continue // no attributes: no step
		}
		t := trimContainers(line)
		if len(t) < 3 || (t[0] != '`' && t[0] != '~') {
			continue
		}
		c := t[0]
		n := runOf(t, c)
		if n < 3 || !stepAttrs(t[n:]) {
			continue
		}
		at := off0 + (len(line) - len(t))
		for fi < len(w.fences) && w.fences[fi].end <= off0 {
			fi++
		}
		var in *fenceSpan
		if fi < len(w.fences) && w.fences[fi].open <= at {
			if w.fences[fi].open == at {
				continue // read as a fence: a step, or a finding of its own
			}
			in = &w.fences[fi]
		}
		lineNo := w.p.lineAt(w.base + off0)
		if comments == nil {
			comments = htmlComments(body)
		}
		var why string
		switch {
		case evBegin >= 0 && at > evBegin && at < evEnd:
			why = "it is inside spine's evidence block, which spine rewrites: move it out of the block"
		case inSpans(comments, at):
			// Commented out on purpose, most likely: said, not refused.
			w.p.problem(lineNo, LevelWarning, "this step is commented out (inside an HTML comment): it does not run")
			continue
		case in == nil:
			why = "it is not read as a fence (indented four spaces or more, inside an HTML block, or a ``` line whose text after the fence holds a backtick)"
		case !in.closed:
			why = fmt.Sprintf("it is inside the code block opened on line %d, which is never closed", w.p.lineAt(w.base+in.open))
		case c == in.c && n >= in.n:
			why = fmt.Sprintf("it is inside the code block opened on line %d (a fence line with text after it closes no block: was that block's closing line taken for an opening one?)", w.p.lineAt(w.base+in.open))
		default:
			continue // an example inside a longer fence
		}
		w.p.problem(lineNo, LevelError, msgLostStep+", so it would never run: %s", why)
	}
}

// trimContainers drops what may stand before a fence on its line: blanks,
// block quote and list item markers, and the invisible characters a paste
// brings (no-break spaces, a byte order mark), which Markdown takes for
// text, so that a fence behind them is no fence.
func trimContainers(line []byte) []byte {
	for {
		_, _, _, j := containerPrefix(line)
		line = line[j:]
		trimmed := false
		for _, invisible := range [...]string{"\u00a0", "\ufeff", "\u3000"} {
			if rest, ok := bytes.CutPrefix(line, []byte(invisible)); ok {
				line, trimmed = rest, true
			}
		}
		if !trimmed {
			return line
		}
	}
}

// htmlComments returns the spans of a body's HTML comments, `<!--` to the
// next `-->` (or the end).
func htmlComments(body []byte) [][2]int {
	out := [][2]int{}
	for i := 0; i < len(body); {
		j := bytes.Index(body[i:], []byte("<!--"))
		if j < 0 {
			break
		}
		start := i + j
		k := bytes.Index(body[start+4:], []byte("-->"))
		end := len(body)
		if k >= 0 {
			end = start + 4 + k + 3
		}
		out = append(out, [2]int{start, end})
		i = end
	}
	return out
}

// inSpans reports whether off is inside one of spans.
func inSpans(spans [][2]int, off int) bool {
	for _, s := range spans {
		if off > s[0] && off < s[1] {
			return true
		}
	}
	return false
}

// stepAttrs reports whether the text after a fence run holds attributes
// with a name, as a step's info string does.
func stepAttrs(rest []byte) bool {
	i := bytes.IndexByte(rest, '{')
	return i >= 0 && bytes.Contains(rest[i:], []byte("name="))
}

// runOf counts the leading c bytes of b.
func runOf(b []byte, c byte) int {
	n := 0
	for n < len(b) && b[n] == c {
		n++
	}
	return n
}

// lineStart returns the offset of the start of the line holding off.
func lineStart(b []byte, off int) int {
	if off <= 0 {
		return 0
	}
	return bytes.LastIndexByte(b[:min(off, len(b))], '\n') + 1
}

// lineEnd returns the offset after the line starting at (or holding) off,
// its newline included.
func lineEnd(b []byte, off int) int {
	if i := bytes.IndexByte(b[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(b)
}

// closesFence reports whether the line at off closes a fence of n c's:
// the same character, as many or more, nothing else but blanks (and the
// markers of the block quote or the indentation of the list it is in).
func closesFence(b []byte, off int, c byte, n int) bool {
	if off >= len(b) {
		return false
	}
	t := bytes.TrimLeft(b[off:lineEnd(b, off)], " \t>")
	k := runOf(t, c)
	return k >= n && len(bytes.TrimSpace(t[k:])) == 0
}

// segmentsText concatenates the raw source of a node's line segments.
func segmentsText(lines *text.Segments, src []byte) []byte {
	if lines == nil || lines.Len() == 0 {
		return nil
	}
	if first, last := lines.At(0), lines.At(lines.Len()-1); lines.Len() == 1 || contiguous(lines) {
		if first.Padding == 0 {
			return src[first.Start:last.Stop]
		}
	}
	var b bytes.Buffer
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		b.Write(seg.Value(src))
	}
	return b.Bytes()
}

// contiguous reports whether each segment starts where the previous one
// stops, without padding (a fenced block at the top level).
func contiguous(lines *text.Segments) bool {
	for i := 1; i < lines.Len(); i++ {
		if prev, seg := lines.At(i-1), lines.At(i); seg.Start != prev.Stop || seg.Padding != 0 {
			return false
		}
	}
	return true
}

// segStart returns the byte offset of a block node's first line.
func segStart(n ast.Node, src []byte) int {
	if l := n.Lines(); l != nil && l.Len() > 0 {
		return l.At(0).Start
	}
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if l := c.Lines(); l != nil && l.Len() > 0 {
			return l.At(0).Start
		}
	}
	return 0
}

// binaryAt returns the offset of a NUL byte in the first 8000 bytes (the
// mark of a binary file, as git sees it), or -1.
func binaryAt(src []byte) int {
	return bytes.IndexByte(src[:min(len(src), 8000)], 0)
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// The loop ids of spine's own receipts that belong to no loop document
// (pipeline's governance actions). A loop of either id would take their
// runs for its steps' runs.
const (
	// PacksLoopID is the loop id of verify packs run by hand.
	PacksLoopID = "packs"
	// GapsLoopID is the loop id of gap ledger edits whose gap names no
	// parent loop.
	GapsLoopID = "gaps"
)

// The stages of spine's own receipts (pipeline's governance actions): a
// verify pack run by hand, a gap ledger edit, a loop's closeout. No stage
// heading of a document can name one (a stage title starts "Stage N").
const (
	StageManual   = "manual"
	StageGaps     = "gaps"
	StageCloseout = "closeout"
)

// RunStepKey is the name a receipt of stage and step is a run of among its
// loop's steps: step, or, for a governance action's receipt, "<stage>:
// <step>" (no colon or space), which no step of a document can be (a step
// name has no colon). A loop closed by spine loop close has a receipt of
// step "close"; its own step named close has not run.
func RunStepKey(stage, step string) string {
	switch stage {
	case StageCloseout, StageGaps, StageManual:
		return stage + ":" + step
	}
	return step
}

// ReservedLoopID reports whether id is one of spine's own (in any case:
// artifact folders may be case-insensitive).
func ReservedLoopID(id string) bool {
	return strings.EqualFold(id, PacksLoopID) || strings.EqualFold(id, GapsLoopID)
}

// finish derives the loop id, title id, status and references.
func (p *docParser) finish() {
	d := p.d
	metaID := strings.TrimSpace(d.Meta.String("loop_id"))
	if metaID != "" && !isIDToken(metaID) {
		p.problem(max(1, d.Meta.Line("loop_id")), LevelError, "loop_id %q is not a loop id (no spaces allowed); ignoring it", metaID)
		metaID = ""
	}
	if metaID != "" {
		d.LoopID, d.IDFrom = metaID, "frontmatter"
		if d.MetaSource == SourceInline {
			d.IDFrom = "metadata"
		}
	} else if id := titleID(d.Title); id != "" {
		d.LoopID, d.IDFrom = id, "title"
	} else {
		d.LoopID, d.IDFrom = d.FileID, "filename"
		if d.MetaSource != SourceNone || d.Title != "" {
			p.problem(1, LevelWarning, "no loop_id in frontmatter or title; using the file name %q", d.FileID)
		}
	}
	if d.LoopID == "" {
		p.problem(1, LevelError, "missing loop id")
	} else if !ValidLoopID(d.LoopID) {
		p.problem(max(1, d.Meta.Line("loop_id")), LevelError, "loop id %q has characters outside [A-Za-z0-9._-]", d.LoopID)
	} else if ReservedLoopID(d.LoopID) {
		p.problem(max(1, d.Meta.Line("loop_id")), LevelError, "loop id %q is reserved: spine records the verify packs run by hand (%s) and gap ledger edits (%s) under it; give the loop another id", d.LoopID, PacksLoopID, GapsLoopID)
	}
	p.checkAfter()
	d.RawStatus = d.Meta.String("status")
	if d.RawStatus != "" {
		st, ok := NormalizeStatus(d.RawStatus)
		d.Status = st
		if !ok {
			p.problem(max(1, d.Meta.Line("status")), LevelWarning, "unknown status %q (known: active, open, draft, planned, blocked, deferred, closed)", d.RawStatus)
		}
	}
	d.RunKeys = FindRunKeys(p.src)
	if _, _, err := evidenceSpan(p.src); err != nil {
		// The run would say so at every stage's end ("evidence not
		// updated"); lint says it before.
		begins, ends := evidenceMarkers(p.src)
		p.problem(p.lineAt(append(begins, ends...)[0]), LevelWarning, "%v; spine leaves the evidence block alone until the markers are fixed", err)
	}
	d.Evidence = ParseEvidence(p.src)
	d.GapIDs = FindGapIDs(p.src)
	refs := FindLoopIDs(p.src)
	d.LoopRefs = refs[:0]
	for _, r := range refs {
		if r != d.LoopID {
			d.LoopRefs = append(d.LoopRefs, r)
		}
	}
	if d.Stages == nil {
		d.Stages = []Stage{}
	}
	if p.unlisted > 0 {
		level := LevelWarning
		if p.unlistedErr {
			level = LevelError
		}
		msg := fmt.Sprintf("%d more findings, from this line on, are not listed (a document lists %d)", p.unlisted, maxProblems)
		if p.unlistedHidden {
			msg += msgUnlistedHidden
		}
		d.Problems = append(d.Problems, Problem{Path: d.Path, Line: p.unlistedFrom, Level: level, Message: msg})
	}
	sort.SliceStable(d.Problems, func(i, j int) bool { return d.Problems[i].Line < d.Problems[j].Line })
}

// checkAfter reports the `after` attributes that name a step of this loop
// the step could never follow: itself, a step that comes after it, or no
// step at all. The step would wait for ever. (A step of another loop is
// looked up by lint, which sees every loop.)
func (p *docParser) checkAfter() {
	d := p.d
	order := map[string]int{}
	n := 0
	for si := range d.Stages {
		for _, s := range d.Stages[si].Steps {
			if s.Kind != KindManual && s.Name != "" {
				if _, dup := order[s.Name]; !dup {
					order[s.Name] = n
				}
			}
			n++
		}
	}
	n = 0
	for si := range d.Stages {
		for _, s := range d.Stages[si].Steps {
			at := n
			n++
			if s.After == "" || s.Kind == KindManual {
				continue
			}
			loopID, name := AfterRef(s.After)
			if ReservedLoopID(loopID) {
				// spine's own receipts (a pack run by hand, a gap
				// edit) are no loop's steps' runs.
				p.problem(s.Line, LevelError, "step %q: after=%s names %s, spine's own receipts, which are no step's runs; it would wait for ever (a verify step in a loop runs a pack)", s.Name, s.After, loopID)
				continue
			}
			if loopID != "" && loopID != d.LoopID {
				continue
			}
			switch i, ok := order[name]; {
			case !ok:
				p.problem(s.Line, LevelError, "step %q: after=%s names no step of this loop; it would wait for ever", s.Name, s.After)
			case name == s.Name:
				p.problem(s.Line, LevelError, "step %q: after=%s names the step itself; it would wait for ever", s.Name, s.After)
			case i > at:
				p.problem(s.Line, LevelError, "step %q: after=%s names a step that comes after it (steps run in document order); it would wait for ever", s.Name, s.After)
			}
		}
	}
}

// AfterRef splits an `after` attribute into the loop it names ("" for the
// step's own) and the step: "step", "LOOP-ID/step" or "LOOP-ID:step".
func AfterRef(after string) (loopID, step string) {
	if i := strings.LastIndexAny(after, "/:"); i > 0 {
		return after[:i], after[i+1:]
	}
	return "", after
}

// titleID takes the loop id from a `# Loop Scope: ID` or `# ID` title.
func titleID(title string) string {
	t := strings.TrimSpace(title)
	if i := strings.Index(strings.ToLower(t), "loop scope:"); i == 0 {
		t = strings.TrimSpace(t[len("loop scope:"):])
	}
	t = strings.Trim(t, "`*_ ")
	if isIDToken(t) && strings.ContainsRune(t, '-') && strings.ToUpper(t) == t {
		return t
	}
	return ""
}

func isIDToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n")
}

// ValidLoopID reports whether id is safe to use as a path component and in
// commit messages: [A-Za-z0-9._-], not starting with a dot or dash.
func ValidLoopID(id string) bool {
	return len(id) <= 200 && isStepName(id)
}

// FileID derives a loop id from a file name: the base name without `.md`
// and a further `.scope`-style suffix.
func FileID(p string) string {
	b := path.Base(strings.ReplaceAll(p, "\\", "/"))
	b = strings.TrimSuffix(b, ".md")
	if i := strings.LastIndexByte(b, '.'); i > 0 {
		ext := b[i+1:]
		if ext != "" && strings.Trim(ext, "abcdefghijklmnopqrstuvwxyz") == "" {
			b = b[:i]
		}
	}
	return b
}

// Slug is the folder name used for a loop's artifacts: the loop id,
// lower-cased, restricted to [a-z0-9._-].
func Slug(id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), ".-")
	if s == "" {
		return "loop"
	}
	return s
}
