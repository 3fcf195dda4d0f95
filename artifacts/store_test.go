package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/modetest"
)

// testKey returns a run key for step started at t, with id n.
func testKey(t time.Time, step string, n int) string {
	return fmt.Sprintf("CAP-%s__step.%s__R%010d", t.UTC().Format("20060102-150405"), step, n)
}

// sampleReceipt returns a plausible receipt of loop started at t.
func sampleReceipt(key, loop string, t time.Time) *Receipt {
	k, err := ParseRunKey(key)
	if err != nil {
		panic(err)
	}
	return &Receipt{
		RunKey:       key,
		LoopID:       loop,
		Stage:        "Stage 4: Activation",
		Step:         strings.TrimPrefix(k.Capability, "step."),
		Capability:   k.Capability,
		Command:      "zpool list -v tank && echo '<done>'",
		Host:         "nas01",
		User:         "ops",
		Workdir:      "/srv/repo",
		StartedAt:    t.UTC().Format(time.RFC3339Nano),
		FinishedAt:   t.Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano),
		DurationMS:   1500,
		Status:       StatusPass,
		SourceCommit: "0123456789abcdef0123456789abcdef01234567",
		SpineVersion: "0.1.0",
	}
}

func TestMarshalReceipt(t *testing.T) {
	r := &Receipt{
		RunKey:     "CAP-20260301-101500__zfs.pool__Rabcdefghij",
		LoopID:     "LOOP-1",
		Command:    "a && b > c",
		ExitCode:   0,
		Status:     StatusBlocked,
		Gate:       "ALLOW_X",
		Redactions: 2,
	}
	got, err := MarshalReceipt(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "run_key": "CAP-20260301-101500__zfs.pool__Rabcdefghij",
  "loop_id": "LOOP-1",
  "stage": "",
  "step": "",
  "capability": "",
  "command": "a && b > c",
  "command_sha256": "",
  "host": "",
  "user": "",
  "workdir": "",
  "started_at": "",
  "finished_at": "",
  "duration_ms": 0,
  "exit_code": 0,
  "status": "blocked",
  "allow_failure": false,
  "gate": "ALLOW_X",
  "approval": null,
  "source_commit": "",
  "artifacts": [],
  "output_sha256": "",
  "spine_version": "",
  "prev": "",
  "redactions": 2
}
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("MarshalReceipt mismatch (-want +got):\n%s", diff)
	}
	if r.Artifacts != nil {
		t.Error("MarshalReceipt modified its argument")
	}
}

