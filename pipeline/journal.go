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
type Journal struct {
	path string
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
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	// An append torn by a crash or a full disk leaves a last line without
	// its newline: end it first, or this record would be glued to it and
	// lost with it when the journal is read.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], fi.Size()-1); err == nil && last[0] != '\n' {
			data = append([]byte{'\n'}, data...)
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if !sync {
		return f.Close()
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return f.Close()
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
	_, entries, err := j.Read()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Done {
			return nil
		}
	}
	if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
