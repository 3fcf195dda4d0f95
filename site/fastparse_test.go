package site

import (
	"encoding/json"
	"math"
	"os"
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
			got, ok := parseManifestFast([]byte(tc.data))
			if ok != tc.fast {
				t.Errorf("fast path taken: %v, want %v", ok, tc.fast)
			}
			if !ok {
				return
			}
			var mf manifestFile
			if err := json.Unmarshal([]byte(tc.data), &mf); err != nil {
				t.Fatalf("fast path took what json.Unmarshal refuses: %v", err)
			}
			if diff := cmp.Diff(mf.Files, got); diff != "" && !(len(mf.Files) == 0 && len(got) == 0) {
				t.Errorf("(-json +fast):\n%s", diff)
			}
		})
	}
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
			got, ok := parseSumsFast([]byte(tc.data))
			if ok != tc.fast {
				t.Errorf("fast path taken: %v, want %v", ok, tc.fast)
			}
			if !ok {
				return
			}
			var f struct {
				Version string              `json:"version"`
				Logs    map[string]sumEntry `json:"logs"`
			}
			if err := json.Unmarshal([]byte(tc.data), &f); err != nil {
				t.Fatalf("fast path took what json.Unmarshal refuses: %v", err)
			}
			if diff := cmp.Diff(f.Logs, got); diff != "" {
				t.Errorf("(-json +fast):\n%s", diff)
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

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
