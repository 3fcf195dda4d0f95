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
	"strings"
	"sync/atomic"
	"time"
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
// Layout: the magic line; the records, one per receipt: the stat of its
// receipt.json (size, mtime, ctime as varints, inode and device as
// uvarints), its chain hash and the file's bytes (strings as a uvarint
// length and the bytes); then the index: per record its run folder
// (repository-relative, slash-separated), the offset and length of the
// record (uvarints) and the record's CRC-32C (4 bytes little-endian); and
// last the index's offset (8 bytes little-endian) and the CRC-32C of the
// index and that offset (4 bytes).
//
// A one-shot build maps the file, reads the index into memory and each
// record when it takes it, and drops the pages it read from its resident
// memory now and then (format 2 held no index and a build checked the
// whole file, 65 MB at 58,000 receipts, which then stayed resident beside
// the heap): a file whose index does not check out is ignored whole, a
// record that does not is a miss.
const receiptStateMagic = "spine-site receipts 3\n"

// receiptStateTrailer is the size of the file's trailer: the index offset
// and the index's CRC-32C.
const receiptStateTrailer = 12

// releaseEvery is how many records a one-shot build reads between two
// releases of the mapping's pages (mapfile.Mapping.Release).
const releaseEvery = 2048

// receiptState holds the index of ReceiptStateName and its records.
type receiptState struct {
	// data is the file's content: a mapping (m) in a one-shot build, a
	// copy in memory in a long-lived one (serve), which receipts taken
	// from it share.
	data []byte
	m    *mapfile.Mapping
	// at maps a run folder to its record; a negative offset is a record
	// this builder wrote but does not read (a miss).
	at map[string]stateEntry
	// reads counts the records read from the mapping, for releaseEvery.
	reads atomic.Int64
}

// stateEntry places one record of ReceiptStateName.
type stateEntry struct {
	off, n int
	crc    uint32
}

// readReceiptState reads the index of the receipt records in the folder
// dir; an empty dir (no state folder), a missing, unreadable or corrupt
// file give an empty state. With oneShot set the file is mapped, else
// read into memory.
func readReceiptState(dir string, oneShot bool) *receiptState {
	s := &receiptState{at: map[string]stateEntry{}}
	if dir == "" {
		return s
	}
	f, err := os.Open(filepath.Join(dir, ReceiptStateName))
	if err != nil {
		return s
	}
	var m *mapfile.Mapping
	var data []byte
	if oneShot {
		if m, err = mapfile.Map(f); err == nil {
			data = m.Bytes()
		}
	} else {
		data, err = io.ReadAll(f)
	}
	f.Close()
	if err != nil {
		return s
	}
	if at, ok := readStateIndex(data); ok {
		s.data, s.m, s.at = data, m, at
		return s
	}
	m.Close()
	return s
}

// readStateIndex checks and reads the index of ReceiptStateName's content
// data. Its run folders are copied: a mapping's pages are released.
func readStateIndex(data []byte) (map[string]stateEntry, bool) {
	size := len(data)
	if size < len(receiptStateMagic)+receiptStateTrailer || string(data[:len(receiptStateMagic)]) != receiptStateMagic {
		return nil, false
	}
	ixOff := binary.LittleEndian.Uint64(data[size-receiptStateTrailer:])
	if ixOff < uint64(len(receiptStateMagic)) || ixOff > uint64(size-receiptStateTrailer) {
		return nil, false
	}
	ix := data[ixOff : size-4]
	if crc32.Checksum(ix, crcTable) != binary.LittleEndian.Uint32(data[size-4:]) {
		return nil, false
	}
	at := map[string]stateEntry{}
	d := stateDecoder{varbin.Decoder{S: string(ix[:len(ix)-8]), Corrupt: errState}}
	for d.Off < len(d.S) && d.Err == nil {
		dir := d.Str()
		off, n := d.Uvarint(), d.Uvarint()
		crc := d.Bytes(4)
		if d.Err != nil {
			break
		}
		if off < uint64(len(receiptStateMagic)) || n > ixOff || off > ixOff-n {
			d.Fail()
			break
		}
		at[dir] = stateEntry{off: int(off), n: int(n), crc: binary.LittleEndian.Uint32([]byte(crc))}
	}
	return at, d.Err == nil
}

