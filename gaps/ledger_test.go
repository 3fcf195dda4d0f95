package gaps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// realLedger is the operator's ledger the corpus carries; tests that need it
// skip when it is absent.
func realLedger(tb testing.TB) []byte {
	tb.Helper()
	path := filepath.Join("..", "..", "shared", "corpus", "gaps.yaml")
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		tb.Skipf("real ledger %s is absent; the corpus is not checked out next to the module", path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func mustParse(tb testing.TB, path string, data []byte) *Ledger {
	tb.Helper()
	l, err := Parse(path, data)
	if err != nil {
		tb.Fatalf("Parse(%s): %v", path, err)
	}
	return l
}

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     []Gap
		problems []Problem
	}{
		{
			name: "empty file",
			in:   "",
		},
		{
			name: "comments only",
			in:   "# nothing yet\n",
		},
		{
			name: "null gaps",
			in:   "gaps:\n",
		},
		{
			name: "empty flow list",
			in:   "version: 1\ngaps: []\n",
		},
		{
			name:     "no gaps key",
			in:       "version: 1\n",
			problems: []Problem{{Path: "g.yaml", Line: 1, Level: LevelWarning, Message: "no `gaps:` key; the ledger is empty"}},
		},
		{
			name:     "gaps is a mapping",
			in:       "gaps:\n  a: 1\n",
			problems: []Problem{{Path: "g.yaml", Line: 2, Level: LevelError, Message: "`gaps:` is a mapping, want a list"}},
		},
		{
			name:     "root is a scalar",
			in:       "hello\n",
			problems: []Problem{{Path: "g.yaml", Line: 1, Level: LevelError, Message: "the ledger is a scalar, want a mapping with a `gaps:` list"}},
		},
		{
			name:     "bare list",
			in:       "- id: G-1\n  status: open\n",
			want:     []Gap{{ID: "G-1", Status: "open", Line: 1}},
			problems: []Problem{{Path: "g.yaml", Line: 1, Level: LevelWarning, Message: "the ledger is a bare list; expected a top-level `gaps:` key"}},
		},
		{
			name: "typed fields, case and unknown keys",
			in: "gaps:\n" +
				"  - id: \"GAP-OP-1\"\n" +
				"    title: T\n" +
				"    status: FIXED\n" +
				"    discovered_at: 2026-02-07\n" +
				"    doc: null\n" +
				"    fixed_at: \"2026-02-11\"\n" +
				"    closed_at: \"2026-02-12\"\n" +
				"    fixed_by: \"spine fb2b17f\"\n" +
				"    count: 3\n" +
				"    tags: [a, b]\n",
			want: []Gap{{
				ID: "GAP-OP-1", Title: "T", Status: "fixed", DiscoveredAt: "2026-02-07",
				FixedAt: "2026-02-11", ClosedAt: "2026-02-12", Line: 2,
				Extra: []Field{
					{Key: "fixed_by", Value: "spine fb2b17f", Line: 9},
					{Key: "count", Value: "3", Line: 10},
					{Key: "tags", Value: []any{"a", "b"}, Line: 11},
				},
			}},
		},
		{
			name: "tab inside a value",
			in:   "gaps:\n  - id: G-1\n    status: open\n    notes: \"a\\tb\"\n    title: x\ty\n",
			want: []Gap{{ID: "G-1", Status: "open", Notes: "a\tb", Title: "x\ty", Line: 2}},
		},
		{
			name: "duplicate key",
			in:   "gaps:\n  - id: G-1\n    status: open\n    status: fixed\n",
			want: []Gap{{ID: "G-1", Status: "fixed", Line: 2}},
			problems: []Problem{
				{Path: "g.yaml", Line: 4, Level: LevelWarning, Message: `key "status" is set twice in this gap (also line 3); the last one is used`},
			},
		},
		{
			name: "merge bomb is bounded",
			in: "a: &a {x: 1}\nb: &b {<<: [*a, *a, *a, *a, *a, *a, *a, *a]}\nc: &c {<<: [*b, *b, *b, *b, *b, *b, *b, *b]}\n" +
				"d: &d {<<: [*c, *c, *c, *c, *c, *c, *c, *c]}\ne: &e {<<: [*d, *d, *d, *d, *d, *d, *d, *d]}\n" +
				"gaps:\n  - id: G-1\n    <<: [*e, *e, *e, *e, *e, *e, *e, *e]\n",
			want:     []Gap{{ID: "G-1", Extra: []Field{{Key: "x", Value: "1", Line: 1}}, Line: 7}},
			problems: []Problem{{Path: "g.yaml", Line: 7, Level: LevelWarning, Message: "G-1 has no status; treated as open"}},
		},
		{
			name: "recursive merge key does not loop",
			in:   "a: &a\n  <<: *a\ngaps:\n  - id: G-1\n    <<: *a\n    status: open\n",
			want: []Gap{{ID: "G-1", Status: "open", Line: 4}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse("g.yaml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, l.Gaps, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("gaps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.problems, l.Problems, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			b, err := l.Bytes()
			if err != nil || string(b) != tt.in {
				t.Errorf("Bytes() = %q, %v; want the input unchanged", b, err)
			}
		})
	}
}

func TestParseWeirdFixture(t *testing.T) {
	l := mustParse(t, "weird.yaml", readFixture(t, "weird.yaml"))
	var ids []string
	for _, g := range l.Gaps {
		ids = append(ids, g.ID+":"+g.Status)
	}
	wantIDs := []string{"W-7:open", "W-8:open", "W-9:accepted", "W-9:fixed", ":", "W-10:open", "W-11:open", "W-10:open"}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	merged := l.Gaps[0]
	if merged.Type != "runtime-bug" || merged.Severity != "medium" || merged.Description != "merged fields" {
		t.Errorf("merge key not applied: %+v", merged)
	}
	want := []Problem{
		{Path: "weird.yaml", Line: 14, Level: LevelWarning, Message: "notes is a list, want text; kept as an extra field"},
		{Path: "weird.yaml", Line: 10, Level: LevelWarning, Message: `W-9: status "accepted" is not one of open, fixed, closed`},
		{Path: "weird.yaml", Line: 10, Level: LevelWarning, Message: `W-9: severity "urgent" is not one of low, medium, high, critical`},
		{Path: "weird.yaml", Line: 10, Level: LevelWarning, Message: `W-9: type "made-up" is not one of stale-ssot, missing-entry, agent-behavior, unclear-doc, duplicate-truth, runtime-bug, missing-process`},
		{Path: "weird.yaml", Line: 17, Level: LevelError, Message: "duplicate gap id W-9 (first at weird.yaml:10)"},
		{Path: "weird.yaml", Line: 19, Level: LevelError, Message: "gap has no id"},
		{Path: "weird.yaml", Line: 19, Level: LevelWarning, Message: "gap has no status; treated as open"},
		{Path: "weird.yaml", Line: 20, Level: LevelError, Message: "gaps entry 6 is a scalar, want a mapping; skipped"},
		{Path: "weird.yaml", Line: 27, Level: LevelError, Message: "duplicate gap id W-10 (first at weird.yaml:21)"},
	}
	if diff := cmp.Diff(want, l.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if !l.HasErrors() {
		t.Error("HasErrors() = false")
	}
	if v, ok := l.Gaps[2].Get("notes"); !ok || !cmp.Equal(v, []any{"one", "two"}) {
		t.Errorf(`Get("notes") = %v, %v`, v, ok)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"tab indentation", "gaps:\n\t- id: G-1\n", "g.yaml:2: invalid YAML: found character that cannot start any token"},
		{"bad mapping", "gaps:\n  - id: a\n    status: open\n   x: : y\n", "g.yaml:4: invalid YAML: did not find expected '-' indicator"},
		{"undefined alias", "gaps:\n  - id: *nope\n", "g.yaml:2: invalid YAML: unknown anchor 'nope' referenced"},
		{"unterminated quote", "gaps:\n  - id: \"G-1\n", "g.yaml:2: invalid YAML: found unexpected end of stream"},
		// One anchored list of 20,000 items named by 800 gaps took
		// seconds and gigabytes to read.
		{"aliases that expand", "big: &b [" + strings.Repeat("x,", 20_000) + "x]\ngaps:\n" + strings.Repeat("  - {id: G-1, x: *b}\n", 800), "g.yaml: its aliases expand it to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("g.yaml", []byte(tt.in))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestParseRealLedger(t *testing.T) {
	data := realLedger(t)
	l := mustParse(t, "gaps.yaml", data)
	if len(l.Gaps) != 829 {
		t.Errorf("len(Gaps) = %d, want 829", len(l.Gaps))
	}
	counts := map[string]int{}
	lines := strings.Split(string(data), "\n")
	for _, g := range l.Gaps {
		counts[g.Status]++
		if g.ID == "" || g.Line < 1 || g.Line > len(lines) {
			t.Fatalf("gap without id or line: %+v", g)
		}
		// Every entry starts on its `- id:` line.
		if line := strings.TrimSpace(lines[g.Line-1]); !strings.HasPrefix(line, "- id: ") || !strings.Contains(line, g.ID) {
			t.Errorf("gap %s: line %d is %q", g.ID, g.Line, line)
		}
	}
	wantCounts := map[string]int{"fixed": 784, "open": 21, "closed": 21, "accepted": 3}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("status counts (-want +got):\n%s", diff)
	}
	if l.HasErrors() {
		t.Errorf("the real ledger has error-level findings: %v", l.Problems)
	}
	// The only findings are the three accepted statuses.
	if len(l.Problems) != 3 {
		t.Errorf("problems = %v, want the 3 accepted-status warnings", l.Problems)
	}
	g, ok := l.Lookup("GAP-OP-092")
	if !ok || g.Status != "closed" || g.ClosedAt != "2026-02-11" || g.ParentLoop != "LOOP-MEDIA-LEGACY-EXTRACTION-20260211" {
		t.Errorf("GAP-OP-092 = %+v, %v", g, ok)
	}
	g, _ = l.Lookup("GAP-OP-003")
	if g.Doc != "" || !strings.HasPrefix(g.Description, "Agent guessed path") {
		t.Errorf("GAP-OP-003 = %+v", g)
	}
	extras := map[string]int{}
	for _, g := range l.Gaps {
		for _, f := range g.Extra {
			extras[f.Key]++
		}
	}
	if diff := cmp.Diff(map[string]int{"loop": 4, "fixed_by": 3, "resolution": 2}, extras); diff != "" {
		t.Errorf("extra keys (-want +got):\n%s", diff)
	}
	if got := l.NextID(); got != "GAP-OP-839" {
		t.Errorf("NextID() = %s, want GAP-OP-839", got)
	}
	b, _ := l.Bytes()
	if string(b) != string(data) {
		t.Error("Bytes() differs from the input of an unedited ledger")
	}
}

func lineOf(data []byte, n int) string {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return lines[n-1]
}

func TestNextID(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "GAP-OP-001"},
		{"padded", "gaps:\n  - id: GAP-OP-001\n  - id: GAP-OP-009\n", "GAP-OP-010"},
		{"unpadded", "gaps:\n  - id: GAP-OP-7\n  - id: GAP-OP-1033\n", "GAP-OP-1034"},
		{"prefix of the last id", "gaps:\n  - id: GAP-OP-900\n  - id: GAP-MD-4\n", "GAP-MD-5"},
		{"max, not last", "gaps:\n  - id: G-12\n  - id: G-3\n", "G-13"},
		{"no numbered ids", "gaps:\n  - id: alpha\n", "GAP-OP-001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, "g.yaml", []byte(tt.in)).NextID(); got != tt.want {
				t.Errorf("NextID() = %s, want %s", got, tt.want)
			}
		})
	}
}

func BenchmarkParseLedger(b *testing.B) {
	data := realLedger(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("gaps.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
