package loops

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// errBinary is returned by the writers for documents Parse does not read.
var errBinary = errors.New("document is a binary file (NUL byte); refusing to edit it")

// ErrNoFrontmatter is returned when a key is to be set on a document that
// has no frontmatter block. spine does not invent one: the operator's layout
// is theirs.
var ErrNoFrontmatter = errors.New("document has no frontmatter block")

// lineEnding returns the document's line ending: "\r\n" when its first line
// ends that way (or it is one line ending in a CR), else "\n".
func lineEnding(src []byte) string {
	i := bytes.IndexByte(src, '\n')
	if i > 0 && src[i-1] == '\r' || i < 0 && bytes.HasSuffix(src, []byte("\r")) {
		// (A document of one line ending in CR becomes CRLF once its
		// line ending is completed.)
		return "\r\n"
	}
	return "\n"
}

// QuoteYAML renders s as a YAML double-quoted scalar (Go's escapes are
// YAML's). YAML text is Unicode: bytes that are not UTF-8 become U+FFFD.
func QuoteYAML(s string) string {
	return strconv.Quote(strings.ToValidUTF8(s, "\uFFFD"))
}

// fmBlock is the location of a frontmatter block in a document.
type fmBlock struct {
	start int    // offset of the block's first line, after the opening ---
	close int    // offset of the closing --- line
	nl    string // the opening line's line ending
}

// locateFrontmatter finds the frontmatter block the way Parse does: line 1
// (after a byte order mark) is `---`, and the block ends at the next line
// that is `---` once white space around it is trimmed.
func locateFrontmatter(src []byte) (fmBlock, error) {
	start := 0
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	first, _, ok := bytes.Cut(src[start:], []byte("\n"))
	if !ok || string(bytes.TrimRight(first, " \t\r")) != "---" {
		return fmBlock{}, ErrNoFrontmatter
	}
	b := fmBlock{start: start + len(first) + 1, nl: "\n"}
	if bytes.HasSuffix(first, []byte("\r")) {
		b.nl = "\r\n"
	}
	for off := b.start; off < len(src); {
		end := len(src)
		next := len(src)
		if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
			end, next = off+i, off+i+1
		}
		if string(bytes.TrimSpace(src[off:end])) == "---" {
			b.close = off
			return b, nil
		}
		off = next
	}
	return fmBlock{}, errors.New("frontmatter block never closes; refusing to edit it")
}

// isKeyLine reports whether line (without its line ending) sets the
// top-level key.
func isKeyLine(line []byte, key string) bool {
	if len(line) <= len(key) || string(line[:len(key)]) != key || line[len(key)] != ':' {
		return false
	}
	rest := line[len(key)+1:]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r'
}

