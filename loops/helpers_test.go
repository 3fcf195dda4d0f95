package loops

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// update regenerates the golden files under testdata/golden.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// corpusDir holds the real loop documents (shared/corpus/loop-scopes beside
// the project). Tests read them in place; they are never copied.
var corpusDir = filepath.Join("..", "..", "shared", "corpus", "loop-scopes")

// seedPath is the document the project was started from.
var seedPath = filepath.Join("..", "..", "shared", "seeds", "000_fcb7532b00f1a736.txt")

const fixtureDir = "testdata/fixtures"

// namedDoc is one document read from disk.
type namedDoc struct {
	name string
	src  []byte
}

// readDocs reads every *.md file in dir, sorted by name.
func readDocs(tb testing.TB, dir string) []namedDoc {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(paths)
	var out []namedDoc
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, namedDoc{name: filepath.Base(p), src: src})
	}
	return out
}

// corpusDocs reads the real corpus, skipping the test when it is absent.
func corpusDocs(tb testing.TB) []namedDoc {
	tb.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		tb.Skipf("corpus %s not present (it lives in shared/ beside the project): %v", corpusDir, err)
	}
	docs := readDocs(tb, corpusDir)
	if len(docs) == 0 {
		tb.Skipf("corpus %s holds no *.md documents", corpusDir)
	}
	return docs
}

// fixtureDocs reads the project's own fixtures.
func fixtureDocs(tb testing.TB) []namedDoc {
	tb.Helper()
	docs := readDocs(tb, fixtureDir)
	if len(docs) == 0 {
		tb.Fatalf("no fixtures in %s", fixtureDir)
	}
	return docs
}

// fixture returns one fixture's bytes.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

// messages returns each problem as "line: level: message".
func messages(ps []Problem) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d: %s: %s", p.Line, p.Level, p.Message))
	}
	return out
}

// hasProblem reports whether ps has a finding at line whose message
// contains substr (line 0 matches any line).
func hasProblem(ps []Problem, line int, substr string) bool {
	for _, p := range ps {
		if (line == 0 || p.Line == line) && strings.Contains(p.Message, substr) {
			return true
		}
	}
	return false
}

// splitLines splits b after each \n, keeping the line endings.
func splitLines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, string(b))
			break
		}
		out = append(out, string(b[:i+1]))
		b = b[i+1:]
	}
	return out
}

// lineDiff renders the difference between a and b as a small unified-style
// diff (line numbers of a and b, one line of context). Line endings are
// shown: a CR as \r and a missing final newline as "\ no newline".
func lineDiff(a, b []byte) string {
	x, y := splitLines(a), splitLines(b)
	// Longest common subsequence, by dynamic programming: documents are
	// small (the largest corpus document has a few hundred lines).
	n, m := len(x), len(y)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
		ai   int // 1-based line in a (for ' ' and '-')
		bi   int // 1-based line in b (for ' ' and '+')
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			ops = append(ops, op{' ', x[i], i + 1, j + 1})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', x[i], i + 1, j + 1})
			i++
		default:
			ops = append(ops, op{'+', y[j], i + 1, j + 1})
			j++
		}
	}
	show := func(s string) string {
		nl := strings.HasSuffix(s, "\n")
		s = strings.TrimSuffix(s, "\n")
		s = strings.ReplaceAll(s, "\r", `\r`)
		if !nl {
			s += ` \ no newline`
		}
		return s
	}
	var out strings.Builder
	const context = 1
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		// A hunk: from context lines before k to context lines after the
		// last change that is within 2*context of the next one.
		start := max(0, k-context)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run < len(ops) && run-end <= 2*context {
				end = run
				continue
			}
			break
		}
		stop := min(len(ops), end+context)
		fmt.Fprintf(&out, "@@ -%d +%d @@\n", ops[start].ai, ops[start].bi)
		for _, o := range ops[start:stop] {
			fmt.Fprintf(&out, "%c%s\n", o.kind, show(o.text))
		}
		k = stop
	}
	return out.String()
}

// golden compares got with testdata/golden/name, or rewrites the file with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file missing (run go test ./loops/ -run %s -update): %v", t.Name(), err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", path, lineDiff(want, got))
	}
}