func TestStoreWrite(t *testing.T) {
	root := t.TempDir()
	st := &Store{Root: root}
	start := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	key := testKey(start, "zpool-list", 1)
	r := sampleReceipt(key, "LOOP-1", start)
	res, err := st.Write(r, strings.NewReader("2026-03-01T23:59:59.000Z [out] tank\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := "receipts/2026/03/01/" + key
	wantRes := &WriteResult{Dir: dir, Paths: []string{dir + "/output.log", dir + "/receipt.json"}}
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), ReceiptFile))
	if err != nil {
		t.Fatal(err)
	}
	wantRes.Hash = ChainHash(data)
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("WriteResult mismatch (-want +got):\n%s", diff)
	}
	if r.OutputSHA256 != HashBytes([]byte("2026-03-01T23:59:59.000Z [out] tank\n")) {
		t.Errorf("OutputSHA256 = %q", r.OutputSHA256)
	}
	if r.CommandSHA256 != CommandSHA256(r.Command) {
		t.Errorf("CommandSHA256 = %q", r.CommandSHA256)
	}
	if want, _ := MarshalReceipt(r); string(want) != string(data) {
		t.Errorf("receipt.json = %s, want %s", data, want)
	}
	back, err := st.Read(key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, back, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("read back mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"output.log", "receipt.json"}, dirNames(t, filepath.Join(root, filepath.FromSlash(dir)))); diff != "" {
		t.Errorf("run folder (-want +got):\n%s", diff)
	}

	// Receipts are written once.
	again := sampleReceipt(key, "LOOP-1", start)
	again.Status = StatusFail
	if _, err := st.Write(again, strings.NewReader("other")); !errors.Is(err, ErrReceiptExists) {
		t.Errorf("second Write = %v, want ErrReceiptExists", err)
	}
	if _, err := st.WriteReceipt(again); !errors.Is(err, ErrReceiptExists) {
		t.Errorf("second WriteReceipt = %v, want ErrReceiptExists", err)
	}
	if _, err := st.CreateOutput(key); !errors.Is(err, ErrReceiptExists) {
		t.Errorf("CreateOutput of a written run = %v, want ErrReceiptExists", err)
	}
	if now, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), ReceiptFile)); string(now) != string(data) {
		t.Error("receipt.json changed")
	}

	// Without output: no output.log, empty output_sha256.
	key2 := testKey(start.Add(time.Second), "blocked", 2)
	r2 := sampleReceipt(key2, "LOOP-1", start.Add(time.Second))
	r2.Status = StatusBlocked
	res2, err := st.Write(r2, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir2 := "receipts/2026/03/02/" + key2
	if diff := cmp.Diff([]string{dir2 + "/receipt.json"}, res2.Paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if r2.OutputSHA256 != "" {
		t.Errorf("OutputSHA256 = %q without output", r2.OutputSHA256)
	}
}

func TestStoreStreamedOutput(t *testing.T) {
	root := t.TempDir()
	st := &Store{Root: root, Dir: "evidence/receipts/"}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	key := testKey(start, "x", 3)

	// A crash left an output.log without receipt: it is replaced.
	stale, err := st.CreateOutput(key)
	if err != nil {
		t.Fatal(err)
	}
	stale.Write([]byte("stale"))
	if err := stale.Commit(); err != nil {
		t.Fatal(err)
	}

	f, err := st.CreateOutput(key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	o := NewOutput(f, fixedClock, 0, nil)
	fmt.Fprintln(o.Stream(StreamStdout), "hello")
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	r := sampleReceipt(key, "LOOP-1", start)
	r.OutputSHA256 = o.SHA256()
	r.OutputBytes = o.Bytes()

	// The output file must be this run's.
	other, err := st.CreateOutput(testKey(start, "other", 33))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.WriteRun(r, other); err == nil {
		t.Error("WriteRun with another run's output: want error")
	}
	other.Abort()
	if _, err := st.WriteRun(sampleReceipt(testKey(start, "other", 33), "L", start), other); err == nil {
		t.Error("WriteRun with an aborted output: want error")
	}

	res, err := st.WriteRun(r, f)
	if err != nil {
		t.Fatal(err)
	}
	dir := "evidence/receipts/2026/03/01/" + key
	if diff := cmp.Diff([]string{dir + "/output.log", dir + "/receipt.json"}, res.Paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	rep, err := Verify(root, st)
	if err != nil {
		t.Fatal(err)
	}
	// The other run's folder has no receipt: the only problem.
	if rep.Receipts != 2 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Problem, "no receipt.json") {
		t.Errorf("Verify = %+v", rep)
	}
	if got, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), OutputFile)); string(got) != ts0+" [out] hello\n" {
		t.Errorf("output.log = %q", got)
	}
}

