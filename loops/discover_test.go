package loops

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeTree creates files (slash paths relative to root) with contents.
func writeTree(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"loops/**/*.md", "loops/a.md", true},
		{"loops/**/*.md", "loops/x/y/a.md", true},
		{"loops/**/*.md", "loops/a.txt", false},
		{"loops/**/*.md", "other/a.md", false},
		{"**/loop-scopes/*.md", "loop-scopes/a.md", true},
		{"**/loop-scopes/*.md", "mailroom/state/loop-scopes/a.md", true},
		{"**/loop-scopes/*.md", "mailroom/state/loop-scopes/sub/a.md", false},
		{"**", "anything/at/all", true},
		{"*.md", "a.md", true},
		{"*.md", "d/a.md", false},
		{"loops/[", "loops/[", false},
		{"a/**/b/**/c", "a/x/b/y/z/c", true},
		{"a/**/b/**/c", "a/c", false},
		{"**/**", "a", true},
		{"a/**", "a", true},
		{"**/a", "b", false},
	}
	for _, tt := range tests {
		if got := MatchGlob(tt.pat, tt.name); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pat, tt.name, got, tt.want)
		}
	}
}

// backtrack is the glob matcher MatchGlob replaced: right, and exponential
// in the number of "**".
func backtrack(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if backtrack(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// TestMatchGlobAgreesWithBacktracking compares MatchGlob with the plain
// backtracking matcher over every pattern and path of up to four segments
// drawn from a few that overlap.
func TestMatchGlobAgreesWithBacktracking(t *testing.T) {
	segs := []string{"**", "a", "*", "b", "[ab]"}
	names := []string{"a", "b", "c"}
	var pats, paths [][]string
	var grow func(cur []string, from []string, out *[][]string)
	grow = func(cur []string, from []string, out *[][]string) {
		*out = append(*out, append([]string(nil), cur...))
		if len(cur) == 4 {
			return
		}
		for _, s := range from {
			grow(append(cur, s), from, out)
		}
	}
	for _, s := range segs {
		grow([]string{s}, segs, &pats)
	}
	for _, s := range names {
		grow([]string{s}, names, &paths)
	}
	for _, p := range pats {
		for _, n := range paths {
			pat, name := strings.Join(p, "/"), strings.Join(n, "/")
			if got, want := MatchGlob(pat, name), backtrack(p, n); got != want {
				t.Fatalf("MatchGlob(%q, %q) = %v, backtracking says %v", pat, name, got, want)
			}
		}
	}
}

// TestMatchGlobManyDoubleStars: a pattern of many "**" against a deep
// path that almost matches is decided at once (backtracking took minutes
// at twelve, and every command walks the tree with the loops: globs).
func TestMatchGlobManyDoubleStars(t *testing.T) {
	pat := strings.Repeat("**/a/", 40) + "**/c.md"
	name := strings.Repeat("a/", 80) + "b.md"
	start := time.Now()
	if MatchGlob(pat, name) {
		t.Error("matched")
	}
	if !MatchGlob(pat, strings.Repeat("a/", 80)+"c.md") {
		t.Error("did not match")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %s", el)
	}
}

func TestDiscover(t *testing.T) {
	root := t.TempDir()
	doc := []byte("# LOOP-X-1\n")
	writeTree(t, root, map[string][]byte{
		"loops/a.md":                          doc,
		"loops/deep/er/b.md":                  doc,
		"loops/notes.txt":                     doc,
		"loops/draft/skip-me.md":              doc,
		"mailroom/state/loop-scopes/c.md":     doc,
		"loop-scopes/d.md":                    doc,
		".git/loops/e.md":                     doc,
		".hidden/loops/f.md":                  doc,
		"loops/.cache/g.md":                   doc,
		"node_modules/x/loop-scopes/h.md":     doc,
		"vendor/loop-scopes/i.md":             doc,
		"receipts/2026/loop-scopes/j.md":      doc,
		"public/loops/k.md":                   doc,
		"artifacts/loop-a/loop-scopes/l.md":   doc,
		"docs/readme.md":                      doc,
		"mailroom/state/loop-scopes/sub/m.md": doc,
	})
	if err := os.Symlink(filepath.Join(root, "loops", "a.md"), filepath.Join(root, "loops", "link.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "loops"), filepath.Join(root, "loop-scopes", "linked-dir")); err != nil {
		t.Fatal(err)
	}
	got, err := Discover(root, []string{"loops/**/*.md", "**/loop-scopes/*.md"}, []string{"loops/draft/**"}, []string{"receipts", "./artifacts/", "public", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"loop-scopes/d.md", "loops/a.md", "loops/deep/er/b.md", "mailroom/state/loop-scopes/c.md"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}
	if _, err := Discover(filepath.Join(root, "missing"), []string{"**"}, nil, nil); err == nil {
		t.Error("Discover on a missing root: no error")
	}
}

// TestLoopIDsSharingASlug: ids that differ only in case would write one
// artifact folder; both documents get an error naming the other.
func TestLoopIDsSharingASlug(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string][]byte{
		"loops/a.md": []byte("---\nstatus: open\nloop_id: LOOP-Case\n---\n"),
		"loops/b.md": []byte("---\nloop_id: loop-case\n---\n"),
		"loops/c.md": []byte("---\nloop_id: LOOP-CASE-2\n---\n"),
	})
	paths, err := Discover(root, []string{"loops/**/*.md"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`loops/a.md:3: error: loop id "LOOP-Case" and loop id "loop-case" (loops/b.md:2) share the artifact folder name "loop-case": rename one`,
		`loops/b.md:2: error: loop id "loop-case" and loop id "LOOP-Case" (loops/a.md:3) share the artifact folder name "loop-case": rename one`,
	}
	var got []string
	for _, p := range Load(root, paths).AllProblems() {
		got = append(got, p.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDuplicateLoopIDs: both documents get a finding naming the other.
func TestDuplicateLoopIDs(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string][]byte{
		"loops/a.md": []byte("---\nloop_id: LOOP-DUP-1\nstatus: open\n---\n"),
		"loops/b.md": []byte("# Loop Scope: LOOP-DUP-1\n"),
		"loops/c.md": []byte("---\nloop_id: LOOP-OTHER-1\n---\n"),
	})
	paths, err := Discover(root, []string{"loops/**/*.md"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := Load(root, paths)
	want := []string{
		`loops/a.md:2: error: duplicate loop id "LOOP-DUP-1" (also in loops/b.md:1)`,
		`loops/b.md:1: error: duplicate loop id "LOOP-DUP-1" (also in loops/a.md:2)`,
	}
	var got []string
	for _, p := range set.AllProblems() {
		got = append(got, p.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d := set.ByID("LOOP-DUP-1"); d == nil || d.Path != "loops/a.md" {
		t.Errorf("ByID picks %v", d)
	}
	if set.ByID("LOOP-OTHER-1") == nil || set.ByID("nope") != nil {
		t.Error("ByID")
	}
	// NewSet does the same for documents parsed elsewhere.
	s2 := NewSet([]*Document{Parse("z.md", []byte("# LOOP-Q-1\n")), Parse("y.md", []byte("# LOOP-Q-1\n"))})
	if s2.Docs[0].Path != "y.md" || !hasProblem(s2.Docs[0].Problems, 1, "also in z.md:1") || !hasProblem(s2.Docs[1].Problems, 1, "also in y.md:1") {
		t.Errorf("NewSet: %v %v", messages(s2.Docs[0].Problems), messages(s2.Docs[1].Problems))
	}
}

// badInputs are documents that must each get a finding or be read
// correctly, never panic, and never stop the others from being read.
func badInputs() map[string][]byte {
	var many bytes.Buffer
	many.WriteString("---\nloop_id: LOOP-MANY-STEPS-1\nstatus: active\n---\n\n# Loop Scope: LOOP-MANY-STEPS-1\n\n## Stage 1: All of them\n\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&many, "```sh {name=step-%05d artifact=%05d.txt}\necho %d\n```\n\n", i, i, i)
	}
	var huge bytes.Buffer
	huge.WriteString("---\nloop_id: LOOP-HUGE-1\nstatus: open\n---\n\n# Loop Scope: LOOP-HUGE-1\n\n## Stage 1: Big\n\n")
	for huge.Len() < MaxDocumentSize-1<<20 {
		fmt.Fprintf(&huge, "- `CAP-20260101-%06d__big.cap__Rk%d` GAP-OP-%d | cell | cell |\n", huge.Len()%1000000, huge.Len()%97, huge.Len()%13)
	}
	good := fixtureBytes("LOOP-FIXTURE-BASIC-20260301.scope.md")
	return map[string][]byte{
		"loops/empty.md":     {},
		"loops/blank.md":     []byte("\n\n   \n"),
		"loops/binary.md":    append([]byte("\x7fELF\x02\x01\x01\x00\x00"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 512)...),
		"loops/latin1.md":    []byte("---\nloop_id: LOOP-LATIN-1\nstatus: open\nowner: Andr\xe9\n---\n# Loop Scope: LOOP-LATIN-1\n\nCaf\xe9 \xff\xfe\n"),
		"loops/bom.md":       append([]byte("\xef\xbb\xbf"), bytes.Replace(good, []byte("LOOP-FIXTURE-BASIC-20260301"), []byte("LOOP-BOM-1"), -1)...),
		"loops/crlf.md":      bytes.ReplaceAll(bytes.Replace(good, []byte("LOOP-FIXTURE-BASIC-20260301"), []byte("LOOP-CRLF-1"), -1), []byte("\n"), []byte("\r\n")),
		"loops/unclosed.md":  []byte("---\nloop_id: LOOP-UNCLOSED-1\nstatus: blocked\nowner: x\n\n# Loop Scope: LOOP-UNCLOSED-1\n\n## Stage 1: S\n\n```sh {name=a}\necho\n```\n"),
		"loops/many.md":      many.Bytes(),
		"loops/huge.md":      huge.Bytes(),
		"loops/only-dash.md": []byte("---"),
		"loops/good.md":      good,
	}
}

// fixtureBytes reads a fixture outside a test (for table builders).
func fixtureBytes(name string) []byte {
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		panic(err)
	}
	return b
}

func TestLoadBadInputs(t *testing.T) {
	root := t.TempDir()
	files := badInputs()
	writeTree(t, root, files)
	// A file over the size limit is not read (a sparse file: no disk).
	f, err := os.Create(filepath.Join(root, "loops", "too-big.md"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxDocumentSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	paths, err := Discover(root, []string{"loops/**/*.md"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, "loops/vanished.md") // listed, then deleted
	start := time.Now()
	set := Load(root, paths)
	t.Logf("Load of %d bad inputs: %v", len(paths), time.Since(start))
	byPath := map[string]*Document{}
	for _, d := range set.Docs {
		byPath[d.Path] = d
	}
	// The file over the limit is a document with its finding (plan,
	// status and the site show it); the one removed since it was listed
	// is no document at all.
	if len(set.Docs) != len(files)+1 {
		t.Errorf("%d documents read, want %d", len(set.Docs), len(files)+1)
	}
	if len(set.Problems) != 0 {
		t.Errorf("set problems: %v", set.Problems)
	}
	if d := byPath["loops/too-big.md"]; d == nil || !d.Unreadable() || !d.HasErrors() {
		t.Errorf("the document over the limit: %+v; want an unreadable document with an error", d)
	}

	type expect struct {
		id, status string
		finding    string // a finding that must be there ("" for none at all)
		steps      int
	}
	want := map[string]expect{
		"loops/empty.md":     {id: "empty", finding: "empty document"},
		"loops/blank.md":     {id: "blank", finding: "empty document"},
		"loops/binary.md":    {id: "binary", finding: "binary file"},
		"loops/latin1.md":    {id: "LOOP-LATIN-1", status: "active", finding: "invalid UTF-8"},
		"loops/bom.md":       {id: "LOOP-BOM-1", status: "active", steps: 6},
		"loops/crlf.md":      {id: "LOOP-CRLF-1", status: "active", finding: "carriage return", steps: 6}, // its CRs would reach the shell
		"loops/unclosed.md":  {id: "LOOP-UNCLOSED-1", status: "blocked", finding: "never closes", steps: 1},
		"loops/many.md":      {id: "LOOP-MANY-STEPS-1", status: "active", steps: 10000},
		"loops/huge.md":      {id: "LOOP-HUGE-1", status: "active"},
		"loops/only-dash.md": {id: "only-dash", finding: "never closes"},
		"loops/good.md":      {id: "LOOP-FIXTURE-BASIC-20260301", status: "active", steps: 6},
		"loops/too-big.md":   {id: "too-big", finding: "over the 8388608-byte limit; not read"},
	}
	for path, w := range want {
		d := byPath[path]
		if d == nil {
			t.Errorf("%s: not read", path)
			continue
		}
		steps := 0
		for _, st := range d.Stages {
			steps += len(st.Steps)
		}
		if d.LoopID != w.id || d.Status != w.status || steps != w.steps {
			t.Errorf("%s: id %q status %q steps %d; want %q %q %d", path, d.LoopID, d.Status, steps, w.id, w.status, w.steps)
		}
		if w.finding == "" && len(d.Problems) != 0 {
			t.Errorf("%s: unexpected findings %v", path, messages(d.Problems))
		}
		if w.finding != "" && !hasProblem(d.Problems, 0, w.finding) {
			t.Errorf("%s: no finding %q in %v", path, w.finding, messages(d.Problems))
		}
	}
	if d := byPath["loops/huge.md"]; d != nil && len(d.RunKeys) < 1000 {
		t.Errorf("huge: %d run keys", len(d.RunKeys))
	}
	if d := byPath["loops/crlf.md"]; d != nil {
		if d.Stages[1].Steps[0].Gate != "ALLOW_POOL_WIPE" || d.Stages[0].Steps[0].Command != "zpool list -H\r\n" {
			t.Errorf("crlf steps: %+v", d.Stages[1].Steps[0])
		}
		if d.Stages[0].Line != 27 || d.Meta.Line("status") != 4 {
			t.Errorf("crlf lines: stage %d status %d", d.Stages[0].Line, d.Meta.Line("status"))
		}
	}
}
