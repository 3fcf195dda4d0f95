package gaps

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// text indexes the lines of a YAML file for surgical edits. Lines are
// 1-based, as yaml.v3 reports them.
type text struct {
	data   []byte
	starts []int // starts[i] is the byte offset of line i+1
	nl     string
}

func newText(data []byte) *text {
	t := &text{data: data, starts: []int{0}, nl: "\n"}
	for i, b := range data {
		if b == '\n' && i+1 < len(data) {
			t.starts = append(t.starts, i+1)
		}
	}
	if len(data) == 0 {
		t.starts = nil
	}
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		t.nl = "\r\n"
	}
	return t
}

// lines is the number of lines.
func (t *text) lines() int { return len(t.starts) }

// offset is the byte offset where line n starts; past the end for n beyond
// the last line.
func (t *text) offset(n int) int {
	if n < 1 {
		return 0
	}
	if n > len(t.starts) {
		return len(t.data)
	}
	return t.starts[n-1]
}

// line returns line n without its terminator.
func (t *text) line(n int) []byte {
	if n < 1 || n > len(t.starts) {
		return nil
	}
	b := t.data[t.offset(n):t.offset(n+1)]
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// info reports a line's indentation (leading spaces), whether it is blank
// and whether its first non-space character starts a comment.
func (t *text) info(n int) (indent int, blank, comment bool) {
	b := t.line(n)
	for indent < len(b) && b[indent] == ' ' {
		indent++
	}
	rest := bytes.TrimLeft(b[indent:], " \t\r")
	if len(rest) == 0 {
		return indent, true, false
	}
	return indent, false, rest[0] == '#'
}

// prefix returns the first col characters of line n: the text before a key
// that starts at 1-based column col+1 ("  - " before an item's first key).
func (t *text) prefix(n, col int) string {
	b := t.line(n)
	i := 0
	for k := 0; k < col && i < len(b); k++ {
		_, size := utf8.DecodeRune(b[i:])
		i += size
	}
	return string(b[:i])
}

// valueEnd returns the last line of the value that starts on line start
// (a key's line, or a sequence item's line) in a block collection whose
// entries are indented by c spaces: the last following line, before limit,
// that is indented deeper than c. Blank lines and comments after the value
// are not part of it, except inside block and quoted scalars where a `#`
// line is content.
func (t *text) valueEnd(start, c, limit int, val *yaml.Node) int {
	end := start
	val = resolve(val)
	seqAtKeyIndent := val != nil && val.Kind == yaml.SequenceNode && val.Style&yaml.FlowStyle == 0
	keepComments := val != nil && val.Kind == yaml.ScalarNode &&
		val.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	if limit < 1 || limit > t.lines()+1 {
		limit = t.lines() + 1
	}
	for n := start + 1; n < limit; n++ {
		ind, blank, comment := t.info(n)
		if blank {
			continue
		}
		// YAML lets a block sequence that is a mapping value sit at the
		// key's own indentation ("key:\n- a").
		dash := ind == c && seqAtKeyIndent && isDashLine(t.line(n), c)
		if ind <= c && !dash {
			break
		}
		if comment && !keepComments {
			continue
		}
		end = n
	}
	return end
}

func isDashLine(b []byte, c int) bool {
	if len(b) <= c || b[c] != '-' {
		return false
	}
	return len(b) == c+1 || b[c+1] == ' ' || b[c+1] == '\t'
}

// span is one key/value entry of a block mapping, as lines first..last.
type span struct {
	key, val    *yaml.Node
	first, last int
}

// mappingSpans returns the line spans of a block mapping's own entries
// (merge keys included, so that the mapping's end is right) in order.
func (t *text) mappingSpans(m *yaml.Node) []span {
	c := m.Column - 1
	var out []span
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		limit := t.lines() + 1
		if i+2 < len(m.Content) {
			limit = m.Content[i+2].Line
		}
		out = append(out, span{key: k, val: v, first: k.Line, last: t.valueEnd(k.Line, c, limit, v)})
	}
	return out
}

// edit replaces lines [from, to) with repl (whole lines, terminators
// included); from == to inserts before line from.
type edit struct {
	from, to int
	repl     string
}

