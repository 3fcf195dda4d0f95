package pipeline

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
)

// writeTestReceipts writes n receipts of loop LOOP-H into root's receipts
// folder, starting at start, one minute apart, and returns their folders.
func writeTestReceipts(t *testing.T, root string, start time.Time, n int, seed uint64) []string {
	t.Helper()
	store := &artifacts.Store{Root: root, DeferSync: true}
	rnd := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	var dirs []string
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * time.Minute)
		rk, err := artifacts.NewRunKey(at, "step.s1", rnd)
		if err != nil {
			t.Fatal(err)
		}
		status := []string{artifacts.StatusPass, artifacts.StatusFail, artifacts.StatusBlocked}[i%3]
		rc := &artifacts.Receipt{
			RunKey: rk, LoopID: "LOOP-H", Stage: "Stage 1", Step: fmt.Sprintf("s%d", i%4),
			Command: "true\n", CommandSHA256: artifacts.CommandSHA256("true\n"),
			StartedAt: at.Format(time.RFC3339Nano), FinishedAt: at.Add(1500 * time.Millisecond).Format(time.RFC3339Nano),
			Status: status, ExitCode: i % 3, AllowFailure: i%5 == 0, Gate: map[bool]string{true: "PROD_OK"}[i%2 == 0],
			Note: map[bool]string{true: "a note with\nnewline and ünïcode"}[i%7 == 0],
		}
		res, err := store.WriteReceipt(rc)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, res.Dir)
	}
	return dirs
}

// fresh loads the history without an index: what every cached load must
// equal.
func fresh(t *testing.T, root string) []Run {
	t.Helper()
	h, err := LoadHistory(root, "receipts", "")
	if err != nil {
		t.Fatal(err)
	}
	return h.All()
}

func loadCached(t *testing.T, root, state string) []Run {
	t.Helper()
	h, err := LoadHistory(root, "receipts", state)
	if err != nil {
		t.Fatal(err)
	}
	return h.All()
}

