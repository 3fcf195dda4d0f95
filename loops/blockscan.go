package loops

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark/util"
)

// Kinds of blockEvent.
const (
	evHeading = iota + 1
	evFence
	evItem
)

// blockEvent is one block of a body that Parse reads, as goldmark would
// give it: an ATX heading (level, text in [start, stop)), a fenced code
// block (info string in [start, stop), or start -1 without one; content in
// [cstart, cstop)) or a list item's first paragraph of one line (its text
// in [start, stop)). Offsets are into the body.
type blockEvent struct {
	kind          uint8
	level         int
	start, stop   int
	cstart, cstop int
}

// scanBlocks reads the headings, fenced code blocks and list items of a
// document body line by line, for bodies whose block structure is simple:
// every block starts in column 0 and list items and block quotes hold one
// paragraph each, without lazy continuation lines. It gives up (ok false)
// on anything else (indented lines outside fenced blocks, tabs, CRs, NULs,
// setext headings, nested blocks, HTML blocks other than comments, spine's
// evidence block), and Parse then runs goldmark. Where it answers it finds
// what goldmark's block parser finds: TestScanBlocksMatchesGoldmark and
// FuzzScanBlocks check that.
func scanBlocks(body []byte, evs []blockEvent) ([]blockEvent, bool) {
	if bytes.IndexByte(body, '\r') >= 0 || bytes.IndexByte(body, 0) >= 0 || bytes.Contains(body, []byte(EvidenceBegin)) {
		return evs, false
	}
	const (
		lastNone      = iota
		lastPara      // a top-level paragraph line
		lastItem      // a list item's line
		lastQuote     // a block quote line
		lastQuoteOnly // a block quote line with nothing after '>'
	)
	last := lastNone
	var itemMarker byte // the bullet or ordered delimiter of the last item
	for i := 0; i < len(body); {
		end := len(body)
		if j := bytes.IndexByte(body[i:], '\n'); j >= 0 {
			end = i + j + 1
		}
		line := body[i:end]
		if util.IsBlank(line) {
			last = lastNone
			i = end
			continue
		}
		if bytes.IndexByte(line, '\t') >= 0 {
			return evs, false
		}
		c := line[0]
		if last == lastQuote || last == lastQuoteOnly {
			// Only another quoted line may follow (not a lazy
			// continuation or a block that interrupts the quote).
			if c != '>' {
				return evs, false
			}
		}
		paraOpen := last == lastPara || last == lastItem || last == lastQuote
		plain := false
		switch {
		case c == ' ' || c < 0x20 || c == 0x7f:
			return evs, false
		case c == '#':
			n := 0
			for n < len(line) && line[n] == '#' {
				n++
			}
			if n > 6 || n == len(line) || line[n] != ' ' {
				if n <= 6 && (n == len(line) || line[n] == '\n') {
					return evs, false // an empty heading
				}
				plain = true
				break
			}
			start, stop, ok := atxText(line, n)
			if !ok {
				return evs, false
			}
			evs = append(evs, blockEvent{kind: evHeading, level: n, start: i + start, stop: i + stop})
			last = lastNone
		case c == '`' || c == '~':
			n := 0
			for n < len(line) && line[n] == c {
				n++
			}
			if n < 3 {
				plain = true
				break
			}
			ev := blockEvent{kind: evFence, start: -1, stop: -1}
			if n < len(line)-1 {
				rest := line[n:]
				left, right := util.TrimLeftSpaceLength(rest), util.TrimRightSpaceLength(rest)
				if left < len(rest)-right {
					if c == '`' && bytes.IndexByte(rest[left:len(rest)-right], '`') >= 0 {
						plain = true // not a fence: paragraph text
						break
					}
					ev.start, ev.stop = i+n+left, end-right
				}
			}
			ev.cstart, ev.cstop = end, len(body)
			i = end
			for i < len(body) {
				e := len(body)
				if j := bytes.IndexByte(body[i:], '\n'); j >= 0 {
					e = i + j + 1
				}
				l := body[i:e]
				if w, pos := util.IndentWidth(l, 0); w < 4 {
					k := pos
					for k < len(l) && l[k] == c {
						k++
					}
					if k-pos >= n && util.IsBlank(l[k:]) {
						ev.cstop = i
						i = e
						break
					}
				}
				i = e
			}
			evs = append(evs, ev)
			last = lastNone
			continue
		case c == '>':
			rest := line[1:]
			if len(rest) > 0 && rest[0] == ' ' {
				rest = rest[1:]
			}
			if util.IsBlank(rest) {
				last = lastQuoteOnly
				break
			}
			if last == lastItem || !plainContent(rest) {
				return evs, false
			}
			last = lastQuote
		case c == '<':
			if !bytes.HasPrefix(line, []byte("<!--")) {
				return evs, false
			}
			// An HTML comment block: it ends with the first line holding
			// "-->", the opening one included.
			for !bytes.Contains(line, []byte("-->")) && end < len(body) {
				i = end
				end = len(body)
				if j := bytes.IndexByte(body[i:], '\n'); j >= 0 {
					end = i + j + 1
				}
				line = body[i:end]
			}
			last = lastNone
		case c == '-' || c == '*' || c == '_' || c == '+' || c == '=':
			if paraOpen && onlyBytes(line, "-= \n") {
				return evs, false // a setext underline, or close to one
			}
			if c != '+' && c != '=' && isThematic(line) {
				last = lastNone
				break
			}
			if c == '_' || c == '=' {
				plain = true
				break
			}
			if len(line) == 1 || line[1] == '\n' {
				return evs, false // an empty list item
			}
			if line[1] != ' ' {
				plain = true
				break
			}
			if last == lastItem && itemMarker != c {
				return evs, false
			}
			ev, ok := itemEvent(line, 1, i)
			if !ok {
				return evs, false
			}
			evs = append(evs, ev)
			last, itemMarker = lastItem, c
		case c >= '0' && c <= '9':
			n := 0
			for n < len(line) && line[n] >= '0' && line[n] <= '9' {
				n++
			}
			if n > 9 || n == len(line) || line[n] != '.' && line[n] != ')' {
				plain = true
				break
			}
			if n+1 == len(line) || line[n+1] == '\n' {
				return evs, false // an empty list item
			}
			if line[n+1] != ' ' {
				plain = true
				break
			}
			if paraOpen && (last != lastItem && string(line[:n]) != "1" || last == lastItem && itemMarker != line[n]) {
				return evs, false
			}
			ev, ok := itemEvent(line, n+1, i)
			if !ok {
				return evs, false
			}
			evs = append(evs, ev)
			last, itemMarker = lastItem, line[n]
		default:
			plain = true
		}
		if plain {
			switch last {
			case lastItem, lastQuote, lastQuoteOnly:
				return evs, false // a lazy continuation line
			}
			last = lastPara
		}
		i = end
	}
	return evs, true
}

