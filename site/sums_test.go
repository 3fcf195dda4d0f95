package site

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSumCache(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "output.log")
	if err := os.WriteFile(log, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := logSum{Size: 8, Lines: 2, SHA256: "abc"}
	tests := []struct {
		name   string
		cutoff time.Time
		change func(t *testing.T)
		hit    bool
	}{
		{"unchanged", time.Now().Add(time.Hour), nil, true},
		// The build starts one second after the log is written: well
		// inside the window, and clear of the file system's coarse clock,
		// which may stamp a file a few milliseconds before time.Now.
		{"changed within the racy window: not recorded", time.Now().Add(-time.Second), nil, false},
		{"rewritten in place, same size", time.Now().Add(time.Hour), func(t *testing.T) {
			if err := os.WriteFile(log, []byte("ONE\nTWO\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// A distinct modification time, whatever the file system's
			// timestamp granularity.
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(log, old, old); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"replaced by another file", time.Now().Add(time.Hour), func(t *testing.T) {
			tmp := log + ".new"
			if err := os.WriteFile(tmp, []byte("one\ntwo\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, log); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"replaced by a symbolic link", time.Now().Add(time.Hour), func(t *testing.T) {
			other := filepath.Join(dir, "other.log")
			if err := os.WriteFile(other, []byte("one\ntwo\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(log); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(other, log); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(log)
			if err := os.WriteFile(log, []byte("one\ntwo\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			c := readSums(out, false)
			c.begin(tc.cutoff.Add(racyWindow))
			before, ok := lstatFile(log)
			if _, hit := c.lookupStat("r/1", before, ok); hit {
				t.Fatal("hit in an empty cache")
			}
			c.store("r/1", log, before, sum)
			if err := c.save(out); err != nil {
				t.Fatal(err)
			}
			if tc.change != nil {
				tc.change(t)
			}
			c2 := readSums(out, tc.name == "unchanged")
			c2.begin(time.Now())
			st, ok := lstatFile(log)
			got, hit := c2.lookupStat("r/1", st, ok)
			if _, ok := lstatFile(log); !ok && hit {
				t.Fatal("hit for a file that is not a regular file")
			}
			if hit != tc.hit {
				t.Fatalf("hit = %v, want %v", hit, tc.hit)
			}
			if hit {
				if diff := cmp.Diff(sum, got); diff != "" {
					t.Errorf("summary (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestSumsDetectTamperedLog builds the site with fresh Builders, as
// separate `spine site build` processes do: once the output logs'
// summaries are recorded, a log edited in place (same size) must still show
// as not matching its receipt, and the pages must be those of a build
// without recorded summaries.
func TestSumsDetectTamperedLog(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	copyDir(t, filepath.Join("testdata", "repo"), repo)
	// state is the repository's state folder, which the builds share
	// as `spine site build` processes share .git/spine.
	state := t.TempDir()
	build := func(out string) Stats {
		t.Helper()
		return buildFixture(t, repo, out, state)
	}
	out := filepath.Join(t.TempDir(), "public")
	build(out)
	// The logs were just copied: too recent to be recorded. Once they are
	// older than the racy window, a build records them.
	time.Sleep(racyWindow + 100*time.Millisecond)
	build(out)
	data, err := os.ReadFile(filepath.Join(state, StateSubdir, SumsName))
	if err != nil {
		t.Fatal(err)
	}
	const key = "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd"
	if !strings.Contains(string(data), key) {
		t.Fatalf("%s does not record %s:\n%s", SumsName, key, data)
	}
	page := filepath.Join(out, "receipts", key, "index.html")
	before, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(before, []byte("ok")) {
		t.Fatalf("page before tampering:\n%s", before)
	}
	log := filepath.Join(repo, "receipts", "2026", "03", "01", key, "output.log")
	orig, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(orig)
	tampered[0] ^= 0x20
	f, err := os.OpenFile(log, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(tampered, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	build(out)
	after, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(after, []byte("output.log hashes to")) {
		t.Errorf("tampered log not reported:\n%s", after)
	}
	// The same pages as a build that never recorded a summary.
	fresh := filepath.Join(t.TempDir(), "public")
	buildFixture(t, repo, fresh, "")
	want, err := os.ReadFile(filepath.Join(fresh, "receipts", key, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(after)); diff != "" {
		t.Errorf("page with recorded summaries differs from a fresh build (-fresh +incremental):\n%s", diff)
	}
}

// TestSumEntryJSON checks that a summary is written as json.Marshal writes
// it, so that the file reads back as it did.
func TestSumEntryJSON(t *testing.T) {
	tests := []sumEntry{
		{},
		{Stat: fileStat{Size: 300, Mtime: 1795646985875760258, Ctime: 1795646985875991760, Ino: 5544232, Dev: 26},
			Sum: logSum{Size: 300, Lines: 6, SHA256: "a5ce9567a669b279dc3dd2458b8337cc773779bb8d8a66b3c32ecf1225887eac", Folded: true}},
		{Stat: fileStat{Size: -1, Mtime: math.MinInt64, Ctime: math.MaxInt64, Ino: math.MaxUint64, Dev: math.MaxUint64},
			Sum: logSum{Size: math.MaxInt64, Lines: -7, SHA256: "<&>\"\\\x00\u2028\xff é"}},
	}
	for _, e := range tests {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		e.writeJSON(&got)
		if diff := cmp.Diff(string(want), got.String()); diff != "" {
			t.Errorf("%+v (-json.Marshal +writeJSON):\n%s", e, diff)
		}
	}
}