// SetFrontmatter returns src with the top-level frontmatter key set to the
// already-rendered YAML scalar value (use QuoteYAML for strings that need
// it). An existing single-line `key: value` has only its value replaced
// (the spacing and a trailing comment stay); an absent key is added as the
// block's last line, with the document's line ending. Every other byte is
// kept, and setting a key to the value it already has returns src
// unchanged.
//
// It refuses, with an error and without changing anything: documents
// without frontmatter (ErrNoFrontmatter) or whose block never closes, a key
// written twice, a current value that spans several lines, is a block
// scalar or carries an anchor, and any edit after which the block would no
// longer read back with the new value and every other key as before. On a
// block whose YAML is rejected (read line by line), only the key's own
// line is edited or added, never the others.
func SetFrontmatter(src []byte, key, value string) ([]byte, error) {
	if !isAttrKey(key) { // [A-Za-z_][A-Za-z0-9_.-]*
		return nil, fmt.Errorf("frontmatter key %q: use letters, digits, '_', '.' and '-'", key)
	}
	if strings.ContainsAny(value, "\r\n") {
		return nil, fmt.Errorf("frontmatter %s: value must be a single line", key)
	}
	if strings.IndexFunc(value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("frontmatter %s: value holds control characters (quote it with QuoteYAML)", key)
	}
	if strings.TrimSpace(value) != value {
		return nil, fmt.Errorf("frontmatter %s: value must not start or end with white space", key)
	}
	if commentStart(" "+value) >= 0 {
		return nil, fmt.Errorf("frontmatter %s: value %q holds a YAML comment (quote it with QuoteYAML)", key, value)
	}
	if binaryAt(src) >= 0 {
		return nil, errBinary
	}
	b, err := locateFrontmatter(src)
	if err != nil {
		return nil, err
	}
	oldMeta, oldSource, _ := decodeFrontmatter(src[b.start:b.close], 1)

	// The block's lines, without their \n (a \r stays).
	type span struct{ start, end int }
	var lines []span
	for off := b.start; off < b.close; {
		end := bytes.IndexByte(src[off:b.close], '\n') + off // found: close starts a line
		lines = append(lines, span{off, end})
		off = end + 1
	}
	lastNL := b.nl
	if n := len(lines); n > 0 {
		lastNL = "\n"
		if l := lines[n-1]; l.end > l.start && src[l.end-1] == '\r' {
			lastNL = "\r\n"
		}
	}
	at := -1
	for i, l := range lines {
		if isKeyLine(src[l.start:l.end], key) {
			if at >= 0 {
				return nil, fmt.Errorf("frontmatter %s: key appears twice; refusing to guess which to set", key)
			}
			at = i
		}
	}
	keyStart, keyEnd := -1, -1
	if at >= 0 {
		keyStart, keyEnd = lines[at].start, lines[at].end
		// The lines after the key up to the next key: an indented value
		// or a list item means the current value spans several lines.
	next:
		for _, l := range lines[at+1:] {
			t := string(bytes.TrimSuffix(src[l.start:l.end], []byte("\r")))
			trimmed := strings.TrimSpace(t)
			switch {
			case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			case t[0] == ' ' || t[0] == '\t' || t[0] == '-' && (len(t) == 1 || t[1] == ' ' || t[1] == '\t'):
				return nil, fmt.Errorf("frontmatter %s: current value spans several lines; refusing to rewrite it", key)
			default:
				break next
			}
		}
	}

	var out []byte
	if keyStart >= 0 {
		line := src[keyStart:keyEnd]
		if bytes.HasSuffix(line, []byte("\r")) {
			line = line[:len(line)-1]
		}
		after := len(key) + 1
		valPart := string(line[after:])
		if c := commentStart(valPart); c >= 0 {
			valPart = valPart[:c]
		}
		vs := after + len(valPart) - len(strings.TrimLeft(valPart, " \t"))
		ve := after + len(strings.TrimRight(valPart, " \t"))
		if ve < vs {
			ve = vs
		}
		cur := string(line[vs:ve])
		switch {
		case cur == value:
			return bytes.Clone(src), nil
		case strings.HasPrefix(cur, "|") || strings.HasPrefix(cur, ">"):
			return nil, fmt.Errorf("frontmatter %s: current value is a block scalar; refusing to rewrite it", key)
		case strings.HasPrefix(cur, "&"):
			return nil, fmt.Errorf("frontmatter %s: current value carries an anchor other keys may refer to; refusing to rewrite it", key)
		}
		var nb bytes.Buffer
		nb.Grow(len(src) + len(value) + 1)
		nb.Write(src[:keyStart])
		if cur == "" {
			nb.Write(line[:after])
			if value != "" {
				nb.WriteString(" " + value)
			}
			nb.Write(line[after:])
		} else {
			nb.Write(line[:vs])
			nb.WriteString(value)
			nb.Write(line[ve:])
		}
		nb.Write(src[keyStart+len(line):])
		out = nb.Bytes()
	} else {
		if b.close == b.start {
			lastNL = b.nl
		}
		add := key + ":"
		if value != "" {
			add += " " + value
		}
		out = make([]byte, 0, len(src)+len(add)+2)
		out = append(out, src[:b.close]...)
		out = append(out, add+lastNL...)
		out = append(out, src[b.close:]...)
	}
	if err := checkFrontmatterEdit(out, key, value, oldMeta, oldSource); err != nil {
		return nil, err
	}
	return out, nil
}

// checkFrontmatterEdit verifies that the edited document reads back with
// key set to value and every other key as it was.
func checkFrontmatterEdit(out []byte, key, value string, oldMeta Meta, oldSource MetaSource) error {
	b, err := locateFrontmatter(out)
	if err != nil {
		return fmt.Errorf("frontmatter %s: the edit would break the block: %v", key, err)
	}
	newMeta, newSource, newErr := decodeFrontmatter(out[b.start:b.close], 1)
	if oldSource == SourceFrontmatter && newErr != nil {
		return fmt.Errorf("frontmatter %s: refusing the edit: the block would no longer parse as YAML (%v)", key, newErr)
	}
	line := []byte(key + ": " + value + "\n")
	var want Meta
	if newSource == SourceFrontmatter {
		var werr error
		want, _, werr = decodeFrontmatter(line, 1)
		if werr != nil {
			return fmt.Errorf("frontmatter %s: value %q is not a YAML scalar (%v); quote it with QuoteYAML", key, value, werr)
		}
	} else {
		want = linewiseMeta(line, 1)
	}
	wv, _ := want.Get(key)
	gv, ok := newMeta.Get(key)
	if !ok || !reflect.DeepEqual(gv, wv) {
		return fmt.Errorf("frontmatter %s: refusing the edit: the value would read back as %v, not %v", key, gv, wv)
	}
	if newSource != oldSource {
		return nil // the edit repaired the block
	}
	// Each other key reads as before, occurrence by occurrence: a key
	// written twice (which yaml.v3 reads as two fields) is compared with
	// itself, not its first occurrence with both.
	seen := map[string]int{}
	for _, f := range oldMeta {
		if f.Key == key {
			continue
		}
		n := seen[f.Key]
		seen[f.Key] = n + 1
		if v, ok := nthValue(newMeta, f.Key, n); !ok || !reflect.DeepEqual(v, f.Value) {
			return fmt.Errorf("frontmatter %s: refusing the edit: it would change how key %s reads", key, f.Key)
		}
	}
	return nil
}

