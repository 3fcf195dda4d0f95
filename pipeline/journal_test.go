package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spinehq/spine/artifacts"
)

// readJournalAgain reads the journal in dir through a new Journal: what a
// later run would see.
func readJournalAgain(t *testing.T, dir string) ([]string, map[string]*Entry) {
	t.Helper()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	order, entries, err := j.Read()
	if err != nil {
		t.Fatal(err)
	}
	return order, entries
}

// TestJournalKeptHandle checks the journal's kept file handle: whatever
// happens to journal.jsonl between two appends (removed, replaced, torn by
// another writer, compacted), every record appended afterwards is in the
// file the path names, and no record is glued to a torn line.
func TestJournalKeptHandle(t *testing.T) {
	const first, second = "CAP-20260301-101500__x__Rfirst000000", "CAP-20260301-101501__x__Rsecond00000"
	for _, tc := range []struct {
		name string
		// between runs after the first append; it gets the journal's path.
		between func(t *testing.T, j *Journal, path string)
		want    []string // run keys read back, in order
	}{
		{"nothing", func(*testing.T, *Journal, string) {}, []string{first, second}},
		{"removed", func(t *testing.T, _ *Journal, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, []string{second}},
		{"replaced", func(t *testing.T, _ *Journal, path string) {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, []byte(`{"kind":"done","run_key":"CAP-20260301-101459__x__Rother000000","at":"2026-03-01T10:14:59Z"}`+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, []string{"CAP-20260301-101459__x__Rother000000", second}},
		{"torn by another writer, reopened after Close", func(t *testing.T, j *Journal, path string) {
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(`{"kind":"intent","run_key":"CAP-2026`); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}, []string{first, second}},
		{"appended to by an older writer, handle kept", func(t *testing.T, _ *Journal, path string) {
			// Versions before the NUL padding appended with O_APPEND,
			// after the padding, ending a last line without its newline
			// (a NUL) first.
			f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			line := "\n" + `{"kind":"done","run_key":"CAP-20260301-101459__x__Rother000000","at":"2026-03-01T10:14:59Z"}` + "\n"
			if _, err := f.WriteString(line); err != nil {
				t.Fatal(err)
			}
		}, []string{first, "CAP-20260301-101459__x__Rother000000", second}},
		{"compacted", func(t *testing.T, j *Journal, path string) {
			if err := j.AppendNoSync(JournalRecord{Kind: recDone, RunKey: first}); err != nil {
				t.Fatal(err)
			}
			if err := j.Compact(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("journal not removed by Compact: %v", err)
			}
		}, []string{second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, err := OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if err := j.Append(JournalRecord{Kind: recIntent, RunKey: first, LoopID: "L", Step: "a"}); err != nil {
				t.Fatal(err)
			}
			tc.between(t, j, filepath.Join(dir, "journal.jsonl"))
			if err := j.Append(JournalRecord{Kind: recIntent, RunKey: second, LoopID: "L", Step: "b"}); err != nil {
				t.Fatal(err)
			}
			order, entries := readJournalAgain(t, dir)
			if diff := cmp.Diff(tc.want, order); diff != "" {
				t.Errorf("run keys in the journal (-want +got):\n%s", diff)
			}
			if e := entries[second]; e == nil || e.Intent == nil {
				t.Errorf("the intent appended last was lost")
			}
		})
	}
}

// TestCommandPathsResolve checks the per-run cache of interpreter paths:
// a name found in $PATH resolves to the same file exec.LookPath finds, and
// names it must leave to exec.Command (paths, missing commands) resolve to
// "" and are not remembered.
func TestCommandPathsResolve(t *testing.T) {
	bin := t.TempDir()
	exe := filepath.Join(bin, "spine-test-interp")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	for _, tc := range []struct {
		name, want string
		cached     bool
	}{
		{"spine-test-interp", exe, true},
		{"spine-test-missing", "", false},
		{exe, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := commandPaths{}
			if got := c.resolve(tc.name); got != tc.want {
				t.Errorf("resolve(%q) = %q, want %q", tc.name, got, tc.want)
			}
			if _, ok := c[tc.name]; ok != tc.cached {
				t.Errorf("resolve(%q) cached = %v, want %v", tc.name, ok, tc.cached)
			}
		})
	}
	var nilPaths commandPaths
	if got := nilPaths.resolve("spine-test-interp"); got != "" {
		t.Errorf("nil commandPaths resolved %q, want \"\"", got)
	}
}

// TestRunProcessResolvedPath checks that a process started from a resolved
// path keeps its argv[0] (what $0 says in a script) and reads the shared
// /dev/null as its standard input.
func TestRunProcessResolvedPath(t *testing.T) {
	c := commandPaths{}
	path := c.resolve("sh")
	if path == "" {
		t.Skip("no sh in $PATH")
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	var out stringsWriter
	res := runProcess(context.Background(), procSpec{
		Argv: []string{"sh", "-e", "-c", `echo "$0"; cat; echo end`}, Path: path, Stdin: null,
		Dir: t.TempDir(), Stdout: &out, Stderr: &out,
	})
	if res.ExitCode != 0 || res.Err != nil {
		t.Fatalf("exit %d, err %v, output %q", res.ExitCode, res.Err, out)
	}
	if diff := cmp.Diff("sh\nend\n", string(out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

type stringsWriter []byte

func (w *stringsWriter) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }

// TestWithPID checks that adding the pid to an encoded intent gives the
// bytes of encoding the intent with its pid set, whatever its strings
// hold.
func TestWithPID(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123, time.UTC)
	rc := &artifacts.Receipt{RunKey: "CAP-20260301-100000__step.x__Rabcdefghij", LoopID: "LOOP-1", Command: `echo ',"at":"x"' "pid":1 <&>`, Step: `s,"at":`}
	tests := []struct {
		name string
		rec  JournalRecord
	}{
		{"full", JournalRecord{Kind: recIntent, RunKey: rc.RunKey, LoopID: "LOOP-1", Step: "s", Stage: "Stage 1", Dir: "receipts/2026/03/01/" + rc.RunKey, At: at, Intent: rc}},
		{"no dir", JournalRecord{Kind: recIntent, RunKey: rc.RunKey, LoopID: "LOOP-1", At: at, Intent: rc}},
		{"quotes in strings", JournalRecord{Kind: recIntent, RunKey: rc.RunKey, LoopID: `L,"at":1`, Step: `"pid":2,"at":`, Stage: "\",\"at\":", At: at, Intent: rc}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := encodeRecord(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			for _, pid := range []int{1, 4242, 2147483647} {
				got, ok := withPID(line, pid)
				if !ok {
					t.Fatalf("withPID(%d): not ok", pid)
				}
				r := tt.rec
				r.PID, r.PGID = pid, pid
				want, err := encodeRecord(r)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("pid %d (-encoded +spliced):\n%s", pid, diff)
				}
			}
		})
	}
	// A line that already has a pid, or no "at", is not spliced.
	withPIDLine, _ := encodeRecord(JournalRecord{Kind: recIntent, RunKey: rc.RunKey, PID: 7, PGID: 7, At: at})
	for _, line := range [][]byte{withPIDLine, []byte(`{"kind":"intent"}` + "\n")} {
		if _, ok := withPID(line, 9); ok {
			t.Errorf("withPID(%s): ok, want not", line)
		}
	}
}

// TestJournalCompactOnlyWhenAllDone checks that Compact removes the journal
// exactly when every entry Read returns is done.
func TestJournalCompactOnlyWhenAllDone(t *testing.T) {
	const a, b = "CAP-20260301-101500__x__Raaaaaaaaaa", "CAP-20260301-101501__x__Rbbbbbbbbbb"
	rc := &artifacts.Receipt{RunKey: a, LoopID: "L", Step: "s", Status: artifacts.StatusPass, Note: `"kind":"done","run_key":"` + b + `"`}
	for _, tc := range []struct {
		name    string
		records []JournalRecord
		torn    string // appended without a newline
	}{
		{"empty", nil, ""},
		{"intent only", []JournalRecord{{Kind: recIntent, RunKey: a, Intent: rc}}, ""},
		{"intent, result", []JournalRecord{{Kind: recIntent, RunKey: a, Intent: rc}, {Kind: recResult, RunKey: a, Receipt: rc}}, ""},
		{"intent, result, done", []JournalRecord{{Kind: recIntent, RunKey: a, Intent: rc}, {Kind: recResult, RunKey: a, Receipt: rc}, {Kind: recDone, RunKey: a}}, ""},
		{"done first, then an intent", []JournalRecord{{Kind: recDone, RunKey: a}, {Kind: recIntent, RunKey: a}}, ""},
		{"one of two done", []JournalRecord{{Kind: recIntent, RunKey: a}, {Kind: recDone, RunKey: a}, {Kind: recIntent, RunKey: b, Intent: rc}}, ""},
		{"both done", []JournalRecord{{Kind: recIntent, RunKey: a}, {Kind: recIntent, RunKey: b}, {Kind: recDone, RunKey: b}, {Kind: recDone, RunKey: a}}, ""},
		{"done only", []JournalRecord{{Kind: recDone, RunKey: b}}, ""},
		{"all done, torn intent", []JournalRecord{{Kind: recIntent, RunKey: a}, {Kind: recDone, RunKey: a}}, `{"kind":"intent","run_key":"` + b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, err := OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			for _, r := range tc.records {
				if err := j.AppendNoSync(r); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "journal.jsonl")
			if tc.torn != "" {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(tc.torn)
				f.Close()
			}
			_, entries, err := j.Read()
			if err != nil {
				t.Fatal(err)
			}
			wantRemoved := true
			for _, e := range entries {
				wantRemoved = wantRemoved && e.Done
			}
			if err := j.Compact(); err != nil {
				t.Fatal(err)
			}
			_, statErr := os.Stat(path)
			if removed := os.IsNotExist(statErr); removed != wantRemoved {
				t.Errorf("journal removed = %v, want %v (every entry done)", removed, wantRemoved)
			}
		})
	}
}

// TestJournalInPlace checks the journal's NUL-padded form: whatever a
// crash or an older version left in the file (its records then NULs, a
// record torn in the padding, a page of NULs among records, a growth cut
// short, no padding at all), a record appended by a new Journal is written
// just after the last byte that is not NUL, on a line of its own, is read
// back with every whole record before it, and the file ends with NULs
// only after it.
func TestJournalInPlace(t *testing.T) {
	rec := func(kind, key string) string {
		line, err := encodeRecord(JournalRecord{Kind: kind, RunKey: key, LoopID: "L", Step: "s", At: time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		return string(line)
	}
	const a, b, c = "CAP-20260301-101500__x__Raaaaaaaaaa", "CAP-20260301-101501__x__Rbbbbbbbbbb", "CAP-20260301-101502__x__Rcccccccccc"
	nul := func(n int) string { return strings.Repeat("\x00", n) }
	for _, tc := range []struct {
		name   string
		before string // the file's bytes before the append ("" and absent: no file)
		absent bool
		want   []string // run keys read back after appending c's intent
	}{
		{"no file", "", true, []string{c}},
		{"empty file", "", false, []string{c}},
		{"only NULs", nul(journalChunk), false, []string{c}},
		{"padded", rec(recIntent, a) + rec(recResult, a) + nul(8192), false, []string{a, c}},
		{"torn record in the padding", rec(recIntent, a) + `{"kind":"intent","run_key":"` + b + `","lo` + nul(5000), false, []string{a, c}},
		{"torn record then a page of NULs", rec(recIntent, a) + `{"kind":"intent","run_key":"` + b + nul(4096) + `","loop_id":"L"}` + "\n" + nul(100), false, []string{a, c}},
		{"a page of NULs among records", rec(recIntent, a) + nul(4096) + rec(recResult, b) + rec(recDone, b) + nul(300), false, []string{a, b, c}},
		{"growth cut short", rec(recIntent, a) + nul(3), false, []string{a, c}},
		{"old format", rec(recIntent, a) + rec(recIntent, b), false, []string{a, b, c}},
		{"old format, torn", rec(recIntent, a) + `{"kind":"intent","run_key":"` + b, false, []string{a, c}},
		{"old writer after the padding", rec(recIntent, a) + nul(4000) + "\n" + rec(recIntent, b), false, []string{a, b, c}},
		{"NUL line ended by an old writer", rec(recIntent, a) + nul(4000) + "\n", false, []string{a, c}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "journal.jsonl")
			if !tc.absent {
				if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			j, err := OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if err := j.Append(JournalRecord{Kind: recIntent, RunKey: c, LoopID: "L", Step: "s", At: time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)}); err != nil {
				t.Fatal(err)
			}
			order, entries := readJournalAgain(t, dir)
			if diff := cmp.Diff(tc.want, order); diff != "" {
				t.Errorf("run keys in the journal (-want +got):\n%s", diff)
			}
			if e := entries[c]; e == nil || e.Intent == nil || e.Intent.Step != "s" {
				t.Fatalf("the intent appended was lost: %+v", e)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The record is where the old bytes' records end, then NULs
			// to the end of the file.
			data := strings.TrimRight(tc.before, "\x00")
			if data != "" && !strings.HasSuffix(data, "\n") {
				data += "\n"
			}
			data += rec(recIntent, c)
			if !strings.HasPrefix(string(raw), data) {
				t.Fatalf("journal is\n%q\nwant it to start with\n%q", raw, data)
			}
			if tail := raw[len(data):]; strings.Trim(string(tail), "\x00") != "" {
				t.Errorf("bytes after the record are not all NUL: %q", tail)
			}
			if len(raw) < len(tc.before) {
				t.Errorf("journal shrank from %d to %d bytes", len(tc.before), len(raw))
			}
		})
	}
}

// TestJournalGrowsInChunks checks that the journal grows by whole chunks
// of zeros, not by each record: records are written into room the file
// already has (so the intent's fdatasync changes no size), and every
// record appended, across growths and reopenings, is read back in order.
func TestJournalGrowsInChunks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.jsonl")
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rc := &artifacts.Receipt{Command: strings.Repeat("x", 2000)}
	var want []string
	sizes := map[int64]bool{}
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("CAP-20260301-101500__x__R%010d", i)
		want = append(want, key)
		if err := j.append(JournalRecord{Kind: recIntent, RunKey: key, Intent: rc}, i%10 == 0); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sizes[fi.Size()] = true
		if fi.Size()%4096 != 0 {
			t.Fatalf("journal size %d after record %d: not whole pages", fi.Size(), i)
		}
		if i == 150 {
			// A later run continues the same file.
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 300 records of some 2.1 KB: about 630 KB, grown from 16 KiB by
	// doubling up to chunks of 256 KiB: 7 sizes (a growth per record
	// would give 300).
	if n := len(sizes); n < 3 || n > 10 {
		t.Errorf("journal had %d sizes over 300 records, want 3-10 (growth by chunks)", n)
	}
	order, _, err := j.Read()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("run keys (-want +got):\n%s", diff)
	}
}

// TestJournalReserve checks that reserve leaves room for the records to
// come, written as NULs after the last record, and never writes over a
// record another writer appended behind the Journal's back.
func TestJournalReserve(t *testing.T) {
	const a, b, other = "CAP-20260301-101500__x__Raaaaaaaaaa", "CAP-20260301-101501__x__Rbbbbbbbbbb", "CAP-20260301-101459__x__Rother000000"
	for _, tc := range []struct {
		name    string
		between func(t *testing.T, path string)
		want    []string
	}{
		{"alone", func(*testing.T, string) {}, []string{a, b}},
		{"appended to by an older writer", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString("\n" + `{"kind":"done","run_key":"` + other + `","at":"2026-03-01T10:14:59Z"}` + "\n"); err != nil {
				t.Fatal(err)
			}
		}, []string{a, other, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "journal.jsonl")
			j, err := OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if err := j.Append(JournalRecord{Kind: recIntent, RunKey: a}); err != nil {
				t.Fatal(err)
			}
			// Records until less than journalRoom is left: reserve
			// must grow the journal.
			for j.size-j.end >= journalRoom {
				if err := j.AppendNoSync(JournalRecord{Kind: recResult, RunKey: a, Step: strings.Repeat("s", 500)}); err != nil {
					t.Fatal(err)
				}
			}
			tc.between(t, path)
			j.reserve(journalRoom)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data := journalData(raw)
			if room := len(raw) - len(data); room < journalRoom {
				t.Errorf("%d bytes of room after reserve(%d)", room, journalRoom)
			}
			if err := j.Append(JournalRecord{Kind: recIntent, RunKey: b}); err != nil {
				t.Fatal(err)
			}
			order, _, err := j.Read()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, order); diff != "" {
				t.Errorf("run keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJournalSyncsNewFile checks that the journal's folder is synced when
// an append creates the journal file (its name must survive a crash as
// its records do), and only then; a failed sync fails the append.
func TestJournalSyncsNewFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "spine")
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var synced []string
	var fail error
	j.syncDir = func(d string) error {
		synced = append(synced, d)
		return fail
	}
	rec := func(i int) JournalRecord {
		return JournalRecord{Kind: recIntent, RunKey: fmt.Sprintf("CAP-20260301-1015%02d__x__Raaaaaaaaaa", i), LoopID: "L", Step: "s", At: time.Date(2026, 3, 1, 10, 15, i, 0, time.UTC)}
	}
	for i := range 3 {
		if err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{dir}, synced); diff != "" {
		t.Errorf("folders synced over three appends to a new journal (-want +got):\n%s", diff)
	}
	// The journal removed (compacted away by hand, say): recreated, synced.
	if err := os.Remove(filepath.Join(dir, "journal.jsonl")); err != nil {
		t.Fatal(err)
	}
	fail = errors.New("disk gone")
	if err := j.Append(rec(3)); !errors.Is(err, fail) {
		t.Errorf("append with a failing folder sync: %v, want %v", err, fail)
	}
	fail = nil
	if err := j.Append(rec(4)); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 3 {
		t.Errorf("folder synced %d times, want 3 (first creation, a failed retry, a good one)", len(synced))
	}
}

// TestJournalAppendNoSyncAll checks the one-write form of a stage's done
// records: after a torn line, and past the journal's first growth, every
// record reads back as AppendNoSync's would, and the torn line stays
// apart from them.
func TestJournalAppendNoSyncAll(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const n = 400 // some 40 KB of records: more than the first growth
	var intents, done []JournalRecord
	for i := range n {
		k := fmt.Sprintf("CAP-20260301-101500__x%03d__Raaaaaaaaaa", i)
		intents = append(intents, JournalRecord{Kind: recIntent, RunKey: k, Step: fmt.Sprintf("x%03d", i)})
		done = append(done, JournalRecord{Kind: recDone, RunKey: k})
	}
	for _, r := range intents {
		if err := j.AppendNoSync(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	path := filepath.Join(dir, "journal.jsonl")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	end, _, err := dataEnd(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(`{"kind":"intent","run_key":"torn`), end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := j.AppendNoSyncAll(done); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendNoSyncAll(nil); err != nil {
		t.Fatal(err)
	}
	_, entries, err := j.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Fatalf("%d entries, want %d", len(entries), n)
	}
	for _, r := range done {
		if e := entries[r.RunKey]; e == nil || !e.Done || e.Intent == nil {
			t.Fatalf("%s: entry %+v, want its intent and done", r.RunKey, e)
		}
	}
	if done, err := j.allDone(); err != nil || !done {
		t.Fatalf("allDone = %v, %v; want true", done, err)
	}
}

// TestJournalReadsPastALongLine: a record after a line longer than a
// line scanner's bound (64 MiB: an intent holding a step of a 64 MiB
// document, or damage) is read, not dropped with everything after it; a
// torn last line is still ignored, and a CR before a line's LF dropped.
func TestJournalReadsPastALongLine(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	intent := JournalRecord{Kind: recIntent, RunKey: "CAP-20260301-101500__step.a__Rk3j9x0abcd"}
	line, err := encodeRecord(intent)
	if err != nil {
		t.Fatal(err)
	}
	data := append(bytes.Repeat([]byte("x"), 64<<20+1), '\n')
	data = append(data, line...)
	if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	order, entries, err := j.Read()
	if err != nil || len(order) != 1 || entries[intent.RunKey] == nil || entries[intent.RunKey].Intent == nil {
		t.Fatalf("Read = %v, %v, %v; want the intent after the long line", order, entries, err)
	}
	crlf := append(bytes.TrimSuffix(line, []byte("\n")), "\r\n"...)
	if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), append(crlf, `{"kind":"res`...), 0o644); err != nil {
		t.Fatal(err)
	}
	order, entries, err = j.Read()
	if err != nil || len(order) != 1 || entries[intent.RunKey].Intent == nil {
		t.Fatalf("Read = %v, %v, %v; want the intent, and the torn line ignored", order, entries, err)
	}
}

// FuzzJournalRead reads any bytes as a journal: no panic, and every entry
// is filed under its own run key.
func FuzzJournalRead(f *testing.F) {
	for _, r := range []JournalRecord{
		{Kind: recIntent, RunKey: "CAP-20260301-101500__step.a__Rk3j9x0abcd"},
		{Kind: recResult, RunKey: "CAP-20260301-101500__step.a__Rk3j9x0abcd", Receipt: &artifacts.Receipt{Status: artifacts.StatusPass}},
		{Kind: recDone, RunKey: "CAP-20260301-101500__step.a__Rk3j9x0abcd"},
	} {
		line, err := encodeRecord(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line)
		f.Add(append(append([]byte(nil), line...), 0, 0, 0))
	}
	f.Add([]byte("{\"kind\":\"intent\"\n\x00\x00{}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		j := &Journal{path: filepath.Join(dir, "journal.jsonl")}
		order, entries, err := j.Read()
		if err != nil {
			return
		}
		if len(order) != len(entries) {
			t.Fatalf("%d run keys in order, %d entries", len(order), len(entries))
		}
		for k, e := range entries {
			for _, r := range []*JournalRecord{e.Intent, e.Result} {
				if r != nil && r.RunKey != k {
					t.Fatalf("record of %q filed under %q", r.RunKey, k)
				}
			}
		}
	})
}

// TestExplainUnrecorded: a finding on a run the journal holds without its
// receipt says why the receipt is missing; others are left as they are.
func TestExplainUnrecorded(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	for _, r := range []JournalRecord{
		{Kind: recIntent, RunKey: "K-RESULT", At: now},
		{Kind: recResult, RunKey: "K-RESULT", At: now, Receipt: &artifacts.Receipt{Status: artifacts.StatusFail, ExitCode: 4}},
		{Kind: recIntent, RunKey: "K-RUNNING", At: now},
		{Kind: recIntent, RunKey: "K-DONE", At: now},
		{Kind: recResult, RunKey: "K-DONE", At: now, Receipt: &artifacts.Receipt{Status: artifacts.StatusPass}},
		{Kind: recDone, RunKey: "K-DONE", At: now},
	} {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	const missing = "receipt.json is missing"
	ps := []artifacts.Problem{
		{RunKey: "K-RESULT", Problem: missing},
		{RunKey: "K-RUNNING", Problem: missing},
		{RunKey: "K-DONE", Problem: missing},
		{RunKey: "K-UNKNOWN", Problem: missing},
	}
	if err := ExplainUnrecorded(dir, ps); err != nil {
		t.Fatal(err)
	}
	want := []string{
		missing + "; its run (fail, exit 4) is in the journal: spine stopped before writing its receipt, and the next spine run writes it",
		missing + "; the journal has its start and no end yet: it runs in the background, or spine stopped while it ran, and the next spine run records it",
		missing,
		missing,
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Problem)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	// A state folder that does not exist holds no journal, and is not made.
	none := filepath.Join(t.TempDir(), "none")
	if err := ExplainUnrecorded(none, ps); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(none); err == nil {
		t.Error("ExplainUnrecorded made the state folder")
	}
}
