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
	"github.com/spinehq/spine/internal/mapfile"
	"github.com/spinehq/spine/internal/varbin"
)

// ReceiptStateName is the file in the output folder that records every
// receipt a build decoded, with the file-system identity (fileStat) of its
// receipt.json, so that a later build in another process takes an
// unchanged receipt from one lstat instead of reading and decoding it. A
// receipt.json whose stat differs from the recorded one is read again; one
// changed within the racy window of the build that read it is not
// recorded (as for SumsName).
const ReceiptStateName = ".spine-receipts"

// receiptStateMagic names the format of ReceiptStateName: a file with
// another first line is ignored.
//
// Layout: the magic line, then one record per receipt: its run folder
// (repository-relative, slash-separated), the length of the rest of the
// record, the stat of its receipt.json,
// its chain hash and every field of the decoded artifacts.Receipt, in
// the order of encodeReceipt (strings as a uvarint length and the bytes,
// integers as varints, booleans as one byte, a slice as its length plus
// one, zero for nil, a pointer as 0 for nil or 1 and its fields); and
// last the CRC-32C of everything before it, 4 bytes little-endian. A file
// that does not check out is ignored whole.
const receiptStateMagic = "spine-site receipts 1\n"

// receiptState holds the records of ReceiptStateName by run folder.
type receiptState struct {
	// data is the file's content (a read-only mapping in a one-shot
	// build); the decoded receipts' strings share it.
	data string
	// at maps a run folder to the offset of its record's stat.
	at map[string]int
}

// readReceiptState reads the receipt records of the output folder out; a
// missing, unreadable or corrupt file gives an empty state. With mapped
// set the file is mapped rather than read (see mapfile.ReadString).
func readReceiptState(out string, mapped bool) *receiptState {
	s := &receiptState{at: map[string]int{}}
	data, err := mapfile.ReadString(filepath.Join(out, ReceiptStateName), mapped)
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

// lookup returns the receipt recorded for run folder dir with its chain
// hash, if its receipt.json at path has the recorded stat. It also tells
// whether a record existed.
func (s *receiptState) lookup(dir, path string) (rc *artifacts.Receipt, hash string, st fileStat, ok bool) {
	if s == nil {
		return nil, "", fileStat{}, false
	}
	off, had := s.at[dir]
	if !had || off < 0 {
		return nil, "", fileStat{}, false
	}
	cur, isFile := lstatFile(path)
	if !isFile {
		return nil, "", fileStat{}, false
	}
	d := stateDecoder{varbin.Decoder{S: s.data[:len(s.data)-4], Off: off, Corrupt: errState}}
	if d.stat() != cur {
		return nil, "", fileStat{}, false
	}
	hash = d.Str()
	rc = d.receipt()
	if d.Err != nil {
		return nil, "", fileStat{}, false
	}
	return rc, hash, cur, true
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
// (rstat) to the output folder out, unless the file already holds them.
func (s *receiptState) save(out string, recs []*receiptRec) error {
	if s.unchanged(recs) {
		return nil
	}
	at := map[string]int{}
	err := writeStream(filepath.Join(out, ReceiptStateName), func(w io.Writer) error {
		cw := &crcWriter{w: w, tab: crc32.MakeTable(crc32.Castagnoli)}
		var rec, hdr []byte
		if _, err := io.WriteString(cw, receiptStateMagic); err != nil {
			return err
		}
		for _, r := range recs {
			if r.rstat == (fileStat{}) || r.Receipt == nil {
				continue
			}
			rec = encodeReceipt(rec[:0], r.rstat, r.Hash, r.Receipt)
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
	tmp := path + ".spine-tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	err = fill(bw)
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

func appendStateBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// encodeReceipt appends a record's body: the stat of receipt.json, the
// chain hash and every field of rc. Keep it in step with
// stateDecoder.receipt and skipRecord.
func encodeReceipt(b []byte, st fileStat, hash string, rc *artifacts.Receipt) []byte {
	b = binary.AppendVarint(b, st.Size)
	b = binary.AppendVarint(b, st.Mtime)
	b = binary.AppendVarint(b, st.Ctime)
	b = binary.AppendUvarint(b, st.Ino)
	b = binary.AppendUvarint(b, st.Dev)
	b = appendStateString(b, hash)
	for _, s := range [...]string{rc.RunKey, rc.LoopID, rc.Stage, rc.Step, rc.Capability, rc.Command, rc.CommandSHA256,
		rc.Host, rc.User, rc.Workdir, rc.StartedAt, rc.FinishedAt} {
		b = appendStateString(b, s)
	}
	b = binary.AppendVarint(b, rc.DurationMS)
	b = binary.AppendVarint(b, int64(rc.ExitCode))
	b = appendStateString(b, rc.Status)
	b = appendStateBool(b, rc.AllowFailure)
	b = appendStateString(b, rc.Gate)
	if a := rc.Approval; a == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendStateString(appendStateString(appendStateString(b, a.Source), a.Commit), a.Author)
	}
	b = appendStateString(b, rc.SourceCommit)
	if rc.Artifacts == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(rc.Artifacts))+1)
		for _, a := range rc.Artifacts {
			b = appendStateString(appendStateString(b, a.Path), a.SHA256)
			b = binary.AppendVarint(b, a.Size)
		}
	}
	b = appendStateString(b, rc.OutputSHA256)
	b = appendStateString(b, rc.SpineVersion)
	b = appendStateString(b, rc.Prev)
	b = appendStateString(b, rc.Note)
	b = appendStateBool(b, rc.OutputTruncated)
	b = binary.AppendVarint(b, rc.OutputBytes)
	b = binary.AppendVarint(b, int64(rc.Redactions))
	if rc.Checks == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(rc.Checks))+1)
		for _, c := range rc.Checks {
			b = appendStateString(appendStateString(appendStateString(b, c.ID), c.Title), c.Status)
			b = binary.AppendVarint(b, int64(c.ExitCode))
			b = binary.AppendVarint(b, c.DurationMS)
			b = appendStateBool(b, c.Blocking)
		}
	}
	return appendStateString(b, rc.Summary)
}

