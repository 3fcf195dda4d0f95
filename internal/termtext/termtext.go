// Package termtext makes text from documents and step output safe to
// print on a terminal: control characters, which could move the cursor,
// rewrite the window title or set the clipboard (escape sequences), are
// shown in caret notation rather than sent; so are the Unicode controls
// that reorder text (a right-to-left override can make "rm -rf /srv/a"
// read as something else on the screen).
package termtext

import (
	"strings"
	"unicode/utf8"
)

// Safe returns s with every control character but tab and line feed in
// caret notation (ESC as ^[, BEL as ^G, DEL as ^?), C1 controls (which
// some terminals obey as escape sequences) and bidirectional controls
// (IsBidiControl) as \u009b-style escapes, and invalid UTF-8 as U+FFFD.
// Text without any is returned as it is.
func Safe(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteRune(utf8.RuneError)
		case r < 0x20 && r != '\t' && r != '\n':
			b.WriteByte('^')
			b.WriteByte(byte(r) + '@')
		case r == 0x7f:
			b.WriteString("^?")
		case r >= 0x80 && r < 0xa0 || IsBidiControl(r):
			const hex = "0123456789abcdef"
			b.WriteString(`\u`)
			b.WriteByte(hex[r>>12&0xf])
			b.WriteByte(hex[r>>8&0xf])
			b.WriteByte(hex[r>>4&0xf])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// IsBidiControl reports whether r is one of the Unicode controls that
// change the order text is shown in: the marks (U+061C, U+200E, U+200F),
// embeddings and overrides (U+202A to U+202E) and isolates (U+2066 to
// U+2069). Shown as they are, they let a reason or a step's name read
// differently from what it says.
func IsBidiControl(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Clip cuts s to at most n bytes at a rune boundary, ending it with an
// ellipsis when it was cut, so that a long text fits one line of a table
// or a reason.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
