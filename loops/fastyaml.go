package loops

import (
	"strings"
	"unicode/utf8"
)

// fastFrontmatter reads the common shape of a frontmatter block without a
// YAML parser: only top-level `key: value` lines whose values are simple
// scalars (a plain word or sentence, a whole number, a date or timestamp,
// true/false/null, or a quoted string without escapes), blank lines and
// comment lines. It returns exactly what decoding the block with yaml.v3
// and nodeValue gives, and ok false for anything else (nested values,
// lists, anchors, escapes, numbers in other notations, duplicate keys,
// odd characters...), which is then left to the YAML parser. A
// differential test and fuzz target check the two agree.
//
// yaml.v3 is most of the cost of reading a typical frontmatter block: this
// path makes reading 5,000 documents markedly cheaper.
func fastFrontmatter(block []byte, blockLine int) (Meta, bool) {
	var meta Meta
	s := string(block)
	line := blockLine - 1
	for s != "" {
		var raw string
		raw, s, _ = strings.Cut(s, "\n")
		line++
		raw = strings.TrimSuffix(raw, "\r")
		if raw == "" || raw[0] == '#' {
			if !yamlPrintable(raw) {
				return nil, false
			}
			continue
		}
		if strings.TrimLeft(raw, " ") == "" {
			continue
		}
		colon := strings.IndexByte(raw, ':')
		if colon <= 0 || colon > 1000 || !isAttrKey(raw[:colon]) {
			return nil, false
		}
		key, rest := raw[:colon], raw[colon+1:]
		if rest != "" && rest[0] != ' ' {
			return nil, false
		}
		v, ok := fastScalar(strings.TrimLeft(rest, " "))
		if !ok {
			return nil, false
		}
		if _, dup := meta.Get(key); dup {
			return nil, false
		}
		meta = append(meta, Field{Key: key, Value: v, Line: line})
	}
	if len(meta) == 0 {
		return nil, false
	}
	return meta, true
}

// fastScalar resolves one value (everything after `key: `) the way yaml.v3
// and nodeValue would, or reports ok false.
func fastScalar(v string) (any, bool) {
	if !yamlPrintable(v) {
		return nil, false
	}
	// A quoted string, then optional spaces and a comment.
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		q := v[0]
		end := strings.IndexByte(v[1:], q)
		if end < 0 {
			return nil, false
		}
		inner, after := v[1:1+end], v[2+end:]
		if q == '"' && strings.IndexByte(inner, '\\') >= 0 || q == '\'' && strings.HasPrefix(after, "'") {
			return nil, false // escapes
		}
		if t := strings.TrimLeft(after, " "); t != "" && (t[0] != '#' || t == after) {
			return nil, false
		}
		// A quoted string keeps its spaces, but a line break would fold:
		// there is none on one line.
		return inner, true
	}
	// A plain scalar ends at a comment (# after a space).
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimRight(v, " ")
	if v == "" {
		return nil, true
	}
	if v[0] == '[' {
		return fastFlowList(v)
	}
	if strings.Contains(v, ": ") || strings.HasSuffix(v, ":") || strings.Contains(v, " #") {
		return nil, false
	}
	c := v[0]
	switch {
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		switch v {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		case "null", "Null", "NULL":
			return nil, true
		}
		return v, true
	case c >= '0' && c <= '9':
		if n, ok := fastInt(v); ok {
			return n, true
		}
		if isDateLike(v) {
			return v, true // !!timestamp: nodeValue keeps the text
		}
	}
	return nil, false
}

// fastFlowList reads a one-line flow sequence of simple words, as
// `approvals: [ALLOW_X, ALLOW_Y]` is written: each item a name of letters,
// digits, '_', '.' and '-' starting with a letter or digit, resolved as a
// plain scalar is.
func fastFlowList(v string) (any, bool) {
	if !strings.HasSuffix(v, "]") {
		return nil, false
	}
	inner := strings.TrimSpace(v[1 : len(v)-1])
	out := []any{}
	if inner == "" {
		return out, true
	}
	for _, item := range strings.Split(inner, ",") {
		item = strings.Trim(item, " ")
		if !isStepName(item) {
			return nil, false
		}
		x, ok := fastScalar(item)
		if !ok {
			return nil, false
		}
		out = append(out, x)
	}
	return out, true
}

// fastInt reads a decimal whole number without a sign, leading zero or
// separators, small enough that no notation question arises.
func fastInt(v string) (int64, bool) {
	if len(v) > 18 || v[0] == '0' && len(v) > 1 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, true
}

// isDateLike matches YYYY-MM-DD, optionally followed by THH:MM:SS,
// optional fractional seconds, and Z: YAML resolves these to timestamps
// when they are valid and to strings when not, and nodeValue keeps the
// text either way.
func isDateLike(v string) bool {
	const date = "dddd-dd-dd"
	if len(v) < len(date) {
		return false
	}
	for i := 0; i < len(date); i++ {
		if date[i] == 'd' && (v[i] < '0' || v[i] > '9') || date[i] == '-' && v[i] != '-' {
			return false
		}
	}
	rest := v[len(date):]
	if rest == "" {
		return true
	}
	const clock = "Tdd:dd:dd"
	if len(rest) < len(clock)+1 || rest[len(rest)-1] != 'Z' {
		return false
	}
	for i := 0; i < len(clock); i++ {
		if clock[i] == 'd' && (rest[i] < '0' || rest[i] > '9') || clock[i] != 'd' && rest[i] != clock[i] {
			return false
		}
	}
	frac := rest[len(clock) : len(rest)-1]
	if frac == "" {
		return true
	}
	if frac[0] != '.' || len(frac) == 1 {
		return false
	}
	for i := 1; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return false
		}
	}
	return true
}

// yamlPrintable reports whether s holds only characters YAML accepts in a
// scalar on one line: printable ASCII and printable Unicode, no tabs, no
// control characters, no byte order mark and none of the characters YAML
// reads as line breaks (U+0085, U+2028, U+2029).
func yamlPrintable(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return false
		case r < 0xA0, r >= 0xD800 && r < 0xE000, r == 0xFEFF, r > 0xFFFD && r < 0x10000, r == 0x2028, r == 0x2029:
			return false
		}
		i += size
	}
	return true
}