// TestLoadHistoryIndex checks that the receipt index never changes what
// LoadHistory returns: built cold, used warm, after receipts arrive (a
// pull), after receipts disappear, and when the index file is damaged.
func TestLoadHistoryIndex(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	dirs := writeTestReceipts(t, root, start, 30, 1)
	// A receipt with a non-UTC time and one that cannot be read.
	other := writeTestReceipts(t, root, start.Add(-time.Hour).In(time.FixedZone("X", 3600)), 1, 2)
	badKey, err := artifacts.NewRunKey(start, "step.bad", nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(root, "receipts", "2026", "03", "01", badKey)
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "receipt.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fresh(t, root)
	if len(want) != 32 {
		t.Fatalf("%d runs, want 32", len(want))
	}
	steps := []struct {
		name   string
		change func(t *testing.T)
	}{
		{"cold", func(*testing.T) {}},
		{"cached", func(*testing.T) {}},
		{"pulled receipts", func(t *testing.T) {
			writeTestReceipts(t, root, start.Add(24*time.Hour), 5, 3)
		}},
		{"cached after pull", func(*testing.T) {}},
		{"receipts removed", func(t *testing.T) {
			for _, d := range append(dirs[3:6], other...) {
				if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(d))); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"unreadable receipt fixed", func(t *testing.T) {
			if err := os.RemoveAll(bad); err != nil {
				t.Fatal(err)
			}
		}},
		{"cached, complete", func(*testing.T) {}},
		{"index truncated", func(t *testing.T) {
			p := filepath.Join(state, indexName)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data[:len(data)/2], 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"index byte flipped", func(t *testing.T) {
			p := filepath.Join(state, indexName)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/3] ^= 0x20
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"index is the old JSON", func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(state, indexName), []byte(`{"version":1,"runs":{}}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"same count, other folders", func(t *testing.T) {
			// Swap one receipt for another: the count stays the same.
			if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(dirs[10]))); err != nil {
				t.Fatal(err)
			}
			writeTestReceipts(t, root, start.Add(48*time.Hour), 1, 4)
		}},
	}
	for _, s := range steps {
		s.change(t)
		want := fresh(t, root)
		got := loadCached(t, root, state)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: cached history differs from a fresh read (-fresh +cached):\n%s", s.name, diff)
		}
	}
	if _, err := os.Stat(filepath.Join(state, indexName)); err != nil {
		t.Fatalf("no index written: %v", err)
	}
}

// TestLoadHistoryIndexComplete checks that a complete index is used whole
// (no receipt.json read) and an incomplete one is not: a receipt that
// could not be read is read again on the next load.
func TestLoadHistoryIndexComplete(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	dirs := writeTestReceipts(t, root, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), 4, 1)
	loadCached(t, root, state)
	// Receipts are immutable: a cached load does not read them again, so
	// damaging one after the index was written does not show.
	p := filepath.Join(root, filepath.FromSlash(dirs[0]), "receipt.json")
	if err := os.WriteFile(p, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, r := range loadCached(t, root, state) {
		if r.Err != "" {
			t.Fatalf("cached load read %s again: %s", r.Dir, r.Err)
		}
	}
	// Without the index it is read, and fails; the index written then is
	// incomplete, so the next load reads it again.
	if err := os.Remove(filepath.Join(state, indexName)); err != nil {
		t.Fatal(err)
	}
	errs := func() int {
		n := 0
		for _, r := range loadCached(t, root, state) {
			if r.Err != "" {
				n++
			}
		}
		return n
	}
	if n := errs(); n != 1 {
		t.Fatalf("%d unreadable runs, want 1", n)
	}
	if n := errs(); n != 1 {
		t.Fatalf("second load: %d unreadable runs, want 1", n)
	}
}

// TestLoadHistorySource checks a history that takes receipts from a
// ReceiptSource (a site build's): it equals one that reads them all, the
// source is asked only when the index lacks folders and only for those,
// folders the source lacks are read from disk, and the index it writes is
// the one a plain load writes.
func TestLoadHistorySource(t *testing.T) {
	root := t.TempDir()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	dirs := writeTestReceipts(t, root, start, 12, 3)
	// One receipt the source cannot give: it is read from disk.
	const notShared = 5
	// The source decodes every receipt but notShared from its bytes, as
	// a site build does; its strings alias buffers it then overwrites, so
	// a run that kept them would show it.
	var bufs [][]byte
	recs := map[string]*artifacts.Receipt{}
	hashes := map[string]string{}
	for i, d := range dirs {
		if i == notShared {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(d), "receipt.json"))
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := artifacts.DecodeReceiptShared(data)
		if err != nil {
			t.Fatal(err)
		}
		recs[d], hashes[d] = rc, artifacts.ChainHash(data)
		bufs = append(bufs, data)
	}
	want := fresh(t, root)
	var asked []string
	calls := 0
	opts := HistoryOptions{Source: func() ReceiptSource {
		calls++
		return func(dir string) (*artifacts.Receipt, string, bool) {
			asked = append(asked, dir)
			rc, ok := recs[dir]
			return rc, hashes[dir], ok
		}
	}}

	plainState, state := t.TempDir(), t.TempDir()
	if _, err := LoadHistory(root, "receipts", plainState); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHistoryWith(root, "receipts", state, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bufs {
		for i := range b {
			b[i] = 'x'
		}
	}
	if diff := cmp.Diff(want, h.All()); diff != "" {
		t.Fatalf("history from the source differs (-read +source):\n%s", diff)
	}
	if calls != 1 || len(asked) != len(dirs) {
		t.Fatalf("source called %d times and asked for %d folders, want once for all %d", calls, len(asked), len(dirs))
	}
	plainIdx, err := os.ReadFile(filepath.Join(plainState, indexName))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(state, indexName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(idx, plainIdx) {
		t.Fatal("the receipt index written from the source differs from the one a plain load writes")
	}

	// A complete index is used whole: the source is not asked.
	calls, asked = 0, nil
	if h, err = LoadHistoryWith(root, "receipts", state, opts); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatalf("source called %d times with a complete index", calls)
	}
	if diff := cmp.Diff(want, h.All()); diff != "" {
		t.Fatalf("history from the complete index differs (-read +index):\n%s", diff)
	}
	// Receipts that arrived since (a pull): the source is asked for
	// those only.
	more := writeTestReceipts(t, root, start.Add(time.Hour), 2, 4)
	if h, err = LoadHistoryWith(root, "receipts", state, opts); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || !reflect.DeepEqual(asked, more) {
		t.Fatalf("source called %d times for %q, want once for the new %q", calls, asked, more)
	}
	if diff := cmp.Diff(fresh(t, root), h.All()); diff != "" {
		t.Fatalf("history after a pull differs (-read +source):\n%s", diff)
	}

	// A nil source: every folder read from disk.
	if h, err = LoadHistoryWith(root, "receipts", "", HistoryOptions{Source: func() ReceiptSource { return nil }}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fresh(t, root), h.All()); diff != "" {
		t.Fatalf("history with a nil source differs (-read +nil):\n%s", diff)
	}
}

// TestIndexRoundTrip checks encodeIndex and decodeIndex on every kind of
// field value.
func TestIndexRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		runs []Run
	}{
		{"empty", []Run{}},
		{"fields", []Run{
			{RunKey: "k1", LoopID: "L", Stage: "S", Step: "s", Status: "pass", Started: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
				Finished: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), CommandSHA: "abc", ExitCode: -3, AllowFailure: true,
				Gate: "G", Note: "n\x00ote", Summary: "3/4", Hash: "h", Prev: "p", Dir: "receipts/2026/01/02/k1"},
			{RunKey: "k2", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -7*3600)), ExitCode: 1 << 40},
			{RunKey: "k3", Started: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Finished: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			digest := listingDigest([]string{"a", "b"})
			ix, err := decodeIndex(string(encodeIndex(tt.runs, digest)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.runs, ix.runs); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if ix.digest != digest || !ix.complete {
				t.Errorf("digest or completeness lost")
			}
		})
	}
}

// FuzzDecodeIndex checks that no input makes decodeIndex panic.
func FuzzDecodeIndex(f *testing.F) {
	f.Add(encodeIndex([]Run{{RunKey: "k", Started: time.Unix(5, 0).UTC()}}, listingDigest(nil)))
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeIndex(string(data))
	})
}

// TestLoadHistoryUnsafeReceipts checks that the history does not follow a
// receipt.json that is a symbolic link, nor read one over the size bound:
// both are runs whose receipt cannot be read (Err), which the planner
// holds (see TestDamagedReceiptNotRerun), never receipts taken at face
// value.
func TestLoadHistoryUnsafeReceipts(t *testing.T) {
	root := t.TempDir()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	dirs := writeTestReceipts(t, root, start, 3, 1)
	target := filepath.Join(t.TempDir(), "elsewhere.json")
	good := filepath.Join(root, filepath.FromSlash(dirs[0]), artifacts.ReceiptFile)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(good); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, good); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	huge := filepath.Join(root, filepath.FromSlash(dirs[1]), artifacts.ReceiptFile)
	if err := os.WriteFile(huge, append(bytes.Repeat([]byte(" "), 16<<20), "{}"...), 0o644); err != nil {
		t.Fatal(err)
	}
	byDir := map[string]Run{}
	for _, r := range fresh(t, root) {
		byDir[r.Dir] = r
	}
	for _, c := range []struct{ dir, want string }{{dirs[0], "symbolic link"}, {dirs[1], "larger than"}} {
		if r := byDir[c.dir]; !strings.Contains(r.Err, c.want) {
			t.Errorf("%s: Err %q, want it to say %q", c.dir, r.Err, c.want)
		}
	}
	if r := byDir[dirs[2]]; r.Err != "" || r.LoopID != "LOOP-H" {
		t.Errorf("%s: %+v, want the receipt read", dirs[2], r)
	}
	h, err := LoadHistory(root, "receipts", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(h.Damaged("step.s1")); got != 2 {
		t.Errorf("Damaged(step.s1): %d runs, want 2", got)
	}
}

// TestRunFromDataOwnsItsStrings: a run decoded from receipt.json bytes
// keeps none of them (the bytes are overwritten afterwards, and the run is
// unchanged), for a receipt the fast decoder takes and one it leaves to
// encoding/json; every string field of Run that comes from the receipt is
// filled, so that one left sharing the bytes would show.
func TestRunFromDataOwnsItsStrings(t *testing.T) {
	rc := &artifacts.Receipt{
		RunKey: "CAP-20260301-101500__step.x__Rk3j9x0abcd", LoopID: "LOOP-X", Stage: "Stage 1: Look", Step: "x",
		Status: artifacts.StatusFail, CommandSHA256: "c0ffee", Gate: "ALLOW_X", Note: "a note", Summary: "3 checks",
		StartedAt: "2026-03-01T10:15:00Z", FinishedAt: "2026-03-01T10:15:02Z", ExitCode: 4, AllowFailure: true,
		Prev: "5e1f0c",
	}
	data, err := artifacts.MarshalReceipt(rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"fast decoder", data},
		// An unknown member: left to encoding/json.
		{"encoding/json", append([]byte(`{"x-unknown": 1, `), bytes.TrimPrefix(bytes.TrimSpace(data), []byte("{"))...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := runFromData(bytes.Clone(tc.data), "receipt.json", "receipts/2026/03/01/"+rc.RunKey)
			if want.Err != "" {
				t.Fatal(want.Err)
			}
			v := reflect.ValueOf(want)
			for i := range v.NumField() {
				if f := v.Field(i); f.Kind() == reflect.String && f.String() == "" && v.Type().Field(i).Name != "Err" {
					t.Fatalf("the test's receipt leaves Run.%s empty", v.Type().Field(i).Name)
				}
			}
			buf := bytes.Clone(tc.data)
			got := runFromData(buf, "receipt.json", "receipts/2026/03/01/"+rc.RunKey)
			for i := range buf {
				buf[i] = 'X'
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("run after its bytes were overwritten (-want +got):\n%s", diff)
			}
		})
	}
}

// With SaveLater the receipt index is written after LoadHistoryWith
// returns; WaitSaved waits for it, and it is byte for byte the one a plain
// load writes. A history with nothing to write (the index was complete),
// one loaded without SaveLater and a nil one do not block.
func TestLoadHistorySaveLater(t *testing.T) {
	root := t.TempDir()
	writeTestReceipts(t, root, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), 12, 3)
	plainState, state := t.TempDir(), t.TempDir()
	if _, err := LoadHistory(root, "receipts", plainState); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHistoryWith(root, "receipts", state, HistoryOptions{SaveLater: true})
	if err != nil {
		t.Fatal(err)
	}
	if h.saved == nil {
		t.Fatal("SaveLater: no save pending")
	}
	h.WaitSaved()
	want, err := os.ReadFile(filepath.Join(plainState, indexName))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(state, indexName))
	if err != nil {
		t.Fatalf("index not written once WaitSaved returned: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("index written later (%d bytes) differs from a plain load's (%d bytes)", len(got), len(want))
	}
	if tmp, _ := filepath.Glob(filepath.Join(state, ".*tmp*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		again, err := LoadHistoryWith(root, "receipts", state, HistoryOptions{SaveLater: true})
		if err != nil {
			t.Error(err)
			return
		}
		again.WaitSaved() // the index was complete: nothing written
		plain, err := LoadHistory(root, "receipts", t.TempDir())
		if err != nil {
			t.Error(err)
			return
		}
		plain.WaitSaved()
		var none *History
		none.WaitSaved()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("WaitSaved blocked with nothing to write")
	}
}

// TestChainTipFollowsTheLinks: a loop's chain tip is the receipt no other
// names as prev, not the one that started last (receipts chained anew by
// a push follow the remote's, whenever they ran); of a broken chain's
// several, the last in history order.
func TestChainTipFollowsTheLinks(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 3, 1, 10, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		runs []Run
		want string
	}{
		{"none", nil, ""},
		{"in order", []Run{{LoopID: "L", Hash: "a", Started: at(1)}, {LoopID: "L", Hash: "b", Prev: "a", Started: at(2)}}, "b"},
		{"chained after a later one", []Run{
			{LoopID: "L", Hash: "base", Started: at(0)},
			{LoopID: "L", Hash: "ours", Prev: "theirs", Started: at(1)},
			{LoopID: "L", Hash: "theirs", Prev: "base", Started: at(2)},
			{LoopID: "M", Hash: "other", Prev: "ours", Started: at(3)},
		}, "ours"},
		{"a fork: the last of its tips", []Run{
			{LoopID: "L", Hash: "base", Started: at(0)},
			{LoopID: "L", Hash: "x", Prev: "base", Started: at(1)},
			{LoopID: "L", Hash: "y", Prev: "base", Started: at(2)},
		}, "y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewHistory(tc.runs).ChainTip("L"); got != tc.want {
				t.Errorf("ChainTip = %q, want %q", got, tc.want)
			}
		})
	}
}
