// Package termtext makes text from documents and step output safe to
// print on a terminal: control characters, which could move the cursor,
// rewrite the window title or set the clipboard (escape sequences), are
// shown in caret notation rather than sent.
package termtext

import (
	"strings"
	"unicode/utf8"
)

// Safe returns s with every control character but tab and line feed in
// caret notation (ESC as ^[, BEL as ^G, DEL as ^?), C1 controls (which
// some terminals obey as escape sequences) as \u009b-style escapes, and
// invalid UTF-8 as U+FFFD. Text without any is returned as it is.
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
		case r >= 0x80 && r < 0xa0:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
