package loops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinehq/spine/internal/gen"
)

// parseNoScan is Parse with goldmark for every body.
func parseNoScan(path string, src []byte) *Document {
	p := &docParser{d: &Document{Path: path, Source: src}, src: src, noScan: true}
	p.parse()
	return p.d
}

// scans reports whether scanBlocks reads the body of src.
func scans(src []byte) bool {
	d := parseNoScan("loops/x.md", src)
	_, ok := scanBlocks(src[d.BodyOffset:], nil)
	return ok
}

// checkScan fails the test unless Parse gives the same document whether
// or not scanBlocks reads the body.
func checkScan(t *testing.T, name string, src []byte) {
	t.Helper()
	got, want := Parse(name, src), parseNoScan(name, src)
	if diff := diffDeep(want, got); diff != "" {
		t.Fatalf("%s: the scanned body differs from goldmark's (-goldmark +scan):\n%s\nsource:\n%q", name, diff, src)
	}
}

// scanCases are small documents at the edges of what scanBlocks reads:
// each either reads the same as goldmark or is left to goldmark.
var scanCases = []string{
	"# T\n\n## Stage 1: S\n\n```sh {name=a}\nx\n```\n\n- [ ] m\n- [x] n\n",
	"# T\n\nStage 1: Underlined\n---\n\n```sh {name=a}\nx\n```\n",
	"# T\n\n## Stage 1: S\n\nStage 2 | x\n-|-\n-\n\n- [ ] a\n",
	"# T\n\n## Stage 1: S\n\nintro\n| a | b |\n|---|---|\n---\n- [x]: /url\n- [x] real\n",
	"# T\n\n[a]: /b\nStage 3\n---\n\n- [ ] m\n",
	"# T\n\n## Stage 1: S\n\n> - [ ] quoted\n>\n> ```sh {name=q}\n> x\n> ```\n\n1. [x] one\n   - [ ] nested\n",
	"# T\n## Stage 1: S\n- [ ] a\nlazy\n- [x] b\n",
	"# T\n## Stage 1: S\ntext\n- [ ] interrupts\n2. no\n1. [x] yes\n",
	"# T\n## Stage 1: S\n- [ ] a\n* [ ] other list\n+ [x] third\n1. [ ] four\n1) [x] five\n",
	"# T\n## Stage 1: S\n> quote\nlazy\n\n> q\n> - [ ] x\n",
	"## Stage 1 ##\n### Stage 2 #\n## Stage 3 \\#\n## Stage 4 ###   \n## ###\n##\n#\n",
	"## Stage 1: a#\n####### Stage 2\n#Stage 3\n## Stage 4:\t tab\n",
	"## Stage 1\n```sh {name=a}\n```\n````sh {name=b}\n```\n````\n~~~sh {name=c}\nx\n  ~~~\n```sh `x`\n```\n```s",
	"## Stage 1\n```sh {name=a}\nunclosed\n",
	"## Stage 1\n```sh {name=a}",
	"## Stage 1\n```s",
	"## Stage 1\n```s\n```\n",
	"## Stage 1\n<!-- c -->\n- [ ] a\n<!--\n## Stage 2\n-->\n- [x] b\n<!-->\n- [ ] c\n<div>\n## Stage 3\n</div>\n",
	"## Stage 1\n***\n---\n___\n- - -\n* * *\ntext\n***\n- [ ] a\n",
	"## Stage 1\ntext\n===\n- [ ] a\n",
	"## Stage 1\ntext\n= =\n",
	"## Stage 1\n- [ ] a\n---\n- [ ] b\n***\n",
	"## Stage 1\n-\n- \n-x\n*x\n+x\n1.\n1.x\n1234567890. x\n- [ ]\n- [x]x\n",
	"## Stage 1\n-     [ ] five spaces\n-    [ ] four\n- ```sh {name=a}\n```\n",
	"## Stage 1\n- **bold** [ ] x\n- `code`\n- ```\n- ~~~\n- ***\n- *a*\n- * b\n- 1. c\n- 1 d\n- # e\n- > f\n- <g>\n- [x]: /u\n",
	"## Stage 1\n> ## Stage 2\n> ===\n> ---\n>text\n>  indented\n>\n\n- [ ] after\n",
	"    ## indented code\n   ## Stage 1\n\t## tab\n- [ ] a\n  - [ ] b\n",
	"## Stage 1\r\n- [ ] crlf\r\n",
	"## Stage 1\n- [ ] a\x00\n",
	"# T\n## Stage 1: S\n- [ ] a\n" + EvidenceBegin + "\n## Stage 1: S\n- [x] a\n" + EvidenceEnd + "\n",
	"# T\n## Stage 1\n### Stage 2\n## Stage 3\n# Other\n- [ ] outside\n```sh {name=o}\nx\n```\n",
	"## Stage 1\n```sh {name=a}\nx\n```\n```sh {name=a}\ny\n```\n```sh {bad\nz\n```\n",
	"## Stage 1\n\u00a0- [ ] nbsp\n\v- [ ] vt\n\f- [ ] ff\n",
	"## Stage 1\n- [ ] a \n- [ ]   b   c  \n- [X]\n- [\u00a0] d\n",
	"```sh {name=outside}\nx\n```\n## Stage 1\n~~~\n```\n~~~\n",
}

func TestScanBlocksMatchesGoldmark(t *testing.T) {
	docs := fixtureDocs(t)
	if _, err := os.Stat(corpusDir); err == nil {
		docs = append(docs, readDocs(t, corpusDir)...)
	}
	if b, err := os.ReadFile(seedPath); err == nil {
		docs = append(docs, namedDoc{"seed", b})
	}
	site, _ := filepath.Glob(filepath.Join("..", "site", "testdata", "repo", "loops", "*.md"))
	for _, p := range site {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, namedDoc{p, b})
	}
	for _, c := range scanCases {
		docs = append(docs, namedDoc{"case", []byte(c)}, namedDoc{"case-crlf", []byte(strings.ReplaceAll(c, "\n", "\r\n"))})
	}
	for _, d := range docs {
		checkScan(t, d.name, d.src)
	}
	// Generated documents (seed 1 is the benchmarks' and the site bench's):
	// scanBlocks must read every one, the same as goldmark.
	for _, g := range []struct {
		n    int
		seed int64
	}{{2000, 1}, {500, 2}} {
		for i, src := range gen.Docs(g.n, g.seed) {
			if !scans(src) {
				t.Fatalf("scanBlocks does not read generated document %d (seed %d):\n%s", i, g.seed, src)
			}
			checkScan(t, gen.Path(i), src)
		}
	}
}

// FuzzScanBlocks checks Parse gives the same document with and without
// scanBlocks for any input.
func FuzzScanBlocks(f *testing.F) {
	for _, doc := range seedDocs(f) {
		f.Add(doc)
	}
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkScan(t, "loops/LOOP-FUZZ-1.scope.md", src)
	})
}
