package render

import (
	"bytes"
	"strings"
)

// BidiMarker returns the visible stand-in of the bidirectional control
// character s starts with (the embeddings, overrides and isolates,
// U+202A-U+202E and U+2066-U+2069: "⟨U+202E⟩"), or "" when s starts with
// none. Such a character makes code or output read otherwise than it runs
// ("Trojan Source"): evidence shows it rather than obeys it.
func BidiMarker(s string) string {
	if len(s) < 3 || s[0] != 0xE2 {
		return ""
	}
	switch {
	case s[1] == 0x80 && s[2] >= 0xAA && s[2] <= 0xAE:
		return "⟨U+202" + string("ABCDE"[s[2]-0xAA]) + "⟩"
	case s[1] == 0x81 && s[2] >= 0xA6 && s[2] <= 0xA9:
		return "⟨U+206" + string("6789"[s[2]-0xA6]) + "⟩"
	}
	return ""
}

// VisibleBidi returns s with each bidirectional control character in it
// replaced by its BidiMarker.
func VisibleBidi(s string) string {
	i := strings.IndexByte(s, 0xE2)
	if i < 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for ; i < len(s); i++ {
		if s[i] != 0xE2 {
			continue
		}
		if m := BidiMarker(s[i:]); m != "" {
			b.WriteString(s[last:i])
			b.WriteString(m)
			i += 2
			last = i + 1
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// HasBidi reports whether b holds a bidirectional control character (see
// BidiMarker).
func HasBidi(b []byte) bool {
	for {
		i := bytes.IndexByte(b, 0xE2)
		if i < 0 {
			return false
		}
		if BidiMarker(string(b[i:min(i+3, len(b))])) != "" {
			return true
		}
		b = b[i+1:]
	}
}
