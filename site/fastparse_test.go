package site

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseManifestFast checks the manifest's fast decoding against
// json.Unmarshal, on what encode writes and on what it does not.
func TestParseManifestFast(t *testing.T) {
	m := &manifest{files: map[string]manifestEntry{
		"index.html":             {Key: "", SHA: "abc"},
		"receipts/K/index.html":  {Key: "k1", SHA: "s1"},
		"loops/L-1/index.html":   {Key: "k<&>\"é", SHA: "s2"},
		"assets/site.css":        {Key: "", SHA: ""},
		"receipts/K/output.txt":  {Key: "k1", SHA: "s3"},
		"gaps/GAP-1/index.html":  {Key: "k\u2028", SHA: "s4"},
		"timeline/index.html":    {Key: "t", SHA: "\x01"},
		"verify/media/index.htm": {Key: "v", SHA: "s5"},
	}}
	empty := &manifest{files: map[string]manifestEntry{}}
	gen := strconv.Quote(generator)
	tests := []struct {
		name string
		data string
		fast bool
	}{
		{"as written", string(m.encode()), true},
		{"as written, plain", string((&manifest{files: map[string]manifestEntry{"a/index.html": {Key: "k", SHA: "s"}, "b": {SHA: "t"}}}).encode()), true},
		{"empty", string(empty.encode()), true},
		{"spaces", `{"generator":` + gen + `,"files":[ ["a","b","c"] , ["d","e","f"] ]}`, true},
		{"other generator", `{"generator":"x","files":[]}`, false},
		{"trailing", `{"generator":` + gen + `,"files":[]} x`, false},
		{"short row", `{"generator":` + gen + `,"files":[["a","b"]]}`, false},
		{"trailing comma", `{"generator":` + gen + `,"files":[["a","b","c"],]}`, false},
		{"unterminated", `{"generator":` + gen + `,"files":[["a","b","c"]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if ok := checkManifestFast(t, []byte(tc.data)); ok != tc.fast {
				t.Errorf("fast path taken: %v, want %v", ok, tc.fast)
			}
		})
	}
}

// checkManifestFast decodes data with parseManifestFast and, where it
// takes it, checks json.Unmarshal takes it too, as this generator's, with
// the same files. It reports whether the fast path took it.
func checkManifestFast(t *testing.T, data []byte) bool {
	t.Helper()
	got, ok := parseManifestFast(data)
	if !ok {
		return false
	}
	var mf manifestFile
	if err := json.Unmarshal(data, &mf); err != nil || mf.Generator != generator {
		t.Fatalf("%q: fast path took what json.Unmarshal refuses (%v) or another generator's (%q)", data, err, mf.Generator)
	}
	if diff := cmp.Diff(mf.Files, got); diff != "" && !(len(mf.Files) == 0 && len(got) == 0) {
		t.Errorf("%q: (-json +fast):\n%s", data, diff)
	}
	return true
}

// FuzzParseManifestFast: whatever the manifest's fast path takes,
// json.Unmarshal decodes alike (checkManifestFast).
func FuzzParseManifestFast(f *testing.F) {
	gen := strconv.Quote(generator)
	f.Add((&manifest{files: map[string]manifestEntry{"a/index.html": {Key: "k<&>", SHA: "s"}, "b": {SHA: "t"}}}).encode())
	f.Add([]byte(`{"generator":` + gen + `,"files":[ ["a","b","c"] , ["d","e","f"] ]}`))
	f.Add([]byte(`{"generator":` + gen + `,"files":[["a","b"]]}`))
	f.Add([]byte(`{"generator":` + gen + `,"files":[["a\u00e9","\"","c"]]}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkManifestFast(t, data) })
}