// apply returns data with the edits spliced in. Edits must not overlap.
func (t *text) apply(edits []edit) ([]byte, error) {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].from < edits[j].from })
	var out bytes.Buffer
	out.Grow(len(t.data) + 256)
	pos := 0
	for i, e := range edits {
		if i > 0 && e.from < edits[i-1].to {
			return nil, fmt.Errorf("overlapping edits at lines %d and %d", edits[i-1].from, e.from)
		}
		start := t.offset(e.from)
		out.Write(t.data[pos:start])
		if start == len(t.data) && out.Len() > 0 && out.Bytes()[out.Len()-1] != '\n' && e.repl != "" {
			out.WriteString(t.nl) // the file did not end with a newline
		}
		out.WriteString(e.repl)
		pos = t.offset(e.to)
	}
	out.Write(t.data[pos:])
	return out.Bytes(), nil
}

// scalarStyle says how a new value is written.
type scalarStyle int

const (
	// styleQuoted writes single-line text double-quoted and multi-line
	// text as a literal block, like the ledgers spine edits.
	styleQuoted scalarStyle = iota
	// stylePlain writes identifier-like text (open, high, runtime-bug)
	// unquoted, falling back to styleQuoted.
	stylePlain
)

// renderEntry renders `key: value` at the given first-line prefix, with
// continuation lines indented by indent spaces plus two. comment, when not
// empty, is kept after a single-line value.
func renderEntry(prefix string, indent int, key, value string, style scalarStyle, comment, nl string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(key)
	b.WriteString(":")
	if block, ok := literalBlock(value); ok {
		b.WriteString(" ")
		b.WriteString(block[0])
		if comment != "" {
			b.WriteString(" " + comment)
		}
		b.WriteString(nl)
		pad := strings.Repeat(" ", indent+2)
		for _, ln := range block[1:] {
			if ln != "" {
				b.WriteString(pad)
				b.WriteString(ln)
			}
			b.WriteString(nl)
		}
		return b.String()
	}
	b.WriteString(" ")
	if style == stylePlain && safePlain(value) {
		b.WriteString(value)
	} else {
		b.WriteString(doubleQuote(value))
	}
	if comment != "" {
		b.WriteString(" " + comment)
	}
	b.WriteString(nl)
	return b.String()
}

// literalBlock splits multi-line text into a literal block scalar: the
// header (`|` or `|-`) and the content lines. ok is false for text a block
// cannot carry exactly (single lines, leading spaces, extra trailing
// newlines, carriage returns, characters YAML cannot print).
func literalBlock(s string) ([]string, bool) {
	if !strings.Contains(strings.TrimSuffix(s, "\n"), "\n") {
		return nil, false
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, '\r') || strings.HasSuffix(s, "\n\n") {
		return nil, false
	}
	for _, r := range s {
		if r != '\n' && r != '\t' && !printable(r) {
			return nil, false
		}
	}
	header := "|"
	body := s
	if strings.HasSuffix(s, "\n") {
		body = strings.TrimSuffix(s, "\n")
	} else {
		header = "|-"
	}
	lines := strings.Split(body, "\n")
	if lines[0] == "" || lines[0][0] == ' ' || lines[0][0] == '\t' {
		return nil, false
	}
	// A last line of only spaces would read back as a blank line.
	if strings.TrimLeft(lines[len(lines)-1], " \t") == "" {
		return nil, false
	}
	return append([]string{header}, lines...), true
}

// safePlain reports whether s reads back as the same string when written
// unquoted, under YAML 1.1 and 1.2 resolvers alike.
func safePlain(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '/'
		if !ok {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf":
		return false
	}
	return true
}

// doubleQuote writes s as a YAML double-quoted scalar on one line. Invalid
// UTF-8 becomes U+FFFD.
func doubleQuote(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			switch {
			case printable(r):
				b.WriteRune(r)
			case r <= 0xFF:
				fmt.Fprintf(&b, `\x%02X`, r)
			case r <= 0xFFFF:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				fmt.Fprintf(&b, `\U%08X`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// printable reports whether YAML lets r appear unescaped (the c-printable
// production, minus the byte-order mark, tab and line breaks).
func printable(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0x7E:
		return true
	case r == 0x85:
		return false // NEL is a line break in YAML 1.1
	case r == 0x2028 || r == 0x2029:
		return false // line and paragraph separators break lines in YAML 1.1
	case r >= 0xA0 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return r != 0xFEFF
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}
