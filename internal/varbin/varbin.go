// Package varbin reads the records of spine's own binary state files (the
// receipt index of planning, the site's receipt state, the document
// cache): bytes, varints and length-prefixed strings, as encoding/binary's
// Append(U)varint write them, from a string (often a mapping of the file)
// without copying.
package varbin

// Decoder reads from S at Off. The first error sticks: after it every read
// returns the zero value, and Err is Corrupt.
type Decoder struct {
	S       string // the encoded data; strings read share it
	Off     int    // where the next read starts
	Err     error  // nil, or Corrupt after a failed read
	Corrupt error  // the error a read past the end or a malformed value sets
}

// Fail records that the data is malformed.
func (d *Decoder) Fail() {
	if d.Err == nil {
		d.Err = d.Corrupt
	}
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.Err != nil || d.Off >= len(d.S) {
		d.Fail()
		return 0
	}
	c := d.S[d.Off]
	d.Off++
	return c
}

// Uvarint reads an unsigned varint of at most ten bytes.
func (d *Decoder) Uvarint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c := d.Byte()
		if d.Err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	d.Fail()
	return 0
}

// Varint reads a zig-zag encoded signed varint.
func (d *Decoder) Varint() int64 {
	u := d.Uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// Bytes reads the next n bytes, shared with S.
func (d *Decoder) Bytes(n int) string {
	if d.Err != nil || n < 0 || n > len(d.S)-d.Off {
		d.Fail()
		return ""
	}
	s := d.S[d.Off : d.Off+n]
	d.Off += n
	return s
}

// Str reads a string written as its length (a uvarint) and its bytes.
func (d *Decoder) Str() string {
	n := d.Uvarint()
	if d.Err != nil || n > uint64(len(d.S)-d.Off) {
		d.Fail()
		return ""
	}
	s := d.S[d.Off : d.Off+int(n)]
	d.Off += int(n)
	return s
}