// close unmaps the file; lookups miss after it, and what was read from a
// mapping must not be used.
func (s *receiptState) close() {
	if s == nil || s.m == nil {
		return
	}
	s.m.Close()
	s.m, s.data, s.at = nil, nil, map[string]stateEntry{}
}

// release drops the pages of the mapping read so far from the process's
// resident memory (see mapfile.Mapping.Release).
func (s *receiptState) release() {
	if s != nil && s.m != nil {
		_ = s.m.Release() // only memory is at stake
	}
}

// record returns the record e, checked; it shares data.
func (s *receiptState) record(e stateEntry) ([]byte, bool) {
	if e.n == 0 || e.off < 0 || e.off+e.n > len(s.data) {
		return nil, false
	}
	b := s.data[e.off : e.off+e.n]
	if crc32.Checksum(b, crcTable) != e.crc {
		return nil, false
	}
	if s.m != nil && s.reads.Add(1)%releaseEvery == 0 {
		s.release()
	}
	return b, true
}

// take fills r (a run folder's record) with the receipt recorded for its
// folder, its chain hash and its receipt.json's stat, if stat (the
// receipt.json's stat now) reports the recorded stat, and reports whether
// it did. In a one-shot build the receipt and hash are copied out of the
// mapping, and the recorded bytes of receipt.json are read again for the
// receipt's page (raw): the mapping's pages do not stay resident. A
// long-lived builder (serve) shares the file's content in memory instead.
func (s *receiptState) take(r *receiptRec, stat func() (fileStat, bool)) bool {
	if s == nil {
		return false
	}
	e, had := s.at[r.Dir]
	if !had || e.off < 0 {
		return false
	}
	cur, isFile := stat()
	if !isFile {
		return false
	}
	st, hash, raw, ok := s.fields(e)
	if !ok || st != cur {
		return false
	}
	rc, shared, err := artifacts.DecodeReceiptShared(raw)
	if err != nil {
		return false
	}
	if s.m != nil {
		if shared {
			rc = artifacts.DetachReceipt(rc)
		}
		hash, raw = strings.Clone(hash), nil
	}
	r.Receipt, r.Hash, r.Raw, r.rawAt, r.rstat, r.fromState = rc, hash, raw, e, cur, true
	return true
}

// raw returns the recorded bytes of a receipt.json whose record is e
// (receiptRec.rawAt), shared with the state: nil if they cannot be read
// again. They are valid until close.
func (s *receiptState) raw(e stateEntry) []byte {
	if s == nil {
		return nil
	}
	_, _, raw, _ := s.fields(e)
	return raw
}

