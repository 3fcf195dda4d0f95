package site

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/mapfile"
	"github.com/spinehq/spine/internal/varbin"
)

// ReceiptStateName is the file in the state folder (Options.StateDir,
// under StateSubdir) that records every receipt a build read, with the
// file-system identity (fileStat) of its receipt.json, so that a later
// build in another process takes an unchanged receipt from one stat
// instead of reading it: the record holds the file's bytes (shown on the
// receipt's page) and its chain hash, and the receipt is decoded from
// those bytes. A receipt.json whose stat differs from the recorded one is
// read again; one changed within the racy window of the build that read it
// is not recorded (as for SumsName). The record describes the inputs, not
// the site, so it is kept out of the output folder, and any number of
// output folders share it.
const ReceiptStateName = "receipts.bin"

// receiptStateMagic names the format of ReceiptStateName: a file with
// another first line is ignored.
//
// Layout: the magic line, then one record per receipt: its run folder
// (repository-relative, slash-separated), the length of the rest of the
// record, the stat of its receipt.json (size, mtime, ctime as varints,
// inode and device as uvarints), its chain hash and the file's bytes
// (strings as a uvarint length and the bytes); and last the CRC-32C of
// everything before it, 4 bytes little-endian. A file that does not check
// out is ignored whole.
const receiptStateMagic = "spine-site receipts 2\n"

// receiptState holds the records of ReceiptStateName by run folder.
type receiptState struct {
	// data is the file's content (a read-only mapping in a one-shot
	// build); the receipts' bytes and their decoded strings share it.
	data string
	// at maps a run folder to the offset of its record's stat.
	at map[string]int
}