func TestStoreWriteRefuses(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	key := testKey(start, "x", 4)
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string)
		mod     func(r *Receipt) *Receipt
		wantErr error
	}{
		{name: "nil receipt", mod: func(*Receipt) *Receipt { return nil }},
		{name: "invalid run key", mod: func(r *Receipt) *Receipt { r.RunKey = "../../x"; return r }, wantErr: ErrInvalidRunKey},
		{name: "empty loop id", mod: func(r *Receipt) *Receipt { r.LoopID = ""; return r }},
		{name: "unknown status", mod: func(r *Receipt) *Receipt { r.Status = "ok"; return r }},
		{name: "wrong command hash", mod: func(r *Receipt) *Receipt { r.CommandSHA256 = HashBytes(nil); return r }},
		{
			name: "receipts folder is a symlink",
			setup: func(t *testing.T, root string) {
				mkTree(t, root, "receipts -> "+t.TempDir())
			},
			wantErr: ErrUnsafePath,
		},
		{
			name: "day folder is a symlink",
			setup: func(t *testing.T, root string) {
				mkTree(t, root, "receipts/2026/03/01 -> "+t.TempDir())
			},
			wantErr: ErrUnsafePath,
		},
		{
			name: "run folder is a symlink",
			setup: func(t *testing.T, root string) {
				mkTree(t, root, "receipts/2026/03/01/"+key+" -> "+t.TempDir())
			},
			wantErr: ErrUnsafePath,
		},
		{
			name: "receipt.json is a symlink",
			setup: func(t *testing.T, root string) {
				mkTree(t, root, "receipts/2026/03/01/"+key+"/receipt.json -> /dev/null")
			},
			wantErr: ErrReceiptExists,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, root)
			}
			r := sampleReceipt(key, "LOOP-1", start)
			if tt.mod != nil {
				r = tt.mod(r)
			}
			_, err := (&Store{Root: root}).Write(r, strings.NewReader("out"))
			if err == nil {
				t.Fatal("Write: want error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Write error = %v, want %v", err, tt.wantErr)
			}
			// WriteLinked refuses the same, and leaves the log alone.
			log := filepath.Join(t.TempDir(), "x.log")
			if err := os.WriteFile(log, []byte("out"), 0o644); err != nil {
				t.Fatal(err)
			}
			r = sampleReceipt(key, "LOOP-1", start)
			if tt.mod != nil {
				r = tt.mod(r)
			}
			_, err = (&Store{Root: root, DeferSync: true}).WriteLinked(r, log, 3, HashBytes([]byte("out")))
			if err == nil {
				t.Fatal("WriteLinked: want error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("WriteLinked error = %v, want %v", err, tt.wantErr)
			}
			if got, err := os.ReadFile(log); err != nil || string(got) != "out" {
				t.Errorf("log after WriteLinked: %q, %v", got, err)
			}
		})
	}
}

func TestStoreWriteLinked(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const content = "2026-03-01T10:00:00.000Z [out] hello\n"
	tests := []struct {
		name string
		// deferSync is the Store's DeferSync.
		deferSync bool
		// size is the size the caller claims the log has.
		size int64
		perm fs.FileMode
		// leftover is an output.log a crashed run left in the run folder.
		leftover bool
		// linkedBefore: the log was linked into the run folder by a write
		// that stopped before receipt.json (a full disk).
		linkedBefore bool
		// linked: output.log is the log file itself, not a copy.
		linked bool
	}{
		{name: "linked", deferSync: true, size: int64(len(content)), perm: 0o644, linked: true},
		{name: "linked, made under a private umask", deferSync: true, size: int64(len(content)), perm: 0o600, linked: true},
		{name: "linked, made under a shared umask", deferSync: true, size: int64(len(content)), perm: 0o664, linked: true},
		{name: "size differs: copied", deferSync: true, size: 3, perm: 0o644},
		{name: "leftover output.log: replaced by a copy", deferSync: true, size: int64(len(content)), perm: 0o644, leftover: true},
		{name: "synced store: copied", size: int64(len(content)), perm: 0o644},
		{name: "linked by a write that stopped: kept", deferSync: true, size: int64(len(content)), perm: 0o644, linked: true, linkedBefore: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			st := &Store{Root: root, DeferSync: tt.deferSync}
			key := testKey(start, "x", 100+i)
			dir := "receipts/2026/03/01/" + key
			if tt.leftover {
				mkTree(t, root, dir+"/output.log")
				if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(dir), OutputFile), []byte("stale"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			log := filepath.Join(t.TempDir(), key+".log")
			if err := os.WriteFile(log, []byte(content), tt.perm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(log, tt.perm); err != nil {
				t.Fatal(err)
			}
			if tt.linkedBefore {
				mkTree(t, root, dir+"/")
				if err := os.Link(log, filepath.Join(root, filepath.FromSlash(dir), OutputFile)); err != nil {
					t.Fatal(err)
				}
			}
			r := sampleReceipt(key, "LOOP-1", start)
			res, err := st.WriteLinked(r, log, tt.size, HashBytes([]byte(content)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{dir + "/output.log", dir + "/receipt.json"}, res.Paths); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			out := filepath.Join(root, filepath.FromSlash(dir), OutputFile)
			if got, _ := os.ReadFile(out); string(got) != content {
				t.Errorf("output.log = %q, want %q", got, content)
			}
			if r.OutputSHA256 != HashBytes([]byte(content)) {
				t.Errorf("OutputSHA256 = %q, want the content's", r.OutputSHA256)
			}
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), ReceiptFile))
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := MarshalReceipt(r); string(want) != string(data) {
				t.Errorf("receipt.json = %s, want %s", data, want)
			}
			fiLog, err := os.Stat(log)
			if err != nil {
				t.Fatal(err)
			}
			fiOut, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := os.SameFile(fiLog, fiOut); got != tt.linked {
				t.Errorf("output.log is the log file: %v, want %v", got, tt.linked)
			}
			// A linked output.log is the log file, with its mode; a copy is
			// a new file, made as every file spine makes (fsx.FileMode less
			// the umask).
			want := fsx.FileMode &^ modetest.Umask(t)
			if tt.linked {
				want = tt.perm
			}
			if fiOut.Mode().Perm() != want {
				t.Errorf("output.log mode %v, want %v", fiOut.Mode().Perm(), want)
			}
			if diff := cmp.Diff([]string{"output.log", "receipt.json"}, dirNames(t, filepath.Join(root, filepath.FromSlash(dir)))); diff != "" {
				t.Errorf("run folder (-want +got):\n%s", diff)
			}
			if _, err := st.WriteLinked(sampleReceipt(key, "LOOP-1", start), log, tt.size, r.OutputSHA256); !errors.Is(err, ErrReceiptExists) {
				t.Errorf("second WriteLinked = %v, want ErrReceiptExists", err)
			}
		})
	}
}

