package site

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
)

// TestReceiptStateRoundTrip checks that a receipt recorded in the state
// comes back, for an unchanged stat, as reading its receipt.json gives it:
// the same bytes, chain hash and decoded fields (by the fast decoder, or by
// artifacts.DecodeReceipt where it gives up), and that a changed stat is a
// miss.
func TestReceiptStateRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"as spine writes it", `{
  "run_key": "K1",
  "loop_id": "LOOP-A",
  "command": "printf '%s\\n' a\n",
  "command_sha256": "12e2",
  "started_at": "2026-01-01T08:34:25Z",
  "duration_ms": 3543,
  "exit_code": 1,
  "status": "fail",
  "approval": {"source": "env", "commit": "", "author": "dana"},
  "artifacts": [{"path": "a.txt", "sha256": "ab", "size": 3}],
  "checks": null,
  "prev": ""
}`},
		// A surrogate escape makes the fast decoder give up.
		{"fast decoder gives up", `{"run_key": "K2", "note": "\ud83d\ude00 <é>", "exit_code": 0}`},
		{"empty object", `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			raw := []byte(tc.raw)
			want, _, err := artifacts.DecodeReceiptShared(raw)
			if err != nil {
				t.Fatal(err)
			}
			st := fileStat{Size: int64(len(raw)), Mtime: -5, Ctime: 1 << 62, Ino: 1<<64 - 1, Dev: 26}
			r := &receiptRec{Entry: artifacts.Entry{RunKey: "k", Dir: "receipts/2026/03/01/k", Hash: artifacts.ChainHash(raw), Receipt: want}, Raw: raw, rstat: st}
			if err := (&receiptState{at: map[string]stateEntry{}}).save(dir, []*receiptRec{r}, [][]byte{raw}); err != nil {
				t.Fatal(err)
			}
			for _, oneShot := range []bool{false, true} {
				s := readReceiptState(dir, oneShot)
				got := &receiptRec{Entry: artifacts.Entry{RunKey: r.RunKey, Dir: r.Dir}}
				if !s.take(got, func() (fileStat, bool) { return st, true }) {
					t.Fatalf("one-shot %v: recorded receipt not found", oneShot)
				}
				// A one-shot build reads the bytes again for the page;
				// a long-lived builder keeps them.
				gotRaw := got.Raw
				if oneShot {
					if gotRaw != nil {
						t.Errorf("one-shot build keeps the receipt's bytes in memory")
					}
					gotRaw = s.raw(got.rawAt)
				}
				if got.rstat != st || got.Hash != r.Hash || string(gotRaw) != tc.raw || !got.fromState {
					t.Errorf("one-shot %v: stat %+v hash %q raw %q fromState %v, want %+v %q %q true", oneShot, got.rstat, got.Hash, gotRaw, got.fromState, st, r.Hash, tc.raw)
				}
				if diff := cmp.Diff(want, got.Receipt); diff != "" {
					t.Errorf("one-shot %v: receipt (-want +got):\n%s", oneShot, diff)
				}
				for _, changed := range []fileStat{
					{Size: st.Size + 1, Mtime: st.Mtime, Ctime: st.Ctime, Ino: st.Ino, Dev: st.Dev},
					{Size: st.Size, Mtime: st.Mtime + 1, Ctime: st.Ctime, Ino: st.Ino, Dev: st.Dev},
					{Size: st.Size, Mtime: st.Mtime, Ctime: st.Ctime + 1, Ino: st.Ino, Dev: st.Dev},
					{Size: st.Size, Mtime: st.Mtime, Ctime: st.Ctime, Ino: st.Ino - 1, Dev: st.Dev},
					{Size: st.Size, Mtime: st.Mtime, Ctime: st.Ctime, Ino: st.Ino, Dev: st.Dev + 1},
				} {
					if s.take(&receiptRec{Entry: artifacts.Entry{Dir: r.Dir}}, func() (fileStat, bool) { return changed, true }) {
						t.Errorf("one-shot %v: stat %+v taken for the recorded %+v", oneShot, changed, st)
					}
				}
				if s.take(&receiptRec{Entry: artifacts.Entry{Dir: r.Dir}}, func() (fileStat, bool) { return st, false }) {
					t.Errorf("one-shot %v: a receipt.json that is not a regular file taken from the state", oneShot)
				}
				s.close()
				if s.take(&receiptRec{Entry: artifacts.Entry{Dir: r.Dir}}, func() (fileStat, bool) { return st, true }) && oneShot {
					t.Errorf("a closed state still takes receipts")
				}
			}
		})
	}
}

// TestReceiptStateCorrupt checks that nothing is taken from a damaged
// state file: a damaged index (or magic, or trailer) makes the file
// ignored whole, a damaged record is a miss while the other records are
// still taken, and a truncated file is ignored.
func TestReceiptStateCorrupt(t *testing.T) {
	out := t.TempDir()
	st := fileStat{Size: 1, Mtime: 2, Ctime: 3, Ino: 4, Dev: 5}
	var recs []*receiptRec
	for _, k := range []string{"k1", "k2"} {
		recs = append(recs, &receiptRec{Entry: artifacts.Entry{RunKey: k, Dir: "receipts/2026/03/01/" + k, Hash: "h", Receipt: &artifacts.Receipt{RunKey: k}}, rstat: st})
	}
	if err := (&receiptState{at: map[string]stateEntry{}}).save(out, recs, [][]byte{[]byte(`{"run_key":"k1"}`), []byte(`{"run_key":"k2"}`)}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, ReceiptStateName)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := readReceiptState(out, false)
	if len(s.at) != 2 {
		t.Fatalf("state read back holds %d records, want 2", len(s.at))
	}
	// takes reports which of the two receipts the state gives.
	takes := func(s *receiptState) (got [2]bool) {
		for i, r := range recs {
			got[i] = s.take(&receiptRec{Entry: artifacts.Entry{RunKey: r.RunKey, Dir: r.Dir}}, func() (fileStat, bool) { return st, true })
		}
		return got
	}
	if got := takes(s); got != [2]bool{true, true} {
		t.Fatalf("intact state: taken %v, want both", got)
	}
	inRecord := func(i int) int {
		for k, r := range recs {
			if e := s.at[r.Dir]; i >= e.off && i < e.off+e.n {
				return k
			}
		}
		return -1
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, oneShot := range []bool{false, true} {
			s := readReceiptState(out, oneShot)
			got := takes(s)
			s.close()
			want := [2]bool{}
			if k := inRecord(i); k >= 0 {
				want = [2]bool{true, true}
				want[k] = false
			}
			if got != want {
				t.Fatalf("byte %d flipped (one-shot %v): taken %v, want %v", i, oneShot, got, want)
			}
		}
	}
	if err := os.WriteFile(path, good[:len(good)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if s := readReceiptState(out, false); len(s.at) != 0 {
		t.Fatalf("truncated file: %d records read, want none", len(s.at))
	}
}

// TestReceiptStateDetectsEdits builds the site with fresh Builders, as
// separate `spine site build` processes do: once the receipts are recorded
// in ReceiptStateName, a receipt.json edited in place (same size) or
// replaced must show as a build without the state shows it, and a site
// built with the state must be the site built without it.
func TestReceiptStateDetectsEdits(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	copyDir(t, filepath.Join("testdata", "repo"), repo)
	// state is the repository's state folder, which the builds share
	// as `spine site build` processes share .git/spine.
	state := t.TempDir()
	build := func(out string) Stats {
		t.Helper()
		return buildFixture(t, repo, out, state)
	}
	// same checks that the site in out is the one a build without any
	// recorded state writes.
	same := func(out string) {
		t.Helper()
		fresh := filepath.Join(t.TempDir(), "public")
		buildFixture(t, repo, fresh, "")
		want, got := readSite(t, fresh), readSite(t, out)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("site built with the recorded state differs from a fresh build (-fresh +state):\n%s", diff)
		}
	}
	out := filepath.Join(t.TempDir(), "public")
	build(out)
	// The receipts were just copied: too recent to be recorded. Once
	// they are older than the racy window, a build records them.
	time.Sleep(racyWindow + 100*time.Millisecond)
	build(out)
	const key = "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd"
	data, err := os.ReadFile(filepath.Join(state, StateSubdir, ReceiptStateName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), key) {
		t.Fatalf("%s does not record %s", ReceiptStateName, key)
	}
	if st := build(out); st.Written != 0 {
		t.Errorf("a build from the recorded state wrote %v", st.WrittenPaths)
	}
	same(out)

	receipt := filepath.Join(repo, "receipts", "2026", "03", "01", key, "receipt.json")
	orig, err := os.ReadFile(receipt)
	if err != nil {
		t.Fatal(err)
	}
	// Edited in place, same size, timestamps put back: only the change
	// time tells.
	editInPlace(t, receipt, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"host": "pve"`), []byte(`"host": "PVE"`), 1)
	})
	build(out)
	page, err := os.ReadFile(filepath.Join(out, "receipts", key, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("PVE")) {
		t.Errorf("edited receipt not shown:\n%s", page)
	}
	same(out)

	// Replaced by a file of the original content.
	tmp := receipt + ".new"
	if err := os.WriteFile(tmp, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, receipt); err != nil {
		t.Fatal(err)
	}
	build(out)
	same(out)
}

