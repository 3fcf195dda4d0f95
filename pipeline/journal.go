package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
)

// Journal record kinds.
const (
	// recIntent is written (and fsynced) before a step's process starts.
	recIntent = "intent"
	// recResult carries the complete receipt once the process ended.
	recResult = "result"
	// recDone marks a run key whose receipt is committed to git.
	recDone = "done"
)

// JournalRecord is one line of the journal.
type JournalRecord struct {
	Kind    string             `json:"kind"`
	RunKey  string             `json:"run_key"`
	LoopID  string             `json:"loop_id,omitempty"`
	Step    string             `json:"step,omitempty"`
	Stage   string             `json:"stage,omitempty"`
	Dir     string             `json:"dir,omitempty"`
	PID     int                `json:"pid,omitempty"`
	PGID    int                `json:"pgid,omitempty"`
	At      time.Time          `json:"at"`
	Receipt *artifacts.Receipt `json:"receipt,omitempty"`
	// Intent carries the receipt fields known before the step starts, so
	// an interrupted receipt can be written without the document.
	Intent *artifacts.Receipt `json:"intent,omitempty"`
	// Background is set for a background step's intent: the supervisor's
	// pid and the log it writes.
	Background bool   `json:"background,omitempty"`
	ExitFile   string `json:"exit_file,omitempty"`
	// StartTicks is the supervisor's start time from /proc, so that a pid
	// reused after a reboot is not mistaken for it.
	StartTicks uint64 `json:"start_ticks,omitempty"`
}

// Journal is the local, append-only, fsynced record of step runs that
// lets a run after a crash know exactly what happened: an intent without a
// result is an interrupted step; a result without a commit is finished
// first.
//
// A Journal keeps the file open between appends (one write, and for an
// intent one fsync, per record instead of an open, a stat, a read and a
// close as well); Close releases it. It is safe for concurrent use.
type Journal struct {
	path string

	mu sync.Mutex
	// f is the journal file as last opened for appending, nil until the
	// first append or after Close, Compact or a failed write.
	f *os.File
	// fi identifies f: an append first checks that the journal's path
	// still names that file (see appendFile).
	fi os.FileInfo
	// torn is set when f's last line lacks its newline: the next record
	// is written after one.
	torn bool
}

// OpenJournal opens (creating the state folder as needed) the journal in
// stateDir.
func OpenJournal(stateDir string) (*Journal, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Journal{path: filepath.Join(stateDir, "journal.jsonl")}, nil
}

// Append writes a record and fsyncs it before returning.
func (j *Journal) Append(r JournalRecord) error { return j.append(r, true) }

// AppendNoSync writes a record without waiting for the disk: for records
// whose loss in a power failure is harmless (the pid of a step whose intent
// is already durable).
func (j *Journal) AppendNoSync(r JournalRecord) error { return j.append(r, false) }

func (j *Journal) append(r JournalRecord, sync bool) error {
	data, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return j.appendLine(data, sync)
}

// encodeRecord returns r as one journal line, newline included.
func encodeRecord(r JournalRecord) ([]byte, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return append(data, '\n'), nil
}

// withPID returns the line of an intent record encoded without pid and
// pgid (both zero) with them set to pid: the bytes encodeRecord gives once
// they are set, without encoding the record (and its receipt) again. The
// two come just before "at" in the record, the first field after string
// fields, whose quotes inside values are escaped, so the first `,"at":`
// of the line is that field's. ok is false if the line is not such a
// record.
func withPID(line []byte, pid int) (out []byte, ok bool) {
	const at = `,"at":`
	i := bytes.Index(line, []byte(at))
	if i < 0 || pid <= 0 || bytes.Contains(line[:i], []byte(`"pid":`)) {
		return nil, false
	}
	n := strconv.Itoa(pid)
	out = make([]byte, 0, len(line)+len(`,"pid":,"pgid":`)+2*len(n))
	out = append(out, line[:i]...)
	out = append(out, `,"pid":`...)
	out = append(out, n...)
	out = append(out, `,"pgid":`...)
	out = append(out, n...)
	return append(out, line[i:]...), true
}

// appendLine writes one encoded record, and fsyncs it if sync is set.
func (j *Journal) appendLine(data []byte, sync bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := j.appendFile()
	if err != nil {
		return err
	}
	if j.torn {
		data = append([]byte{'\n'}, data...)
	}
	if _, err := f.Write(data); err != nil {
		// The write may be torn: drop the handle, so that the next append
		// reopens the file and ends the torn line first.
		j.closeLocked()
		return fmt.Errorf("journal: %w", err)
	}
	j.torn = false
	if !sync {
		return nil
	}
	if err := f.Sync(); err != nil {
		j.closeLocked()
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return nil
}

// appendFile returns the journal opened for appending. The handle of the
// previous append is reused while the journal's path still names the same
// file (one stat): were the file removed or replaced behind the run's back,
// records written to the old handle would be lost with it, so the path is
// opened again instead. On opening, a last line without its newline (an
// append torn by a crash or a full disk) is noted: the next record starts
// by ending it, or it would be glued to it and lost with it when the
// journal is read. Records this Journal writes always end with a newline;
// a failed write drops the handle (see append).
func (j *Journal) appendFile() (*os.File, error) {
	if j.f != nil {
		if fi, err := os.Stat(j.path); err == nil && os.SameFile(fi, j.fi) {
			return j.f, nil
		}
		j.closeLocked()
	}
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	torn := false
	if fi.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], fi.Size()-1); err == nil && last[0] != '\n' {
			torn = true
		}
	}
	j.f, j.fi, j.torn = f, fi, torn
	return f, nil
}

// Close releases the file kept open for appending. The Journal stays
// usable: the next append opens the file again.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.closeLocked()
}

func (j *Journal) closeLocked() error {
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f, j.fi, j.torn = nil, nil, false
	return err
}

// allDone reports whether every entry Read would return is done. It
// decodes only each record's kind and run key: at the end of a run the
// journal holds every step's receipt twice (intent and result), which Read
// would decode for nothing.
func (j *Journal) allDone() (bool, error) {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("journal: %w", err)
	}
	done := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		var r struct {
			Kind   string `json:"kind"`
			RunKey string `json:"run_key"`
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.RunKey == "" {
			continue
		}
		if r.Kind == recDone {
			done[r.RunKey] = true
		} else if _, seen := done[r.RunKey]; !seen {
			done[r.RunKey] = false
		}
	}
	for _, d := range done {
		if !d {
			return false, nil
		}
	}
	return true, nil
}

// Entry is the journal's knowledge of one run key.
type Entry struct {
	Intent *JournalRecord
	Result *JournalRecord
	Done   bool
}

// Read returns the journal's entries by run key, in first-seen order. A
// torn last line (a crash during append) is ignored.
func (j *Journal) Read() ([]string, map[string]*Entry, error) {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, map[string]*Entry{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	var order []string
	entries := map[string]*Entry{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		var r JournalRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.RunKey == "" {
			continue
		}
		e := entries[r.RunKey]
		if e == nil {
			e = &Entry{}
			entries[r.RunKey] = e
			order = append(order, r.RunKey)
		}
		rec := r
		switch r.Kind {
		case recIntent:
			e.Intent = &rec
		case recResult:
			e.Result = &rec
		case recDone:
			e.Done = true
		}
	}
	return order, entries, nil
}

// Compact drops the journal when every entry in it is done, so it does not
// grow without bound.
func (j *Journal) Compact() error {
	done, err := j.allDone()
	if err != nil || !done {
		return err
	}
	// Nothing may be appended to the removed file through a kept handle.
	if err := j.Close(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
