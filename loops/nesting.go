package loops

import (
	"bytes"

	"github.com/yuin/goldmark/util"
)

// MaxNesting is how deep block quotes and lists may nest in a document
// spine reads. Markdown's block parser (goldmark) takes time in the square
// of the depth: a line of 100,000 `>` took it seconds, 400,000 minutes,
// and no loop ran until it was done. Real documents nest a few levels.
const MaxNesting = 100

// Nesting returns the deepest nesting of containers a line of src opens,
// and the 1-based line it is on: the line's block quote and list item
// markers, plus one level for every two columns of indentation before the
// first of them (nested lists indent). List markers with nothing after
// them (a thematic break such as `- - -`) open no list, and a line inside
// a fenced code block opens nothing. It is a bound, not Markdown's
// reading.
func Nesting(src []byte) (depth, line int) {
	ln := 1
	var fenceC byte // the open fence's character, 0 outside one
	fenceN := 0
	for i := 0; i < len(src); {
		end := len(src)
		if k := bytes.IndexByte(src[i:], '\n'); k >= 0 {
			end = i + k
		}
		if c := src[i]; fenceC == 0 && c != ' ' && c != '\t' && c != '>' && c != '-' && c != '*' && c != '+' && (c < '0' || c > '9') && c != '`' && c != '~' {
			// Plain text: no container, no fence.
			i = end + 1
			ln++
			continue
		}
		quotes, lists, cols, j := containerPrefix(src[i:end])
		rest := src[i+j : end]
		if thematic(rest) {
			lists = 0
		}
		d := quotes + lists
		switch c, n := fenceOpen(rest); {
		case fenceC != 0:
			// Inside a fence: only its closing line matters.
			if c == fenceC && n >= fenceN && util.IsBlank(rest[n:]) {
				fenceC = 0
			}
			d = 0
		case n >= 3:
			fenceC, fenceN = c, n
		}
		if d > 0 {
			if d += cols / 2; d > depth {
				depth, line = d, ln
			}
		}
		i = end + 1
		ln++
	}
	return depth, line
}

// containerPrefix reads a line's block quote and list item markers: how
// many of each, the columns of indentation before the first, and the
// offset of what follows them.
func containerPrefix(b []byte) (quotes, lists, cols, j int) {
	for j < len(b) {
		switch c := b[j]; {
		case c == ' ' || c == '\t':
			if quotes+lists == 0 {
				if c == ' ' {
					cols++
				} else {
					cols += 4
				}
			}
			j++
		case c == '>':
			quotes++
			j++
		case (c == '-' || c == '*' || c == '+') && j+1 < len(b) && (b[j+1] == ' ' || b[j+1] == '\t'):
			lists++
			j++
		case c >= '0' && c <= '9':
			k := j
			for k < len(b) && k-j < 9 && b[k] >= '0' && b[k] <= '9' {
				k++
			}
			if k+1 < len(b) && (b[k] == '.' || b[k] == ')') && (b[k+1] == ' ' || b[k+1] == '\t') {
				lists++
				j = k + 1
				continue
			}
			return quotes, lists, cols, j
		default:
			return quotes, lists, cols, j
		}
	}
	return quotes, lists, cols, j
}

// fenceOpen returns the character and length of the run of backticks or
// tildes b starts with (n < 3: none).
func fenceOpen(b []byte) (byte, int) {
	if len(b) == 0 || (b[0] != '`' && b[0] != '~') {
		return 0, 0
	}
	return b[0], runOf(b, b[0])
}

// thematic reports whether what follows a line's list markers leaves them
// a thematic break (`- - -`: nothing, or more of - * _ and blanks), which
// opens no list.
func thematic(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '-' && c != '*' && c != '_' {
			return false
		}
	}
	return true
}
