package loops

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/spinehq/spine/internal/gen"
)

// checkFastFrontmatter compares the fast path with yaml.v3 on one block:
// when the fast path accepts a block, both must read it the same.
func checkFastFrontmatter(t *testing.T, block []byte) bool {
	t.Helper()
	fast, ok := fastFrontmatter(block, 2)
	if !ok {
		return false
	}
	slow, source, err := yamlFrontmatter(block, 2)
	if err != nil || source != SourceFrontmatter {
		t.Fatalf("fast path accepted a block yaml.v3 rejects (%v):\n%q", err, block)
	}
	if diff := diffDeep(slow, fast); diff != "" {
		t.Fatalf("fast path differs from yaml.v3 on %q (-yaml +fast):\n%s", block, diff)
	}
	return true
}

// frontmatterBlock returns the frontmatter block of a document, if any.
func frontmatterBlock(src []byte) ([]byte, bool) {
	b, err := locateFrontmatter(src)
	if err != nil {
		return nil, false
	}
	return src[b.start:b.close], true
}

func TestFastFrontmatterOnRealBlocks(t *testing.T) {
	var docs [][]byte
	for _, d := range fixtureDocs(t) {
		docs = append(docs, d.src)
	}
	if _, err := os.Stat(corpusDir); err == nil {
		for _, d := range readDocs(t, corpusDir) {
			docs = append(docs, d.src)
		}
	}
	docs = append(docs, gen.Docs(500, 3)...)
	accepted, total := 0, 0
	for _, src := range docs {
		if block, ok := frontmatterBlock(src); ok {
			total++
			if checkFastFrontmatter(t, block) {
				accepted++
			}
		}
	}
	t.Logf("fast path read %d of %d frontmatter blocks", accepted, total)
	if accepted < total/2 {
		t.Errorf("fast path read only %d of %d blocks", accepted, total)
	}
}

func TestFastFrontmatterCases(t *testing.T) {
	tests := []struct {
		block string
		ok    bool
	}{
		{"loop_id: LOOP-A-1\nstatus: open\n", true},
		{"a: \"@x\" # c\nb: 'q'\nc:\nd: 12\ne: 2026-02-27\nf: 2026-02-27T03:55:03Z\ng: true\nh: Null\n# note\n\ni: x#y\nj: x # y\n", true},
		{"a: yes\nb: No\nc: ON\nd: y\ne: NaN\nf: Inf\n", true},
		{"a: [x]\n", true},
		{"a: [ALLOW_X, ALLOW_Y]\nb: []\nc: [ 1 , true, 2026-01-01, x.y-z ] # c\n", true},
		{"a: [x, ]\n", false},
		{"a: [x, [y]]\n", false},
		{"a: [\"x\"]\n", false},
		{"a: [x\n", false},
		{"a: [x] y\n", false},
		{"a: [x]y\n", false},
		{"a: [x,,y]\n", false},
		{"a: [007]\n", false},
		{"a: b: c\n", false},
		{"a: 'it''s'\n", false},
		{"a: \"x\\ty\"\n", false},
		{"a: 1e3\n", false},
		{"a: 007\n", false},
		{"a: -1\n", false},
		{"a: x\na: y\n", false},
		{"a:\n  - x\n", false},
		{"a: \"x\" y\n", false},
		{"a: \"x\"# y\n", false},
		{"a: x\tb\n", false},
		{"a: x\u2028y\n", false},
		{"a: @x\n", false},
		{"a:b\n", false},
		{"# only a comment\n", false},
		{"", false},
		{"a: 12:30\n", false},
		{"a: 2026-02-27 10:00\n", false},
		{"a: x\r\nb: y\r\n", true},
		{"a: x\rb\n", false},
		{"a: objective — with an em dash, commas, [brackets] and {braces}\n", true},
	}
	for _, tt := range tests {
		got := checkFastFrontmatter(t, []byte(tt.block))
		if got != tt.ok {
			t.Errorf("fastFrontmatter(%q) ok = %v, want %v", tt.block, got, tt.ok)
		}
	}
}

// frontmatterPieces are fragments random blocks are assembled from.
var frontmatterPieces = []string{
	"a", "b", "key", "loop_id", "_x", "k.y", "k-z", ":", ": ", " ", "  ", "\n", "\r\n", "#", " #", "\"", "'", "''",
	"x", "X", "open", "true", "True", "false", "null", "NULL", "~", "yes", "0", "1", "12", "007", "-1", "1.5", "1e3",
	"2026-02-27", "T03:55:03", "Z", ".5", "-", "[", "]", "{", "}", ",", "&a", "*a", "!!str", "|", ">", "@", "%", "`",
	"é", "—", "\u2028", "\ufeff", "\t", "\\", "\\n", "---", "...", "?", "<<", "\x00", "\x7f", "\xff",
}

// safePieces build values close to what the fast path accepts.
var safePieces = []string{
	"x", "Open", "true", "null", "1", "20", "0", "2026-02-27", "T10:00:00", "Z", ".25", " ", " #", "#", "\"", "'", "[", "]", ", ", "[x, y]",
	"é", "—", "-", "_", ".", "/", "(", ")", ",", ":", "[", "]", "{", "}", "a b", "@", "`", "!", "%", "*", "&", "|", ">", "?",
}

// TestFastFrontmatterRandom is a differential property test: on random
// blocks, whatever the fast path accepts yaml.v3 reads the same way.
func TestFastFrontmatterRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 100000
	if testing.Short() || raceEnabled {
		n = 10000
	}
	accepted := 0
	for i := 0; i < n; i++ {
		var b strings.Builder
		for lines := r.IntN(4); lines >= 0; lines-- {
			if i%2 == 0 || r.IntN(3) > 0 {
				b.WriteString([]string{"a", "loop_id", "status", "k.y", "x_1"}[r.IntN(5)] + ": ")
			}
			pieces := frontmatterPieces
			if i%2 == 0 {
				pieces = safePieces // mostly values the fast path takes
			}
			for k := r.IntN(4); k >= 0; k-- {
				b.WriteString(pieces[r.IntN(len(pieces))])
			}
			b.WriteString("\n")
		}
		if checkFastFrontmatter(t, []byte(b.String())) {
			accepted++
		}
	}
	t.Logf("fast path accepted %d of %d random blocks", accepted, n)
	if accepted == 0 {
		t.Error("fast path accepted no random block")
	}
}
