package varbin

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var errBad = errors.New("bad")

func TestDecoder(t *testing.T) {
	var b []byte
	b = append(b, 7)
	b = binary.AppendUvarint(b, math.MaxUint64)
	b = binary.AppendVarint(b, math.MinInt64)
	b = binary.AppendVarint(b, -1)
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	b = binary.AppendUvarint(b, 0)
	b = append(b, "fixed"...)
	d := Decoder{S: string(b), Corrupt: errBad}
	got := []any{d.Byte(), d.Uvarint(), d.Varint(), d.Varint(), d.Str(), d.Str(), d.Bytes(5)}
	want := []any{byte(7), uint64(math.MaxUint64), int64(math.MinInt64), int64(-1), "abc", "", "fixed"}
	if diff := cmp.Diff(want, got); diff != "" || d.Err != nil || d.Off != len(b) {
		t.Fatalf("decoded (-want +got):\n%s err %v off %d of %d", diff, d.Err, d.Off, len(b))
	}
}

func TestDecoderErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		read func(d *Decoder)
	}{
		{"byte past the end", "", func(d *Decoder) { d.Byte() }},
		{"varint cut short", "\x80", func(d *Decoder) { d.Uvarint() }},
		{"varint over ten bytes", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", func(d *Decoder) { d.Uvarint() }},
		{"string longer than the data", "\x05ab", func(d *Decoder) { d.Str() }},
		{"bytes past the end", "ab", func(d *Decoder) { d.Bytes(3) }},
		{"a read after an error", "", func(d *Decoder) { d.Byte(); d.S = "x"; d.Off = 0; d.Byte() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decoder{S: tc.data, Corrupt: errBad}
			tc.read(&d)
			if d.Err != errBad {
				t.Fatalf("Err = %v, want %v", d.Err, errBad)
			}
			if v := d.Uvarint(); v != 0 {
				t.Fatalf("a read after the error returned %d", v)
			}
		})
	}
}