// readSite returns every file of the site in out but the build's own
// records (readTree without the .spine files), by slash-separated path.
func readSite(t *testing.T, out string) map[string]string {
	t.Helper()
	files := readTree(t, out)
	for p := range files {
		if strings.HasPrefix(path.Base(p), ".spine") {
			delete(files, p)
		}
	}
	return files
}

// buildFixture builds the site of the repository repo (a copy of the
// fixture) into out with a fresh Builder, as a `spine site build` process
// does, with the state folder state ("" for none).
func buildFixture(t *testing.T, repo, out, state string) Stats {
	t.Helper()
	cfg, err := config.Load(repo)
	if err != nil {
		cfg = config.Default()
	}
	paths, err := loops.Discover(repo, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Build(context.Background(), Options{Root: repo, Out: out, Config: cfg, Set: loops.Load(repo, paths), Now: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// readTree returns every file under dir, dot-files included, by
// slash-separated path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestFreshOutputWarmState builds into a fresh output folder with the
// records of an earlier build (of another output folder) in the state
// folder: the build must take every receipt and log from them (the
// records are not written again) and write, byte for byte, the tree a
// build without any record writes.
func TestFreshOutputWarmState(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	copyDir(t, filepath.Join("testdata", "repo"), repo)
	state := t.TempDir()
	// Inputs changed within the racy window are not recorded.
	time.Sleep(racyWindow + 100*time.Millisecond)
	buildFixture(t, repo, filepath.Join(t.TempDir(), "first"), state)
	stat := func(name string) os.FileInfo {
		t.Helper()
		fi, err := os.Stat(filepath.Join(state, StateSubdir, name))
		if err != nil {
			t.Fatalf("no record after a build: %v", err)
		}
		return fi
	}
	recorded := map[string]os.FileInfo{ReceiptStateName: stat(ReceiptStateName), SumsName: stat(SumsName)}
	if s := readReceiptState(filepath.Join(state, StateSubdir), false); len(s.at) == 0 {
		t.Fatal("no receipt recorded")
	}

	warm := filepath.Join(t.TempDir(), "public")
	buildFixture(t, repo, warm, state)
	for name, before := range recorded {
		if !os.SameFile(before, stat(name)) {
			t.Errorf("%s written again by a build from the records: an input was read again", name)
		}
	}
	cold := filepath.Join(t.TempDir(), "public")
	buildFixture(t, repo, cold, "")
	if diff := cmp.Diff(readTree(t, cold), readTree(t, warm)); diff != "" {
		t.Errorf("fresh output folder built from the records differs from a build without them (-cold +warm):\n%s", diff)
	}
}

// TestStateNotInOutput checks that a build writes no record of its inputs
// into the output folder, with or without a state folder, and removes the
// ones earlier versions left there (unread: they would be published).
func TestStateNotInOutput(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	copyDir(t, filepath.Join("testdata", "repo"), repo)
	tests := []struct {
		name  string
		state string
	}{
		{"state folder", t.TempDir()},
		{"no state folder", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "public")
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, name := range legacyStateNames {
				if err := os.WriteFile(filepath.Join(out, name), []byte("left by an earlier version"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 2; i++ {
				buildFixture(t, repo, out, tc.state)
				var dotFiles []string
				for p := range readTree(t, out) {
					if strings.HasPrefix(path.Base(p), ".") && p != ManifestName {
						dotFiles = append(dotFiles, p)
					}
				}
				if len(dotFiles) > 0 {
					t.Errorf("build %d: files other than the manifest in the output folder: %v", i+1, dotFiles)
				}
			}
		})
	}
}

// TestStateRebuildSeesRunFolderChanges builds the site with fresh
// Builders sharing a state folder, as `spine site build` processes do:
// once every receipt and log is recorded, a change to a run folder's
// files (each taken from one stat by such a build) must show on the next
// build, which must write the site a build without any record writes.
func TestStateRebuildSeesRunFolderChanges(t *testing.T) {
	const key = "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd"
	runDir := filepath.Join("receipts", "2026", "03", "01", key)
	tests := []struct {
		name string
		file string
		// change changes file in the run folder; the receipt's page
		// must then hold want.
		change func(t *testing.T, file string)
		want   string
	}{
		{
			name: "receipt.json edited in place",
			file: artifacts.ReceiptFile,
			change: editWith(func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"host": "pve"`), []byte(`"host": "PVE"`), 1)
			}),
			want: "PVE",
		},
		{
			name: "output.log edited in place",
			file: artifacts.OutputFile,
			change: editWith(func(b []byte) []byte {
				b[0] ^= 0x20
				return b
			}),
			want: "output.log hashes to",
		},
		{
			name: "receipt.dsse.json added",
			file: artifacts.DSSEFile,
			change: func(t *testing.T, file string) {
				t.Helper()
				if err := os.WriteFile(file, []byte(`{"payloadType":"x","payload":"","signatures":[]}`), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: `<b>signature</b> `,
		},
	}
	for _, tc := range tests {
		// Not in parallel: render.New (in NewBuilder) registers
		// goldmark context keys in a package variable that parsing
		// documents reads.
		t.Run(tc.name, func(t *testing.T) {
			repo := filepath.Join(t.TempDir(), "repo")
			copyDir(t, filepath.Join("testdata", "repo"), repo)
			state := t.TempDir()
			out := filepath.Join(t.TempDir(), "public")
			// The inputs were just copied: too recent to be recorded.
			time.Sleep(racyWindow + 100*time.Millisecond)
			buildFixture(t, repo, out, state)
			if st := buildFixture(t, repo, out, state); st.Written != 0 {
				t.Fatalf("a build from the records wrote %v", st.WrittenPaths)
			}
			page := filepath.Join(out, "receipts", key, "index.html")
			before, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			if tc.file == artifacts.DSSEFile && !bytes.Contains(before, []byte(`<b>signature</b> unsigned`)) {
				t.Fatalf("receipt signed before the change:\n%s", before)
			}
			tc.change(t, filepath.Join(repo, runDir, tc.file))
			st := buildFixture(t, repo, out, state)
			after, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(after, before) || !bytes.Contains(after, []byte(tc.want)) {
				t.Errorf("change not shown (written: %v); page:\n%s", st.WrittenPaths, after)
			}
			fresh := filepath.Join(t.TempDir(), "public")
			buildFixture(t, repo, fresh, "")
			if diff := cmp.Diff(readTree(t, fresh), readTree(t, out)); diff != "" {
				t.Errorf("site built from the records differs from a build without them (-fresh +records):\n%s", diff)
			}
		})
	}
}

// editInPlace rewrites file in place with edit's change, which must keep
// its size, and puts its timestamps back: only the change time and the
// content tell.
func editInPlace(t *testing.T, file string, edit func([]byte) []byte) {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(bytes.Clone(orig))
	if bytes.Equal(edited, orig) || len(edited) != len(orig) {
		t.Fatalf("the edit of %s changes nothing, or the size", file)
	}
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(edited, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// editWith returns a change of a test case that edits its file in place
// (editInPlace).
func editWith(edit func([]byte) []byte) func(t *testing.T, file string) {
	return func(t *testing.T, file string) {
		t.Helper()
		editInPlace(t, file, edit)
	}
}

// stateFuzzReceipts are the receipt.json contents FuzzReadReceiptState's
// seed state records: plain, with every list, with escapes, with what the
// fast decoder leaves to encoding/json, and no receipt at all.
var stateFuzzReceipts = []string{
	`{}`,
	`{"run_key":"k","approval":null,"artifacts":null,"checks":null}`,
	`{"approval":{"source":"git","commit":"abc","author":"Ann <a@b>"},"artifacts":[{"path":"artifacts/a.txt","sha256":"00","size":12}]}`,
	`{"checks":[{"id":"c1","title":"T","status":"fail","exit_code":-1,"duration_ms":5,"blocking":true}]}`,
	`{"command":"echo \"hi\"\n\ttab \u00e9 日本"}`,
	`{"note":"\ud83d\ude00","unknown":1}`,
	`[]`,
	``,
}

// FuzzReadReceiptState reads any content as ReceiptStateName's: it must
// not panic, and whatever it takes must be a receipt whose record checked
// out. It checks the bytes as readReceiptState does after opening the
// file (mapped or read, the same bytes), without the file: an input per
// file written, mapped and removed made it some 30 inputs a second.
func FuzzReadReceiptState(f *testing.F) {
	dir := f.TempDir()
	st := fileStat{Size: 1, Mtime: 2, Ctime: 3, Ino: 4, Dev: 5}
	var recs []*receiptRec
	var raws [][]byte
	for i, raw := range stateFuzzReceipts {
		k := fmt.Sprintf("k%d", i)
		recs = append(recs, &receiptRec{Entry: artifacts.Entry{RunKey: k, Dir: "receipts/2026/03/01/" + k, Hash: "h", Receipt: &artifacts.Receipt{}}, rstat: st})
		raws = append(raws, []byte(raw))
	}
	if err := (&receiptState{at: map[string]stateEntry{}}).save(dir, recs, raws); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, ReceiptStateName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(receiptStateMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		at, ok := readStateIndex(data)
		if !ok {
			return
		}
		s := &receiptState{data: data, at: at}
		for d := range s.at {
			r := &receiptRec{Entry: artifacts.Entry{Dir: d}}
			if s.take(r, func() (fileStat, bool) { return st, true }) && r.Receipt == nil {
				t.Fatalf("%s taken without a receipt", d)
			}
			_ = s.raw(r.rawAt)
		}
	})
}

// TestStateTempsRemoved checks that saving a state file removes the
// temporary files a crashed build left (older than staleTemp), and only
// those: a fresh one may be another build's, writing now.
func TestStateTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ReceiptStateName)
	old := time.Now().Add(-2 * staleTemp)
	stale, fresh, other := path+".tmp-111", path+".tmp-222", filepath.Join(dir, SumsName+".tmp-333")
	for _, p := range []string{stale, fresh, other} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{stale, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	r := &receiptRec{Entry: artifacts.Entry{RunKey: "k", Dir: "receipts/2026/03/01/k", Hash: "h", Receipt: &artifacts.Receipt{}}, rstat: fileStat{Size: 2}}
	if err := (&receiptState{at: map[string]stateEntry{}}).save(dir, []*receiptRec{r}, [][]byte{[]byte("{}")}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{stale: false, fresh: true, other: true, path: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}