// fields returns the fields of the record e, checked (record): the stat
// of its receipt.json, its chain hash and the file's bytes, all sharing
// data. Keep it in step with encodeRecord.
func (s *receiptState) fields(e stateEntry) (st fileStat, hash string, raw []byte, ok bool) {
	b, ok := s.record(e)
	if !ok {
		return fileStat{}, "", nil, false
	}
	d := stateDecoder{varbin.Decoder{S: unsafe.String(unsafe.SliceData(b), len(b)), Corrupt: errState}}
	st = d.stat()
	hash = d.Str()
	text := d.Str()
	if d.Err != nil || d.Off != len(d.S) {
		return fileStat{}, "", nil, false
	}
	return st, hash, unsafe.Slice(unsafe.StringData(text), len(text)), true
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
// started: they drop it once the page is written, while this runs), or
// nil for a receipt taken from this state without its bytes (they are
// read again). An empty dir (no state folder) records nothing.
func (s *receiptState) save(dir string, recs []*receiptRec, raws [][]byte) error {
	if dir == "" || s.unchanged(recs) {
		return nil
	}
	type indexed struct {
		dir string
		off int
		n   int
		crc uint32
	}
	var index []indexed
	err := writeStateFile(filepath.Join(dir, ReceiptStateName), func(w io.Writer) error {
		off := len(receiptStateMagic)
		if _, err := io.WriteString(w, receiptStateMagic); err != nil {
			return err
		}
		var rec []byte
		for i, r := range recs {
			if r.rstat == (fileStat{}) || r.Receipt == nil {
				continue
			}
			raw := raws[i]
			if raw == nil {
				if raw = s.raw(r.rawAt); raw == nil {
					continue // unreadable now: the next build reads the file
				}
			}
			rec = encodeRecord(rec[:0], r.rstat, r.Hash, raw)
			if _, err := w.Write(rec); err != nil {
				return err
			}
			index = append(index, indexed{r.Dir, off, len(rec), crc32.Checksum(rec, crcTable)})
			off += len(rec)
		}
		ixOff := off
		var ix []byte
		for _, e := range index {
			ix = appendStateString(ix, e.dir)
			ix = binary.AppendUvarint(ix, uint64(e.off))
			ix = binary.AppendUvarint(ix, uint64(e.n))
			ix = binary.LittleEndian.AppendUint32(ix, e.crc)
		}
		ix = binary.LittleEndian.AppendUint64(ix, uint64(ixOff))
		ix = binary.LittleEndian.AppendUint32(ix, crc32.Checksum(ix, crcTable))
		_, err := w.Write(ix)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", ReceiptStateName, err)
	}
	// The records now on disk are the ones this build took; a later
	// build of the same Builder sees none of them as taken from the file,
	// so mark them as such.
	at := make(map[string]stateEntry, len(index))
	for _, e := range index {
		at[e.dir] = stateEntry{off: -1} // in the file, but not read: a miss
	}
	for _, r := range recs {
		if _, ok := at[r.Dir]; ok {
			r.fromState = true
		}
	}
	s.at = at
	return nil
}

// crcTable is the CRC-32C table of ReceiptStateName.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// writeStream writes the file at path through a temporary file renamed
// into place, as writeFileAtomic does, from what fill writes to a
// buffered writer: a file of many megabytes costs a 64 KiB buffer
// instead of a buffer of its size. With keep set, the file is renamed into
// place only if keep, called once fill is done, says so (else removed);
// writeStream reports whether it was.
func writeStream(path string, fill func(w io.Writer) error, keep func() bool) (bool, error) {
	f, err := createFresh(path + ".spine-tmp")
	if err != nil {
		return false, err
	}
	return fillAndRename(f, path, fill, keep)
}

// writeStateFile writes a file of the state folder at path, as
// writeStream does, but through a temporary file of its own (a random
// name): builds in other processes (a server, a build of another output
// folder) may write the same file at the same time, and each renames a
// whole file of its own into place.
//
// Temporary files of path left by a build that crashed are removed once
// staleTemp old (a build in progress writes its own in well under that).
func writeStateFile(path string, fill func(w io.Writer) error) error {
	f, err := fsx.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-", fsx.FileMode)
	if err != nil {
		return err
	}
	if _, err := fillAndRename(f, path, fill, nil); err != nil {
		return err
	}
	removeStaleTemps(path, time.Now().Add(-staleTemp))
	return nil
}

// staleTemp is the age after which a state file's temporary file is taken
// for the leftover of a crashed build.
const staleTemp = time.Hour

// removeStaleTemps removes the temporary files of the state file path
// (writeStateFile's) last modified before cutoff. Failures are ignored: a
// file left behind only takes room.
func removeStaleTemps(path string, cutoff time.Time) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+".tmp-"
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), prefix) || !de.Type().IsRegular() {
			continue
		}
		if fi, err := de.Info(); err == nil && fi.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// fillAndRename writes what fill writes to the new temporary file f
// through a 64 KiB buffer, closes it and renames it to path, unless keep
// (when set) says not to; on any error, or when not kept, it removes f.
// It reports whether f was renamed.
func fillAndRename(f *os.File, path string, fill func(w io.Writer) error, keep func() bool) (bool, error) {
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 64<<10)
	err := fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && keep != nil && !keep() {
		os.Remove(tmp)
		return false, nil
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

func appendStateString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// encodeRecord appends a record's body: the stat of receipt.json, the
// chain hash and the file's bytes. Keep it in step with fields.
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
