package loops

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoFrontmatter is returned when a key is to be set on a document that
// has no frontmatter block. spine does not invent one: the operator's layout
// is theirs.
var ErrNoFrontmatter = errors.New("document has no frontmatter block")

// lineEnding returns the document's line ending: "\r\n" when its first line
// ends that way, else "\n".
func lineEnding(src []byte) string {
	if i := bytes.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// QuoteYAML renders s as a YAML double-quoted scalar.
func QuoteYAML(s string) string {
	return strconv.Quote(s)
}

// SetFrontmatter returns src with the top-level frontmatter key set to the
// already-rendered YAML scalar value (use QuoteYAML for strings that need
// it). An existing single-line `key: value` has only its value replaced; an
// absent key is added as the block's last line. Every other byte is kept.
// It refuses a key whose current value spans several lines, and documents
// without frontmatter.
func SetFrontmatter(src []byte, key, value string) ([]byte, error) {
	if strings.ContainsAny(value, "\r\n") {
		return nil, fmt.Errorf("frontmatter %s: value must be a single line", key)
	}
	start := 0
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	nl := lineEnding(src)
	// Locate the block's lines: line 1 is ---, the block ends at the next
	// line that is --- (trailing blanks allowed).
	first, rest, ok := bytes.Cut(src[start:], []byte("\n"))
	if !ok || string(bytes.TrimRight(first, " \t\r")) != "---" {
		return nil, ErrNoFrontmatter
	}
	pos := start + len(first) + 1
	blockStart := pos
	keyLine := -1
	keyEnd := -1
	closeAt := -1
	for off := 0; off < len(rest); {
		lineEnd := bytes.IndexByte(rest[off:], '\n')
		var line []byte
		if lineEnd < 0 {
			line = rest[off:]
			lineEnd = len(rest)
		} else {
			line = rest[off : off+lineEnd]
			lineEnd = off + lineEnd + 1
		}
		trimmed := bytes.TrimRight(line, " \t\r")
		if string(trimmed) == "---" {
			closeAt = blockStart + off
			break
		}
		if keyLine >= 0 && keyEnd < 0 {
			// The line after the key: an indented or list continuation
			// means the value spans several lines.
			if len(trimmed) > 0 && (line[0] == ' ' || line[0] == '\t' || line[0] == '-') {
				return nil, fmt.Errorf("frontmatter %s: current value spans several lines; refusing to rewrite it", key)
			}
			keyEnd = blockStart + off
		}
		if bytes.HasPrefix(line, []byte(key+":")) {
			if keyLine >= 0 {
				return nil, fmt.Errorf("frontmatter %s: key appears twice; refusing to guess which to set", key)
			}
			keyLine = blockStart + off
			v := strings.TrimSpace(string(bytes.TrimRight(line[len(key)+1:], "\r")))
			if v == "|" || v == ">" || strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
				return nil, fmt.Errorf("frontmatter %s: current value is a block scalar; refusing to rewrite it", key)
			}
		}
		off = lineEnd
	}
	if closeAt < 0 {
		return nil, fmt.Errorf("frontmatter block never closes")
	}
	var out bytes.Buffer
	out.Grow(len(src) + len(key) + len(value) + 4)
	if keyLine >= 0 {
		if keyEnd < 0 {
			keyEnd = closeAt
		}
		line := src[keyLine:keyEnd]
		ending := ""
		switch {
		case bytes.HasSuffix(line, []byte("\r\n")):
			ending = "\r\n"
		case bytes.HasSuffix(line, []byte("\n")):
			ending = "\n"
		}
		// Keep a trailing comment on the line.
		comment := ""
		body := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		if i := commentStart(body[len(key)+1:]); i >= 0 {
			comment = " " + strings.TrimSpace(body[len(key)+1+i:])
		}
		out.Write(src[:keyLine])
		out.WriteString(key + ": " + value + comment + ending)
		out.Write(src[keyEnd:])
		return out.Bytes(), nil
	}
	out.Write(src[:closeAt])
	out.WriteString(key + ": " + value + nl)
	out.Write(src[closeAt:])
	return out.Bytes(), nil
}

// commentStart finds a YAML comment (` #` outside quotes) in a value.
func commentStart(v string) int {
	inS, inD := false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\'' && !inD:
			inS = !inS
		case c == '"' && !inS:
			if i == 0 || v[i-1] != '\\' {
				inD = !inD
			}
		case c == '#' && !inS && !inD && i > 0 && (v[i-1] == ' ' || v[i-1] == '\t'):
			return i
		}
	}
	return -1
}

// SetEvidence returns src with the evidence block replaced by block (the
// Markdown between the markers, newline-terminated lines). When the markers
// are absent the block is appended at the end of the document under a new
// `## Execution Evidence` heading. Regenerating with the same block gives
// the same bytes.
func SetEvidence(src []byte, block string) ([]byte, error) {
	nl := lineEnding(src)
	if block != "" && !strings.HasSuffix(block, "\n") {
		block += "\n"
	}
	if nl == "\r\n" {
		block = strings.ReplaceAll(strings.ReplaceAll(block, "\r\n", "\n"), "\n", "\r\n")
	}
	b := bytes.Index(src, []byte(EvidenceBegin))
	e := bytes.Index(src, []byte(EvidenceEnd))
	switch {
	case b >= 0 && e >= 0 && e > b:
		if bytes.Count(src, []byte(EvidenceBegin)) > 1 || bytes.Count(src, []byte(EvidenceEnd)) > 1 {
			return nil, fmt.Errorf("evidence markers appear more than once; refusing to guess which block is spine's")
		}
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
	case b >= 0 || e >= 0:
		return nil, fmt.Errorf("evidence block is missing its %s marker", map[bool]string{true: "end", false: "begin"}[b >= 0])
	}
	var out bytes.Buffer
	out.Grow(len(src) + len(block) + 100)
	out.Write(src)
	if len(src) > 0 && !bytes.HasSuffix(src, []byte("\n")) {
		out.WriteString(nl)
	}
	out.WriteString(nl + "## Execution Evidence" + nl)
	out.WriteString(nl + EvidenceBegin + nl)
	out.WriteString(block)
	out.WriteString(EvidenceEnd + nl)
	return out.Bytes(), nil
}