var errState = errors.New("receipt state is corrupt")

// stateDecoder reads the fields of ReceiptStateName; the first error
// sticks. Strings share the data.
type stateDecoder struct{ varbin.Decoder }

func (d *stateDecoder) bool() bool { return d.Byte() == 1 }

// count reads a slice length written as length plus one; nil is -1.
func (d *stateDecoder) count() int {
	n := d.Uvarint()
	if d.Err != nil || n > uint64(len(d.S)-d.Off)+1 {
		d.Fail()
		return -1
	}
	return int(n) - 1
}

func (d *stateDecoder) stat() fileStat {
	return fileStat{Size: d.Varint(), Mtime: d.Varint(), Ctime: d.Varint(), Ino: d.Uvarint(), Dev: d.Uvarint()}
}

// receipt decodes the fields of a receipt written by encodeReceipt.
func (d *stateDecoder) receipt() *artifacts.Receipt {
	rc := &artifacts.Receipt{}
	for _, p := range [...]*string{&rc.RunKey, &rc.LoopID, &rc.Stage, &rc.Step, &rc.Capability, &rc.Command, &rc.CommandSHA256,
		&rc.Host, &rc.User, &rc.Workdir, &rc.StartedAt, &rc.FinishedAt} {
		*p = d.Str()
	}
	rc.DurationMS = d.Varint()
	rc.ExitCode = int(d.Varint())
	rc.Status = d.Str()
	rc.AllowFailure = d.bool()
	rc.Gate = d.Str()
	if d.Byte() == 1 {
		rc.Approval = &artifacts.Approval{Source: d.Str(), Commit: d.Str(), Author: d.Str()}
	}
	rc.SourceCommit = d.Str()
	if n := d.count(); n >= 0 {
		rc.Artifacts = make([]artifacts.ArtifactRef, n)
		for i := range rc.Artifacts {
			a := &rc.Artifacts[i]
			a.Path, a.SHA256, a.Size = d.Str(), d.Str(), d.Varint()
		}
	}
	rc.OutputSHA256 = d.Str()
	rc.SpineVersion = d.Str()
	rc.Prev = d.Str()
	rc.Note = d.Str()
	rc.OutputTruncated = d.bool()
	rc.OutputBytes = d.Varint()
	rc.Redactions = int(d.Varint())
	if n := d.count(); n >= 0 {
		rc.Checks = make([]artifacts.CheckResult, n)
		for i := range rc.Checks {
			c := &rc.Checks[i]
			c.ID, c.Title, c.Status = d.Str(), d.Str(), d.Str()
			c.ExitCode, c.DurationMS, c.Blocking = int(d.Varint()), d.Varint(), d.bool()
		}
	}
	rc.Summary = d.Str()
	return rc
}
