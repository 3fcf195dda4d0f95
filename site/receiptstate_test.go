package site

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/varbin"
	"github.com/spinehq/spine/loops"
)

// fillValue sets every field reachable from v (structs, pointers, slices
// of two elements) to a value distinct from its zero value and from the
// other fields, so that a field the state does not encode shows up.
func fillValue(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("v" + strconv.Itoa(*n) + " <é>\x00")
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(-*n * 1000003))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillValue(v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fillValue(v.Index(i), n)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fillValue(v.Field(i), n)
		}
	default:
		panic("fillValue: add a case for " + v.Kind().String())
	}
}

// TestReceiptStateRoundTrip checks that every field of a receipt comes back
// from the state as json decoding gave it, nil and empty slices apart.
func TestReceiptStateRoundTrip(t *testing.T) {
	full := &artifacts.Receipt{}
	n := 0
	fillValue(reflect.ValueOf(full).Elem(), &n)
	tests := []struct {
		name string
		rc   *artifacts.Receipt
	}{
		{"every field set", full},
		{"zero", &artifacts.Receipt{}},
		{"empty slices", &artifacts.Receipt{Artifacts: []artifacts.ArtifactRef{}, Checks: []artifacts.CheckResult{}, Approval: &artifacts.Approval{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := fileStat{Size: 919, Mtime: -5, Ctime: 1 << 62, Ino: 1<<64 - 1, Dev: 26}
			rec := encodeReceipt(nil, st, "chainhash", tc.rc)
			d := stateDecoder{varbin.Decoder{S: string(rec), Corrupt: errState}}
			gotSt := d.stat()
			gotHash := d.Str()
			got := d.receipt()
			if d.Err != nil || d.Off != len(d.S) {
				t.Fatalf("decode: err %v, %d of %d bytes read", d.Err, d.Off, len(d.S))
			}
			if gotSt != st || gotHash != "chainhash" {
				t.Errorf("stat %+v hash %q, want %+v chainhash", gotSt, gotHash, st)
			}
			if diff := cmp.Diff(tc.rc, got); diff != "" {
				t.Errorf("receipt (-want +got):\n%s", diff)
			}
			if (tc.rc.Artifacts == nil) != (got.Artifacts == nil) || (tc.rc.Checks == nil) != (got.Checks == nil) {
				t.Errorf("nil slices not kept: artifacts %v checks %v", got.Artifacts == nil, got.Checks == nil)
			}
		})
	}
}

// TestReceiptStateCorrupt checks that a damaged state file is ignored whole.
func TestReceiptStateCorrupt(t *testing.T) {
	out := t.TempDir()
	r := &receiptRec{Entry: artifacts.Entry{RunKey: "k", Dir: "receipts/2026/03/01/k", Hash: "h", Receipt: &artifacts.Receipt{RunKey: "k"}},
		rstat: fileStat{Size: 1, Mtime: 2, Ctime: 3, Ino: 4, Dev: 5}}
	if err := (&receiptState{at: map[string]int{}}).save(out, []*receiptRec{r}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, ReceiptStateName)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := readReceiptState(out, false); len(s.at) != 1 {
		t.Fatalf("state read back holds %d records, want 1", len(s.at))
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if s := readReceiptState(out, i%2 == 0); len(s.at) != 0 {
			t.Fatalf("byte %d flipped: %d records read, want none", i, len(s.at))
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
	build := func(out string) Stats {
		t.Helper()
		cfg, err := config.Load(repo)
		if err != nil {
			cfg = config.Default()
		}
		paths, err := loops.Discover(repo, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
		if err != nil {
			t.Fatal(err)
		}
		st, err := Build(context.Background(), Options{Root: repo, Out: out, Config: cfg, Set: loops.Load(repo, paths), Now: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// same checks that the site in out is the one a build without any
	// recorded state writes.
	same := func(out string) {
		t.Helper()
		fresh := filepath.Join(t.TempDir(), "public")
		build(fresh)
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
	data, err := os.ReadFile(filepath.Join(out, ReceiptStateName))
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
	fi, err := os.Stat(receipt)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(orig, []byte(`"host": "pve"`), []byte(`"host": "PVE"`), 1)
	if bytes.Equal(edited, orig) {
		t.Fatal("test receipt has no host pve")
	}
	f, err := os.OpenFile(receipt, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(edited, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(receipt, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
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
// records, by slash-separated path.
func readSite(t *testing.T, out string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".spine") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
