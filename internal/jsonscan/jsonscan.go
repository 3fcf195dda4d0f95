// Package jsonscan reads JSON of a known shape faster than encoding/json:
// the receipts, manifests and checksum files spine writes and reads by the
// tens of thousands. A Scanner handles plain objects, arrays, strings,
// integers and booleans; on anything else it gives up (Bad), and its
// caller decodes with encoding/json, whose result then stands. Strings
// without escapes share the scanned bytes, which must not change while
// they are in use.
package jsonscan

import (
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Scanner reads JSON from B at I. Bad is set on anything it does not
// handle, and sticks: the caller checks it once, at the end, and leaves
// what it gave up on to encoding/json.
type Scanner struct {
	// B is the JSON, I the offset of the next byte to read.
	B []byte
	I int
	// Bad is set once the scanner met what it does not handle.
	Bad bool
}

// WS skips white space.
func (d *Scanner) WS() {
	for d.I < len(d.B) {
		switch d.B[d.I] {
		case ' ', '\t', '\n', '\r':
			d.I++
		default:
			return
		}
	}
}

// Peek returns the next byte after white space (0 at the end).
func (d *Scanner) Peek() byte {
	d.WS()
	if d.I >= len(d.B) {
		return 0
	}
	return d.B[d.I]
}

// Expect consumes c, the next byte after white space, or sets Bad.
func (d *Scanner) Expect(c byte) bool {
	if d.Peek() != c {
		d.Bad = true
		return false
	}
	d.I++
	return true
}

// ObjectStart consumes the { that opens an object.
func (d *Scanner) ObjectStart() bool { return !d.Bad && d.Expect('{') }

// ObjectFirst reports whether the object just opened has a member.
func (d *Scanner) ObjectFirst() bool {
	if d.Bad {
		return false
	}
	if d.Peek() == '}' {
		d.I++
		return false
	}
	return true
}

// ObjectNext reads the separator after a member: true for another member.
func (d *Scanner) ObjectNext() bool {
	if d.Bad {
		return false
	}
	switch d.Peek() {
	case ',':
		d.I++
		return true
	case '}':
		d.I++
		return false
	}
	d.Bad = true
	return false
}

// Key reads a member's name and its colon; names are plain ASCII.
func (d *Scanner) Key() (string, bool) {
	if d.Peek() != '"' {
		d.Bad = true
		return "", false
	}
	start := d.I + 1
	for j := start; j < len(d.B); j++ {
		c := d.B[j]
		if c == '"' {
			d.I = j + 1
			if !d.Expect(':') {
				return "", false
			}
			return unsafeString(d.B[start:j]), true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	d.Bad = true
	return "", false
}

// Null consumes a null if one comes next.
func (d *Scanner) Null() bool {
	if d.Peek() == 'n' && len(d.B)-d.I >= 4 && string(d.B[d.I:d.I+4]) == "null" {
		d.I += 4
		return true
	}
	return false
}

// Str reads a string value.
func (d *Scanner) Str() string {
	if d.Bad || d.Peek() != '"' {
		d.Bad = true
		return ""
	}
	start := d.I + 1
	ascii := true
	for j := start; j < len(d.B); j++ {
		c := d.B[j]
		switch {
		case c == '"':
			d.I = j + 1
			s := d.B[start:j]
			if !ascii && !utf8.Valid(s) {
				d.Bad = true
				return ""
			}
			return unsafeString(s)
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			d.Bad = true
			return ""
		case c >= 0x80:
			ascii = false
		}
	}
	d.Bad = true
	return ""
}

// escaped reads a string with escapes, from its first byte at start.
func (d *Scanner) escaped(start int) string {
	out := make([]byte, 0, 64)
	j := start
	for j < len(d.B) {
		c := d.B[j]
		switch {
		case c == '"':
			d.I = j + 1
			if !utf8.Valid(out) {
				d.Bad = true
				return ""
			}
			return string(out)
		case c < 0x20:
			d.Bad = true
			return ""
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(d.B) {
			break
		}
		e := d.B[j+1]
		j += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if j+4 > len(d.B) {
				d.Bad = true
				return ""
			}
			v, err := strconv.ParseUint(string(d.B[j:j+4]), 16, 16)
			if err != nil || v >= 0xD800 && v < 0xE000 {
				// Surrogates (pairs or not) are left to encoding/json.
				d.Bad = true
				return ""
			}
			out = utf8.AppendRune(out, rune(v))
			j += 4
		default:
			d.Bad = true
			return ""
		}
	}
	d.Bad = true
	return ""
}

// Int reads a plain integer: -?(0|[1-9][0-9]*), within int64.
func (d *Scanner) Int() int64 {
	if d.Bad {
		return 0
	}
	d.WS()
	start := d.I
	j := d.I
	if j < len(d.B) && d.B[j] == '-' {
		j++
	}
	digits := j
	for j < len(d.B) && d.B[j] >= '0' && d.B[j] <= '9' {
		j++
	}
	if j == digits || (d.B[digits] == '0' && j > digits+1) {
		d.Bad = true
		return 0
	}
	if j < len(d.B) {
		switch d.B[j] {
		case '.', 'e', 'E':
			d.Bad = true
			return 0
		}
	}
	v, err := strconv.ParseInt(unsafeString(d.B[start:j]), 10, 64)
	if err != nil {
		d.Bad = true
		return 0
	}
	d.I = j
	return v
}

// IntN reads a plain integer for an int field.
func (d *Scanner) IntN() int {
	v := d.Int()
	if int64(int(v)) != v {
		d.Bad = true
		return 0
	}
	return int(v)
}

// Bool reads true or false.
func (d *Scanner) Bool() bool {
	if d.Bad {
		return false
	}
	switch d.Peek() {
	case 't':
		if len(d.B)-d.I >= 4 && string(d.B[d.I:d.I+4]) == "true" {
			d.I += 4
			return true
		}
	case 'f':
		if len(d.B)-d.I >= 5 && string(d.B[d.I:d.I+5]) == "false" {
			d.I += 5
			return false
		}
	}
	d.Bad = true
	return false
}

// Array calls elem for each element of an array (or nothing for null,
// reported by isNull).
func (d *Scanner) Array(elem func()) (isNull bool) {
	if d.Bad {
		return false
	}
	if d.Null() {
		return true
	}
	if !d.Expect('[') {
		return false
	}
	if d.Peek() == ']' {
		d.I++
		return false
	}
	for !d.Bad {
		elem()
		switch d.Peek() {
		case ',':
			d.I++
			continue
		case ']':
			d.I++
			return false
		}
		d.Bad = true
	}
	return false
}

// Members reads an object whose members set sets; a key it does not know,
// or the same key twice, gives up.
func (d *Scanner) Members(set func(key string) (uint64, bool)) {
	if !d.ObjectStart() {
		return
	}
	var seen uint64
	for more := d.ObjectFirst(); more; more = d.ObjectNext() {
		key, ok := d.Key()
		if !ok {
			return
		}
		bit, ok := set(key)
		if !ok || seen&bit != 0 {
			d.Bad = true
			return
		}
		seen |= bit
	}
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