// nthValue returns the value of the n-th (from 0) field of m named key.
func nthValue(m Meta, key string, n int) (any, bool) {
	for _, f := range m {
		if f.Key == key {
			if n == 0 {
				return f.Value, true
			}
			n--
		}
	}
	return nil, false
}

// commentStart finds a YAML comment (`#` after white space, outside
// quotes) in the text following a key's colon. A quote opens a quoted
// section only where a scalar starts: at the start of the value, or inside
// a flow collection after `[`, `{`, `,` or `: `. Within a plain scalar a
// quote is an ordinary character, so neither the apostrophe in `it's` nor
// the quote in `0 " # note` opens one.
func commentStart(v string) int {
	inS, inD := false, false
	start := true // a scalar may start here (white space keeps this)
	flow := 0     // depth of [ and { collections
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inD:
			if c == '\\' {
				i++
			} else if c == '"' {
				inD = false
			}
		case inS:
			if c == '\'' {
				inS = false
			}
		case c == '#' && i > 0 && (v[i-1] == ' ' || v[i-1] == '\t'):
			return i
		case c == ' ' || c == '\t':
		case (c == '"' || c == '\'') && start:
			inD, inS = c == '"', c == '\''
			start = false
		case (c == '[' || c == '{') && (start || flow > 0):
			flow++
			start = true
		case (c == ']' || c == '}') && flow > 0:
			flow--
			start = false
		case flow > 0 && (c == ',' || c == ':' && (i+1 == len(v) || v[i+1] == ' ' || v[i+1] == '\t')):
			start = true
		default:
			start = false
		}
	}
	return -1
}

// SetEvidence returns src with the evidence block replaced by block (the
// Markdown between the markers, newline-terminated lines, converted to the
// document's line endings). When the markers are absent the block is
// appended at the end of the document under a new `## Execution Evidence`
// heading. Regenerating with the same block gives the same bytes. It
// refuses markers that appear more than once or only one of them, and a
// block that itself contains a marker.
func SetEvidence(src []byte, block string) ([]byte, error) {
	if binaryAt(src) >= 0 {
		return nil, errBinary
	}
	if strings.IndexByte(block, 0) >= 0 {
		return nil, fmt.Errorf("evidence block holds a NUL byte")
	}
	if strings.Contains(block, EvidenceBegin) || strings.Contains(block, EvidenceEnd) {
		return nil, fmt.Errorf("evidence block must not contain the evidence markers")
	}
	nl := lineEnding(src)
	if block != "" && !strings.HasSuffix(block, "\n") {
		block += "\n"
	}
	// The block takes the document's line endings.
	block = strings.ReplaceAll(block, "\r\n", "\n")
	if nl == "\r\n" {
		block = strings.ReplaceAll(block, "\n", "\r\n")
	}
	if f := openFence([]byte(block)); f != nil {
		// The block leaves a code block open (a note that holds a
		// fence): close it, or the end marker would be that code's text,
		// and the next run would find no end to the block.
		block += string(f) + nl
	}
	b, e, err := evidenceSpan(src)
	if err != nil {
		return nil, err
	}
	if b >= 0 {
		// Replace from the end of the begin marker's line to the start of
		// the end marker's line.
		after := b + len(EvidenceBegin)
		if i := bytes.IndexByte(src[after:], '\n'); i >= 0 && i < e-after {
			after += i + 1
		} else {
			return nil, fmt.Errorf("evidence end marker must be on its own line after the begin marker")
		}
		lineStart := bytes.LastIndexByte(src[:e], '\n') + 1
		if lineStart < after {
			return nil, fmt.Errorf("evidence end marker must be on its own line after the begin marker")
		}
		var out bytes.Buffer
		out.Grow(len(src) + len(block))
		out.Write(src[:after])
		out.WriteString(block)
		out.Write(src[lineStart:])
		return out.Bytes(), nil
	}
	var out bytes.Buffer
	out.Grow(len(src) + len(block) + 100)
	out.Write(src)
	switch {
	case len(src) == 0 || bytes.HasSuffix(src, []byte("\n")):
	case bytes.HasSuffix(src, []byte("\r")):
		out.WriteString("\n") // completes a CRLF
	default:
		out.WriteString(nl)
	}
	if f := openFence(src); f != nil {
		// The document ends inside a code block it never closed: close
		// it, or the block would be that code's text (and appended anew
		// at every run).
		out.Write(f)
		out.WriteString(nl)
	}
	out.WriteString(nl + "## Execution Evidence" + nl)
	out.WriteString(nl + EvidenceBegin + nl)
	out.WriteString(block)
	out.WriteString(EvidenceEnd + nl)
	return out.Bytes(), nil
}