func TestReadReceipt(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		data    string
		want    *Receipt
		wantErr string
	}{
		{name: "valid", data: `{"run_key":"CAP-20260301-101500__x__R1","loop_id":"L","status":"pass","exit_code":0,"artifacts":[{"path":"a/b","sha256":"00","size":3}]}`,
			want: &Receipt{RunKey: "CAP-20260301-101500__x__R1", LoopID: "L", Status: "pass", Artifacts: []ArtifactRef{{Path: "a/b", SHA256: "00", Size: 3}}}},
		{name: "unknown fields tolerated", data: "\n {\"run_key\":\"k\",\"future_field\":{\"x\":[1,2]},\"approval\":{\"source\":\"git\",\"commit\":\"abc\",\"author\":\"a <a@b>\"}}",
			want: &Receipt{RunKey: "k", Approval: &Approval{Source: "git", Commit: "abc", Author: "a <a@b>"}}},
		{name: "truncated", data: "{\n  \"run_key\": \"k\",\n  \"loop_id\": ", wantErr: "line 3 column 14"},
		{name: "syntax error", data: "{\n  \"run_key\": \"k\",\n  oops\n}", wantErr: "line 3 column 3"},
		{name: "wrong type", data: "{\n\"exit_code\": \"1\"}", wantErr: "line 2 column"},
		{name: "null", data: "null", wantErr: "not a JSON object"},
		{name: "array", data: "[]", wantErr: "not a JSON object"},
		{name: "empty", data: "", wantErr: "not a JSON object"},
		{name: "trailing garbage", data: `{"run_key":"k"} x`, wantErr: "invalid character"},
		{name: "two objects", data: `{"run_key":"k"}{}`, wantErr: "invalid character"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("r%d.json", i))
			if err := os.WriteFile(p, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadReceipt(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("ReadReceipt = %+v, %v; want error naming %s and containing %q", got, err, p, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadReceipt mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ReadReceipt(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadReceipt(missing) = %v, want ErrNotExist", err)
	}
}

// entrySummary is what TestList compares of an Entry.
type entrySummary struct {
	RunKey, Dir, Loop string
	Err               bool
}

func summarize(es []Entry) []entrySummary {
	var out []entrySummary
	for _, e := range es {
		s := entrySummary{RunKey: e.RunKey, Dir: e.Dir, Err: e.Err != nil}
		if e.Receipt != nil {
			s.Loop = e.Receipt.LoopID
		}
		out = append(out, s)
	}
	return out
}

func TestList(t *testing.T) {
	root := t.TempDir()
	st := &Store{Root: root}
	if es, err := st.List(); err != nil || len(es) != 0 {
		t.Fatalf("List of a repo without receipts = %v, %v", es, err)
	}
	day1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	day2 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	k1 := testKey(day1, "b", 1)
	k2 := testKey(day1, "a", 2) // same second as k1: run key breaks the tie
	k3 := testKey(day2, "c", 3)
	k4 := testKey(day1.Add(time.Hour), "d", 4)
	for _, w := range []struct {
		key     string
		started string
	}{
		{k1, "2026-03-01T10:00:00Z"},
		{k2, "2026-03-01T10:00:00.000Z"},
		{k3, "2026-03-02T09:00:00Z"},
		{k4, "2026-03-01T10:00:00.5Z"}, // started before its key's time says
	} {
		r := sampleReceipt(w.key, "LOOP-1", day1)
		r.StartedAt = w.started
		if _, err := st.Write(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	kNoReceipt := testKey(day2, "interrupted", 5)
	kCorrupt := testKey(day2.Add(time.Minute), "corrupt", 6)
	kLink := testKey(day2, "link", 7)
	kFile := testKey(day2, "file", 8)
	outside := t.TempDir()
	mkTree(t, outside, "2026/03/03/"+testKey(day2, "outside", 9)+"/receipt.json")
	mkTree(t, root,
		"receipts/2026/03/02/"+kNoReceipt+"/output.log",
		"receipts/2026/03/02/"+kCorrupt+"/receipt.json",
		"receipts/2026/03/02/"+kLink+" -> "+filepath.Join(root, "receipts/2026/03/01", k1),
		"receipts/2026/03/02/"+kFile,
		"receipts/2026/03/02/.tmp-folder/",
		"receipts/2026/03/02/notes.txt",
		"receipts/2026/03/02/not-a-key/",
		"receipts/2026/03/xx/",
		"receipts/2026/3/",
		"receipts/README.md",
		"receipts/2027 -> "+outside,
	)
	got, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := "receipts/2026/03/01/", "receipts/2026/03/02/"
	want := []entrySummary{
		// not-a-key has no receipt.json and no key time: it sorts first.
		{RunKey: "not-a-key", Dir: d2 + "not-a-key", Err: true},
		{RunKey: k2, Dir: d1 + k2, Loop: "LOOP-1"},
		{RunKey: k1, Dir: d1 + k1, Loop: "LOOP-1"},
		{RunKey: k4, Dir: d1 + k4, Loop: "LOOP-1"},
		{RunKey: k3, Dir: d2 + k3, Loop: "LOOP-1"},
		{RunKey: kFile, Dir: d2 + kFile, Err: true},
		{RunKey: kNoReceipt, Dir: d2 + kNoReceipt, Err: true},
		{RunKey: kLink, Dir: d2 + kLink, Err: true},
		{RunKey: kCorrupt, Dir: d2 + kCorrupt, Err: true},
	}
	if diff := cmp.Diff(want, summarize(got)); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}
	for _, e := range got {
		switch e.RunKey {
		case kNoReceipt:
			if !errors.Is(e.Err, fs.ErrNotExist) {
				t.Errorf("%s: Err = %v, want ErrNotExist", e.RunKey, e.Err)
			}
		case kCorrupt:
			if e.Hash != HashBytes([]byte("x")) {
				t.Errorf("corrupt receipt: Hash = %q, want the hash of its bytes", e.Hash)
			}
		case k1:
			data, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(e.Dir), ReceiptFile))
			if e.Hash != ChainHash(data) {
				t.Errorf("Hash = %q, want %q", e.Hash, ChainHash(data))
			}
		}
	}

	// A receipt.json that is a symlink is not followed.
	kSym := testKey(day2, "symfile", 10)
	mkTree(t, root, "receipts/2026/03/02/"+kSym+"/receipt.json -> "+filepath.Join(root, "receipts/2026/03/01", k1, ReceiptFile))
	got, err = st.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.RunKey == kSym && (e.Err == nil || e.Receipt != nil) {
			t.Errorf("symlinked receipt.json was followed: %+v", e)
		}
	}

	if _, err := (&Store{Root: root, Dir: "../x"}).List(); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("List with an escaping Dir = %v, want ErrUnsafePath", err)
	}
}