// atxText returns the text of an ATX heading line whose n '#' marks are
// followed by a space, as goldmark's heading parser takes it: white space
// and a closing sequence of '#' trimmed. ok is false for an empty heading.
func atxText(line []byte, n int) (start, stop int, ok bool) {
	l := util.TrimLeftSpaceLength(line[n:])
	start = min(n+l, len(line)-1)
	stop = len(line)
	stop -= util.TrimRightSpaceLength(line[start:stop])
	if stop <= start {
		return 0, 0, false
	}
	text := line[start:stop]
	k := len(text) - 1
	for ; text[k] == '#' && k > 0; k-- {
	}
	if k == 0 && text[0] == '#' {
		return 0, 0, false
	}
	if k != len(text)-1 && util.IsSpace(text[k]) {
		k -= util.TrimRightSpaceLength(text[:k])
		if k <= 0 {
			return 0, 0, false
		}
		stop = start + k
	}
	return start, stop, true
}

// itemEvent reads a list item line whose marker is m bytes long and
// followed by a space; ok is false unless its content is one paragraph
// line that cannot start another block.
func itemEvent(line []byte, m, off int) (blockEvent, bool) {
	s := m
	for s < len(line) && line[s] == ' ' {
		s++
	}
	if s-m > 4 || s == len(line) || line[s] == '\n' || !plainContent(line[s:]) {
		return blockEvent{}, false
	}
	stop := len(line) - util.TrimRightSpaceLength(line)
	return blockEvent{kind: evItem, start: off + s, stop: off + stop}, true
}

// plainContent reports whether s (the rest of a line inside a list item or
// block quote, not blank and not starting with white space) can only be
// paragraph text: it starts no heading, fence, list, quote, thematic
// break, HTML block or link reference definition.
func plainContent(s []byte) bool {
	c := s[0]
	switch {
	case c < 0x20 || c == 0x7f:
		return false
	case c == '#' || c == '>' || c == '<' || c == '-' || c == '+' || c == '_' || c == '=' || c == ' ':
		return false
	case c == '`' || c == '~':
		return !bytes.HasPrefix(s, []byte{c, c, c})
	case c == '*':
		return len(s) > 1 && s[1] != ' ' && s[1] != '\n' && !isThematic(s)
	case c == '[':
		return !bytes.Contains(s, []byte("]:"))
	case c >= '0' && c <= '9':
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		return n == len(s) || s[n] != '.' && s[n] != ')'
	}
	return true
}

// isThematic reports whether line is a thematic break (goldmark's rule,
// for a line without indentation).
func isThematic(line []byte) bool {
	mark, count := byte(0), 0
	for _, c := range line {
		if util.IsSpace(c) {
			continue
		}
		if mark == 0 {
			if c != '*' && c != '-' && c != '_' {
				return false
			}
			mark = c
		} else if c != mark {
			return false
		}
		count++
	}
	return count > 2
}

// onlyBytes reports whether every byte of line is one of set.
func onlyBytes(line []byte, set string) bool {
	for _, c := range line {
		if strings.IndexByte(set, c) < 0 {
			return false
		}
	}
	return true
}