// readReceiptState reads the receipt records in the folder dir; an empty
// dir (no state folder), a missing, unreadable or corrupt file give an
// empty state. With mapped set the file is mapped rather than read (see
// mapfile.ReadString).
func readReceiptState(dir string, mapped bool) *receiptState {
	s := &receiptState{at: map[string]int{}}
	if dir == "" {
		return s
	}
	data, err := mapfile.ReadString(filepath.Join(dir, ReceiptStateName), mapped)
	if err != nil || len(data) < len(receiptStateMagic)+4 || data[:len(receiptStateMagic)] != receiptStateMagic {
		return s
	}
	body := data[:len(data)-4]
	if crc32.Checksum(unsafe.Slice(unsafe.StringData(body), len(body)), crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32([]byte(data[len(body):])) {
		return s
	}
	at := map[string]int{}
	d := stateDecoder{varbin.Decoder{S: body, Off: len(receiptStateMagic), Corrupt: errState}}
	for d.Off < len(d.S) && d.Err == nil {
		dir := d.Str()
		body := d.Str()
		at[dir] = d.Off - len(body)
	}
	if d.Err != nil {
		return s
	}
	s.data, s.at = data, at
	return s
}

// lookup returns the receipt recorded for run folder dir, decoded from
// the recorded bytes of its receipt.json, with its chain hash and those
// bytes, if stat (the receipt.json's stat, statReceipt) reports the
// recorded stat. The bytes share the state's data and must not be
// written.
func (s *receiptState) lookup(dir string, stat func() (fileStat, bool)) (rc *artifacts.Receipt, hash string, raw []byte, st fileStat, ok bool) {
	if s == nil {
		return nil, "", nil, fileStat{}, false
	}
	off, had := s.at[dir]
	if !had || off < 0 {
		return nil, "", nil, fileStat{}, false
	}
	cur, isFile := stat()
	if !isFile {
		return nil, "", nil, fileStat{}, false
	}
	d := stateDecoder{varbin.Decoder{S: s.data[:len(s.data)-4], Off: off, Corrupt: errState}}
	if d.stat() != cur {
		return nil, "", nil, fileStat{}, false
	}
	hash = d.Str()
	text := d.Str()
	if d.Err != nil {
		return nil, "", nil, fileStat{}, false
	}
	raw = unsafe.Slice(unsafe.StringData(text), len(text))
	rc, ok = decodeReceiptFast(raw)
	if !ok {
		var err error
		if rc, err = artifacts.DecodeReceipt(raw); err != nil {
			return nil, "", nil, fileStat{}, false
		}
	}
	return rc, hash, raw, cur, true
}

// unchanged reports whether the file holds exactly the records of recs:
// every receipt taken from it, and no other record.
func (s *receiptState) unchanged(recs []*receiptRec) bool {
	n := 0
	for _, r := range recs {
		if r.rstat == (fileStat{}) {
			continue
		}
		if !r.fromState {
			return false
		}
		n++
	}
	return n == len(s.at)
}

// save writes the records of recs whose receipt.json stat was recorded
// (rstat) to the folder dir, unless the file already holds them; raws[i]
// is the receipt.json content of recs[i] (Raw, taken before the page jobs
// started: they drop it once the page is written, while this runs). An
// empty dir (no state folder) records nothing.
func (s *receiptState) save(dir string, recs []*receiptRec, raws [][]byte) error {
	if dir == "" || s.unchanged(recs) {
		return nil
	}
	at := map[string]int{}
	err := writeStateFile(filepath.Join(dir, ReceiptStateName), func(w io.Writer) error {
		cw := &crcWriter{w: w, tab: crc32.MakeTable(crc32.Castagnoli)}
		var rec, hdr []byte
		if _, err := io.WriteString(cw, receiptStateMagic); err != nil {
			return err
		}
		for i, r := range recs {
			if r.rstat == (fileStat{}) || r.Receipt == nil {
				continue
			}
			rec = encodeRecord(rec[:0], r.rstat, r.Hash, raws[i])
			hdr = binary.AppendUvarint(appendStateString(hdr[:0], r.Dir), uint64(len(rec)))
			cw.Write(hdr)
			if _, err := cw.Write(rec); err != nil {
				return err
			}
			at[r.Dir] = -1 // in the file, but not in data: a miss
		}
		_, err := w.Write(binary.LittleEndian.AppendUint32(nil, cw.crc))
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", ReceiptStateName, err)
	}
	// The records now on disk are the ones this build took; a later
	// build of the same Builder sees none of them as taken from the file,
	// so mark them as such.
	for _, r := range recs {
		if r.rstat != (fileStat{}) && r.Receipt != nil {
			r.fromState = true
		}
	}
	s.at = at
	return nil
}

// crcWriter writes to w and keeps the CRC-32C of what it wrote.
type crcWriter struct {
	w   io.Writer
	tab *crc32.Table
	crc uint32
}

func (w *crcWriter) Write(p []byte) (int, error) {
	w.crc = crc32.Update(w.crc, w.tab, p)
	return w.w.Write(p)
}

// writeStream writes the file at path through a temporary file renamed
// into place, as writeFileAtomic does, from what fill writes to a
// buffered writer: a file of many megabytes costs a 64 KiB buffer
// instead of a buffer of its size.
func writeStream(path string, fill func(w io.Writer) error) error {
	f, err := os.OpenFile(path+".spine-tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return fillAndRename(f, path, fill)
}

// writeStateFile writes a file of the state folder at path, as
// writeStream does, but through a temporary file of its own (a random
// name): builds in other processes (a server, a build of another output
// folder) may write the same file at the same time, and each renames a
// whole file of its own into place.
func writeStateFile(path string, fill func(w io.Writer) error) error {
	f, err := fsx.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	return fillAndRename(f, path, fill)
}

// fillAndRename writes what fill writes to the new temporary file f
// through a 64 KiB buffer, closes it and renames it to path; on any error
// it removes f.
func fillAndRename(f *os.File, path string, fill func(w io.Writer) error) error {
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 64<<10)
	err := fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func appendStateString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// encodeRecord appends a record's body: the stat of receipt.json, the
// chain hash and the file's bytes. Keep it in step with lookup.
func encodeRecord(b []byte, st fileStat, hash string, raw []byte) []byte {
	b = binary.AppendVarint(b, st.Size)
	b = binary.AppendVarint(b, st.Mtime)
	b = binary.AppendVarint(b, st.Ctime)
	b = binary.AppendUvarint(b, st.Ino)
	b = binary.AppendUvarint(b, st.Dev)
	b = appendStateString(b, hash)
	return append(binary.AppendUvarint(b, uint64(len(raw))), raw...)
}

var errState = errors.New("receipt state is corrupt")

// stateDecoder reads the fields of ReceiptStateName; the first error
// sticks. Strings share the data.
type stateDecoder struct{ varbin.Decoder }

func (d *stateDecoder) stat() fileStat {
	return fileStat{Size: d.Varint(), Mtime: d.Varint(), Ctime: d.Varint(), Ino: d.Uvarint(), Dev: d.Uvarint()}
}