func TestChainTips(t *testing.T) {
	mk := func(key, loop, prev, hash string) Entry {
		return Entry{RunKey: key, Hash: hash, Receipt: &Receipt{RunKey: key, LoopID: loop, Prev: prev}}
	}
	day := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	k := func(n int) string { return testKey(day, "s", n) }
	tests := []struct {
		name    string
		entries []Entry
		want    map[string]string
	}{
		{name: "empty", want: map[string]string{}},
		{
			name: "two loops, keys out of order",
			entries: []Entry{
				mk(k(3), "A", "h2", "h3"), mk(k(1), "A", "", "h1"), mk(k(2), "A", "h1", "h2"),
				mk(k(5), "B", "", "h5"),
				{RunKey: k(9), Err: errors.New("corrupt"), Hash: "h9"},
			},
			want: map[string]string{"A": "h3", "B": "h5"},
		},
		{
			// Same start second: the chain, not the random id, decides.
			name:    "chain order beats key order",
			entries: []Entry{mk(k(2), "A", "", "h2"), mk(k(1), "A", "h2", "h1")},
			want:    map[string]string{"A": "h1"},
		},
		{
			name:    "broken chain: last unreferenced in run order",
			entries: []Entry{mk(k(1), "A", "", "h1"), mk(k(2), "A", "gone", "h2"), mk(k(3), "A", "h2", "h3x")},
			want:    map[string]string{"A": "h3x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ChainTips(tt.entries)); diff != "" {
				t.Errorf("ChainTips mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzReadReceipt(f *testing.F) {
	r := sampleReceipt("CAP-20260301-101500__zfs.pool__Rabcdefghij", "LOOP-1", time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC))
	r.Approval = &Approval{Source: "git", Commit: "abc123", Author: "Ops <ops@example.com>"}
	r.Artifacts = []ArtifactRef{{Path: "artifacts/loop-1/10-list.txt", SHA256: HashBytes(nil), Size: 12}}
	r.Checks = []CheckResult{{ID: "D188", Title: "media", Status: "pass", Blocking: true}}
	full, _ := MarshalReceipt(r)
	f.Add(full)
	f.Add([]byte(`{"run_key":"S20260227-231501__session__R1","loop_id":"L","unknown":[1,{"a":null}],"exit_code":-1}`))
	f.Add([]byte(`{"command":"\ud800 \u0000 \xff","prev":""}`))
	f.Add([]byte(`{"exit_code":1e3}`))
	f.Add([]byte(`{"duration_ms":9223372036854775808}`))
	f.Add([]byte("null"))
	f.Add([]byte(`{"artifacts":null,"approval":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeReceipt(data)
		if err != nil {
			return
		}
		// Whatever parses must survive a write and a read unchanged.
		out, err := MarshalReceipt(r)
		if err != nil {
			t.Fatalf("MarshalReceipt of a decoded receipt: %v", err)
		}
		back, err := DecodeReceipt(out)
		if err != nil {
			t.Fatalf("DecodeReceipt of MarshalReceipt output: %v\n%s", err, out)
		}
		if diff := cmp.Diff(r, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
		if CommandSHA256(r.Command) != CommandSHA256(back.Command) {
			t.Fatal("command hash changed through a round trip")
		}
		again, _ := MarshalReceipt(back)
		if string(again) != string(out) {
			t.Fatalf("MarshalReceipt not stable:\n%s\n%s", out, again)
		}
	})
}
