package artifacts

import (
	"bytes"
	"strconv"
)

// EscapeSeq parses the terminal escape sequence at s[i] (ESC) and returns
// the index after it, and for a CSI sequence (ESC [) its parameters and
// final byte. An OSC sequence (ESC ]) runs to BEL or ESC \; any other is
// two bytes. The evidence site renders output with it (colours from SGR,
// the rest dropped), and VisibleText drops what the site drops.
func EscapeSeq(s string, i int) (end int, params string, final byte) {
	if i+1 >= len(s) {
		return len(s), "", 0
	}
	switch c := s[i+1]; {
	case c == '[':
		j := i + 2
		for j < len(s) && (s[j] >= 0x30 && s[j] <= 0x3f || s[j] >= 0x20 && s[j] <= 0x2f) {
			j++
		}
		if j >= len(s) {
			return len(s), "", 0
		}
		if s[j] < 0x40 || s[j] > 0x7e {
			// No final byte: the sequence ends here, and the byte (a
			// control, the start of a UTF-8 character) is the text's.
			return j, "", 0
		}
		return j + 1, s[i+2 : j], s[j]
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		// OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
		for j := i + 2; j < len(s); j++ {
			if s[j] == 0x07 {
				return j + 1, "", 0
			}
			if s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\' {
				return j + 2, "", 0
			}
		}
		return len(s), "", 0
	case c >= 0x20 && c <= 0x2f:
		// nF: intermediates, then a final byte (ESC ( B selects a
		// character set, as tput sgr0 prints).
		j := i + 2
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < len(s) && s[j] >= 0x30 && s[j] <= 0x7e {
			j++
		}
		return j, "", 0
	}
	return i + 2, "", 0
}

// IsHiddenControl reports whether c is a control byte a reader of the
// output does not see: every C0 control but tab, and DEL.
func IsHiddenControl(c byte) bool { return c < 0x20 && c != '\t' || c == 0x7f }

// hasHidden reports whether line holds a byte VisibleText would drop or a
// carriage return.
func hasHidden(line []byte) bool {
	for _, c := range line {
		if IsHiddenControl(c) {
			return true
		}
	}
	return false
}

// VisibleText returns the text of one output line (without its '\n') as
// the evidence site shows it: from after its last carriage return (a
// trailing one ignored), without escape sequences and hidden control
// bytes (IsHiddenControl). A secret printed in pieces with such bytes
// between them (grep --color, a NUL) is whole in it.
func VisibleText(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if i := bytes.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	out := make([]byte, 0, len(line))
	s := string(line)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b:
			i, _, _ = EscapeSeq(s, i)
		case IsHiddenControl(c):
			i++
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// TerminalText returns the text of one output line (without its '\n') as
// a terminal leaves it on the screen: each byte written at the cursor,
// which a carriage return takes back to the line's start, a backspace
// or CSI n D back n columns, CSI n C forward, CSI n G to column n; other
// escape sequences and hidden control bytes write nothing. (Bytes are
// columns: enough to find a secret an overwrite joins.)
func TerminalText(line []byte) []byte {
	var out []byte
	col := 0
	s := string(line)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\r':
			col, i = 0, i+1
		case c == '\b':
			col, i = max(0, col-1), i+1
		case c == 0x1b:
			end, params, final := EscapeSeq(s, i)
			n := 1
			if v, err := strconv.Atoi(params); err == nil && v > 0 {
				n = v
			}
			switch final {
			case 'D':
				col = max(0, col-n)
			case 'C':
				col += n
			case 'G':
				col = n - 1
			}
			i = end
		case IsHiddenControl(c):
			i++
		default:
			for len(out) < col {
				out = append(out, ' ')
			}
			if col < len(out) {
				out[col] = c
			} else {
				out = append(out, c)
			}
			col, i = col+1, i+1
		}
		if col > 1<<16 {
			col = 1 << 16 // a cursor sent far away writes nothing we keep
		}
	}
	return out
}
