package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"

	"github.com/spinehq/spine/internal/varbin"
)

// The receipt index (state folder, receipts.idx) caches what planning
// needs of every receipt, so that `spine plan` and `spine status` do not
// decode 50,000 receipt.json files, nor a 20 MB JSON document, each time.
//
// Layout: the magic line, the 32-byte SHA-256 digest of the receipt folder
// listing the index was written for, a completeness byte (1 when every
// listed folder is in the index), the run count, the runs in history order
// (each string as a uvarint length and its bytes, each integer a varint),
// and a CRC-32C of everything before it. A file that does not decode
// exactly is ignored and rebuilt.
const indexMagic = "spine receipt index 3\n"

// receiptIndex is a decoded index.
type receiptIndex struct {
	digest   [sha256.Size]byte
	complete bool
	runs     []Run
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// listingDigest is the SHA-256 of the receipt folders, in listing order.
func listingDigest(dirs []string) [sha256.Size]byte {
	h := sha256.New()
	for _, d := range dirs {
		h.Write([]byte(d))
		h.Write([]byte{0})
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// Time encodings in the index.
const (
	timeZero = 0 // the zero time
	timeUTC  = 1 // UTC: Unix nanoseconds follow
	timeText = 2 // any other location: RFC 3339 text follows
)

// encodeIndex writes the runs that were read without error, in the order
// given (history order), for the listing whose digest is given. The index
// is complete when no run had an error.
func encodeIndex(runs []Run, digest [sha256.Size]byte) []byte {
	n := 0
	complete := true
	for i := range runs {
		if runs[i].Err != "" {
			complete = false
			continue
		}
		n++
	}
	b := make([]byte, 0, len(indexMagic)+sha256.Size+16+n*400)
	b = append(b, indexMagic...)
	b = append(b, digest[:]...)
	if complete {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i := range runs {
		r := &runs[i]
		if r.Err != "" {
			continue
		}
		for _, s := range [...]string{r.Dir, r.RunKey, r.LoopID, r.Stage, r.Step, r.Status, r.CommandSHA, r.Gate, r.Note, r.Summary, r.Hash, r.Prev} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		b = appendTime(b, r.Started)
		b = appendTime(b, r.Finished)
		b = binary.AppendVarint(b, int64(r.ExitCode))
		if r.AllowFailure {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func appendTime(b []byte, t time.Time) []byte {
	switch {
	case t.IsZero():
		return append(b, timeZero)
	case t.Location() == time.UTC && t.Equal(time.Unix(0, t.UnixNano())):
		return binary.AppendVarint(append(b, timeUTC), t.UnixNano())
	default:
		s := t.Format(time.RFC3339Nano)
		b = binary.AppendUvarint(append(b, timeText), uint64(len(s)))
		return append(b, s...)
	}
}

var errIndex = errors.New("receipt index is corrupt")

// decodeIndex reads an index written by encodeIndex. Its strings share
// one copy of data.
func decodeIndex(data string) (*receiptIndex, error) {
	if len(data) < len(indexMagic)+sha256.Size+1+4 || data[:len(indexMagic)] != indexMagic {
		return nil, errIndex
	}
	body := data[:len(data)-4]
	if crcString(body) != binary.LittleEndian.Uint32([]byte(data[len(data)-4:])) {
		return nil, errIndex
	}
	d := indexDecoder{varbin.Decoder{S: body, Off: len(indexMagic), Corrupt: errIndex}}
	ix := &receiptIndex{}
	copy(ix.digest[:], d.S[d.Off:])
	d.Off += sha256.Size
	ix.complete = d.Byte() == 1
	n := d.Uvarint()
	if d.Err != nil || n > uint64(len(body)) {
		return nil, errIndex
	}
	ix.runs = make([]Run, n)
	for i := range ix.runs {
		r := &ix.runs[i]
		for _, p := range [...]*string{&r.Dir, &r.RunKey, &r.LoopID, &r.Stage, &r.Step, &r.Status, &r.CommandSHA, &r.Gate, &r.Note, &r.Summary, &r.Hash, &r.Prev} {
			*p = d.Str()
		}
		r.Started = d.time()
		r.Finished = d.time()
		r.ExitCode = int(d.Varint())
		r.AllowFailure = d.Byte() == 1
		if d.Err != nil {
			return nil, errIndex
		}
	}
	if d.Off != len(d.S) {
		return nil, errIndex
	}
	return ix, nil
}

// crcString is the CRC-32C of s, computed in chunks so that no copy of
// the whole index is made.
func crcString(s string) uint32 {
	var buf [64 << 10]byte
	var c uint32
	for len(s) > 0 {
		n := copy(buf[:], s)
		c = crc32.Update(c, crcTable, buf[:n])
		s = s[n:]
	}
	return c
}

// indexDecoder reads the fields of an index; the first error sticks.
type indexDecoder struct{ varbin.Decoder }

func (d *indexDecoder) time() time.Time {
	switch d.Byte() {
	case timeZero:
		return time.Time{}
	case timeUTC:
		return time.Unix(0, d.Varint()).UTC()
	case timeText:
		t, err := time.Parse(time.RFC3339Nano, d.Str())
		if err != nil && d.Err == nil {
			d.Fail()
		}
		return t
	}
	d.Fail()
	return time.Time{}
}
