package loops

import (
	"bytes"
	"os"
	"testing"

	"github.com/adrg/frontmatter"
	"github.com/spinehq/spine/internal/gen"
)

// adrgBlock reads the frontmatter block of src with adrg/frontmatter, as
// Parse once did: the block between a first line that is `---` (after a
// byte order mark) and the next line that is `---` once trimmed, and the
// offset of the body after it.
func adrgBlock(src []byte) (block []byte, bodyOffset int, ok bool) {
	start := 0
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	first, _, _ := bytes.Cut(src[start:], []byte("\n"))
	if string(bytes.TrimRight(first, " \t\r")) != "---" {
		return nil, 0, false
	}
	format := frontmatter.NewFormat("---", "---", func(data []byte, _ any) error {
		block, ok = bytes.Clone(data), true
		return nil
	})
	rest, err := frontmatter.Parse(bytes.NewReader(src[start:]), nil, format)
	if err != nil || !ok {
		return nil, 0, false
	}
	return block, len(src) - len(rest), true
}

// checkAdrgBlock fails the test unless Parse found the frontmatter block
// adrg/frontmatter finds in src, and its body after it.
func checkAdrgBlock(t *testing.T, src []byte, d *Document) {
	t.Helper()
	want, wantBody, wantOK := adrgBlock(src)
	got, gotOK := frontmatterBlock(src)
	if gotOK != wantOK || !bytes.Equal(got, want) {
		t.Fatalf("frontmatter block %q (found %v), adrg/frontmatter reads %q (found %v) in %q", got, gotOK, want, wantOK, src)
	}
	if gotOK {
		if d.BodyOffset != wantBody {
			t.Fatalf("body at offset %d, adrg/frontmatter ends the block at %d in %q", d.BodyOffset, wantBody, src)
		}
		// The block starts on line 2.
		meta, source, _ := decodeFrontmatter(want, 2)
		if diff := diffDeep(meta, d.Meta); diff != "" || source != d.MetaSource {
			t.Fatalf("metadata read as %s, adrg/frontmatter's block reads as %s (-adrg +Parse):\n%s", d.MetaSource, source, diff)
		}
	}
}

func TestFrontmatterBlockMatchesAdrg(t *testing.T) {
	docs := fixtureDocs(t)
	if _, err := os.Stat(corpusDir); err == nil {
		docs = append(docs, readDocs(t, corpusDir)...)
	}
	for _, src := range gen.Docs(300, 4) {
		docs = append(docs, namedDoc{"gen", src})
	}
	for _, s := range []string{
		"---", "---\n", "---\n---", "---\n---\n", "--- \r\na: 1\r\n --- \r\nbody", "\xef\xbb\xbf---\na: 1\n---\n",
		"---\na: 1\n\n---x\n--- \n# T\n", "---\na: 1\n\u0085---\u00a0\nb\n", "---\na: 1\n", " ---\na: 1\n---\n",
		"---\t\na: 1\n...\n---", "\n---\na: 1\n---\n", "---\n---\n---\n",
	} {
		docs = append(docs, namedDoc{"case", []byte(s)})
	}
	for _, d := range docs {
		if hasProblem(Parse(d.name, d.src).Problems, 0, "binary file") {
			continue
		}
		checkAdrgBlock(t, d.src, Parse(d.name, d.src))
	}
}