// TestParseSumsFast checks the summaries' fast decoding against
// json.Unmarshal.
func TestParseSumsFast(t *testing.T) {
	entries := map[string]sumEntry{
		"receipts/2026/03/01/K1": {Stat: fileStat{Size: 300, Mtime: 1795646985875760258, Ctime: 1795646985875991760, Ino: 5544232, Dev: 26},
			Sum: logSum{Size: 300, Lines: 6, SHA256: "a5ce", Folded: true}},
		"receipts/2026/03/01/K2": {Stat: fileStat{Size: -1, Mtime: math.MinInt64, Ctime: math.MaxInt64, Ino: math.MaxInt64, Dev: 0},
			Sum: logSum{Size: math.MaxInt64, Lines: -7, SHA256: ""}},
	}
	write := func(es map[string]sumEntry) string {
		c := &sumCache{next: es, dirty: true}
		out := t.TempDir()
		if err := c.save(out); err != nil {
			t.Fatal(err)
		}
		return string(mustRead(t, out+"/"+SumsName))
	}
	big := map[string]sumEntry{"k": {Stat: fileStat{Ino: math.MaxUint64}}}
	odd := map[string]sumEntry{"k\\é": {Sum: logSum{SHA256: "<&>"}}}
	tests := []struct {
		name string
		data string
		fast bool
	}{
		{"as written", write(entries), true},
		{"empty", write(map[string]sumEntry{}), true},
		{"inode over int64", write(big), false},
		{"escapes", write(odd), false},
		{"other version", strings.Replace(write(entries), "spine-sums/1", "spine-sums/0", 1), false},
		{"truncated", strings.TrimSuffix(write(entries), "}}\n"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if ok := checkSumsFast(t, []byte(tc.data)); ok != tc.fast {
				t.Errorf("fast path taken: %v, want %v", ok, tc.fast)
			}
		})
	}
	// readSums takes either path to the same entries.
	out := t.TempDir()
	c := &sumCache{next: big, dirty: true}
	if err := c.save(out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(big, readSums(out, true).old); diff != "" {
		t.Errorf("readSums through json (-want +got):\n%s", diff)
	}
}

// checkSumsFast decodes data with parseSumsFast and, where it takes it,
// checks json.Unmarshal takes it too, as this version's, with the same
// entries. It reports whether the fast path took it.
func checkSumsFast(t *testing.T, data []byte) bool {
	t.Helper()
	got, ok := parseSumsFast(data)
	if !ok {
		return false
	}
	var f struct {
		Version string              `json:"version"`
		Logs    map[string]sumEntry `json:"logs"`
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Version != sumsVersion {
		t.Fatalf("%q: fast path took what json.Unmarshal refuses (%v) or another version's (%q)", data, err, f.Version)
	}
	if diff := cmp.Diff(f.Logs, got); diff != "" {
		t.Errorf("%q: (-json +fast):\n%s", data, diff)
	}
	return true
}

// FuzzParseSumsFast: whatever the summaries' fast path takes,
// json.Unmarshal decodes alike (checkSumsFast).
func FuzzParseSumsFast(f *testing.F) {
	for _, es := range []map[string]sumEntry{
		{},
		{"receipts/2026/03/01/K1": {Stat: fileStat{Size: 300, Mtime: 1795646985875760258, Ctime: 1795646985875991760, Ino: 5544232, Dev: 26},
			Sum: logSum{Size: 300, Lines: 6, SHA256: "a5ce", Folded: true}}},
		{"k": {Stat: fileStat{Ino: math.MaxUint64}}},
		{"k\\é": {Sum: logSum{SHA256: "<&>"}}},
	} {
		c := &sumCache{next: es, dirty: true}
		out := f.TempDir()
		if err := c.save(out); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(out, SumsName))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkSumsFast(t, data) })
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestManifestKeptOrder checks that a manifest encodes sorted whatever the
// order kept from the file it was read from (readManifest): the file's,
// when it lists exactly the manifest's paths in order, else a sort's.
func TestManifestKeptOrder(t *testing.T) {
	files := map[string]manifestEntry{
		"index.html":            {SHA: "a"},
		"loops/L/index.html":    {Key: "k", SHA: "b"},
		"receipts/K/index.html": {Key: "k2", SHA: "c"},
	}
	want := string((&manifest{files: files}).encode())
	write := func(data string) string {
		t.Helper()
		out := t.TempDir()
		if err := os.WriteFile(filepath.Join(out, ManifestName), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, "index.html"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	gen := strconv.Quote(generator)
	tests := []struct {
		name string
		// file is the manifest file read; files the manifest's entries
		// then (nil: as read).
		file  string
		files map[string]manifestEntry
	}{
		{"as written", want, nil},
		{"as written, entries changed", want, map[string]manifestEntry{"index.html": {SHA: "x"}, "loops/L/index.html": {Key: "k3", SHA: "y"}, "receipts/K/index.html": {Key: "k2", SHA: "c"}}},
		{"a path replaced", want, map[string]manifestEntry{"index.html": {SHA: "a"}, "loops/M/index.html": {Key: "k", SHA: "b"}, "receipts/K/index.html": {Key: "k2", SHA: "c"}}},
		{"a path added", want, map[string]manifestEntry{"index.html": {SHA: "a"}, "loops/L/index.html": {Key: "k", SHA: "b"}, "loops/M/index.html": {Key: "k", SHA: "b"}, "receipts/K/index.html": {Key: "k2", SHA: "c"}}},
		{"unsorted file", `{"generator":` + gen + `,"files":[["receipts/K/index.html","k2","c"],["index.html","","a"],["loops/L/index.html","k","b"]]}`, nil},
		{"path twice", `{"generator":` + gen + `,"files":[["index.html","","a"],["loops/L/index.html","k","b"],["loops/L/index.html","k","b"],["receipts/K/index.html","k2","c"]]}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := readManifest(write(tc.file), false)
			if !m.onDisk {
				t.Fatal("manifest not read")
			}
			if tc.files != nil {
				m.files = tc.files
			}
			exp := want
			if tc.files != nil {
				exp = string((&manifest{files: tc.files}).encode())
			}
			var b strings.Builder
			if err := m.encodeTo(&b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(exp, b.String()); diff != "" {
				t.Errorf("(-sorted +encoded):\n%s", diff)
			}
		})
	}
}

// TestManifestReusesLines checks a long-lived Builder's manifest
// encoding (keepLines): after any change of entries or paths it encodes
// exactly as a manifest without kept lines does, and it reuses the line
// of every path whose entry did not change.
func TestManifestReusesLines(t *testing.T) {
	base := map[string]manifestEntry{}
	for i := range 300 {
		base[fmt.Sprintf("receipts/K%03d/index.html", i)] = manifestEntry{Key: fmt.Sprintf("key\"%d", i), SHA: fmt.Sprintf("%064x", i)}
	}
	base["index.html"] = manifestEntry{SHA: "i"}
	tests := []struct {
		name string
		edit func(m map[string]manifestEntry)
	}{
		{"nothing", func(map[string]manifestEntry) {}},
		{"one hash", func(m map[string]manifestEntry) {
			m["receipts/K007/index.html"] = manifestEntry{Key: "key\"7", SHA: "new"}
		}},
		{"one key", func(m map[string]manifestEntry) { m["index.html"] = manifestEntry{Key: "k", SHA: "i"} }},
		{"first and last", func(m map[string]manifestEntry) {
			m["index.html"] = manifestEntry{SHA: "j"}
			m["receipts/K299/index.html"] = manifestEntry{SHA: "z"}
		}},
		{"a path added", func(m map[string]manifestEntry) { m["loops/L/index.html"] = manifestEntry{Key: "l", SHA: "l"} }},
		{"a path removed", func(m map[string]manifestEntry) { delete(m, "receipts/K100/index.html") }},
		{"a path replaced", func(m map[string]manifestEntry) {
			delete(m, "receipts/K100/index.html")
			m["receipts/K100x/index.html"] = manifestEntry{SHA: "x"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &manifest{files: maps.Clone(base), keepLines: true}
			m.encode()
			next := maps.Clone(base)
			tc.edit(next)
			m2 := &manifest{files: next, sorted: m.sorted, keepLines: true, lines: m.lines}
			for gen, mm := range []*manifest{m2, {files: next, sorted: m2.sorted, keepLines: true, lines: m2.lines}} {
				got := string(mm.encode())
				want := string((&manifest{files: next}).encode())
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("encoding %d after the change (-fresh +kept lines):\n%s", gen+1, diff)
				}
			}
			same := len(m.sorted) == len(m2.sorted)
			for i := 0; same && i < len(m.sorted); i++ {
				same = m.sorted[i] == m2.sorted[i]
			}
			if !same {
				return // other paths: every line encoded again
			}
			for i, p := range m2.sorted {
				reused := &m2.lines[i].line[0] == &m.lines[i].line[0]
				if changed := base[p] != next[p]; reused == changed {
					t.Errorf("%s: line reused %v, entry changed %v", p, reused, changed)
				}
			}
		})
	}
}
