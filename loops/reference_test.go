package loops

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spinehq/spine/internal/gen"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
)

// referenceMarkdown is goldmark as the renderer configures it for GFM: every
// inline parser, the table and task-list extensions. Parse uses a
// block-only parser instead; referenceOutline checks it finds the same
// title, stages and steps.
var referenceMarkdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.TaskList))

// referenceOutline walks the full goldmark AST of a document's body the
// way Parse walks its own, and lists the title, the stage headings and the
// steps (fenced blocks with an attribute list, task-list items) with their
// lines, in document order.
func referenceOutline(src []byte, bodyOffset int) []string {
	body := src[bodyOffset:]
	root := referenceMarkdown.Parser().Parse(text.NewReader(body))
	lineAt := func(off int) int { return bytes.Count(src[:bodyOffset+off], []byte("\n")) + 1 }
	evBegin, evEnd := bytes.Index(body, []byte(EvidenceBegin)), bytes.Index(body, []byte(EvidenceEnd))
	var out []string
	title := ""
	inStage, stageLevel := false, 0
	_ = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		if n.Type() == ast.TypeBlock && evBegin >= 0 && evEnd > evBegin {
			if off := segStart(n, body); off > evBegin && off < evEnd {
				inStage = false
				return ast.WalkSkipChildren, nil
			}
		}
		switch n := n.(type) {
		case *ast.Heading:
			txt := strings.TrimSpace(string(segmentsText(n.Lines(), body)))
			if inStage && n.Level <= stageLevel {
				inStage = false
			}
			if n.Level == 1 {
				if title == "" {
					title = txt
				}
			} else if _, ok := stageNumberRe(txt); ok {
				out = append(out, fmt.Sprintf("stage %d %q", lineAt(segStart(n, body)), txt))
				inStage, stageLevel = true, n.Level
			}
			return ast.WalkSkipChildren, nil
		case *ast.FencedCodeBlock:
			if n.Info != nil && inStage {
				if _, _, ok, _ := ParseInfo(string(n.Info.Segment.Value(body))); ok {
					out = append(out, fmt.Sprintf("step %d", lineAt(n.Info.Segment.Start)))
				}
			}
			return ast.WalkSkipChildren, nil
		case *extast.TaskCheckBox:
			if inStage {
				para := n.Parent()
				txt := string(segmentsText(para.Lines(), body))
				if m := taskListRe.FindStringIndex(txt); m != nil {
					txt = txt[m[1]:]
				}
				out = append(out, fmt.Sprintf("manual %d %v %q", lineAt(segStart(para, body)), n.IsChecked, strings.Join(strings.Fields(txt), " ")))
			}
		}
		return ast.WalkContinue, nil
	})
	if title != "" {
		out = append([]string{"title " + title}, out...)
	}
	return out
}

// outline lists what Parse found, in the form referenceOutline uses.
func outline(d *Document) []string {
	var out []string
	if d.Title != "" {
		out = append(out, "title "+d.Title)
	}
	for _, st := range d.Stages {
		out = append(out, fmt.Sprintf("stage %d %q", st.Line, st.Title))
		for _, s := range st.Steps {
			if s.Kind == KindManual {
				out = append(out, fmt.Sprintf("manual %d %v %q", s.Line, s.Checked, s.Name))
			} else {
				out = append(out, fmt.Sprintf("step %d", s.Line))
			}
		}
	}
	return out
}

// checkReference compares Parse with the full goldmark walk. Steps outside
// stages are findings, not steps, in both; a fenced step whose name repeats
// is kept by both.
func checkReference(t *testing.T, src []byte) {
	t.Helper()
	d := Parse("loops/x.md", src)
	if hasProblem(d.Problems, 0, "binary file") || hasProblem(d.Problems, 0, "empty document") {
		return
	}
	want := referenceOutline(src, d.BodyOffset)
	// The reference lists stages and their steps in document order; so
	// does outline, stage by stage: the same order for nested content.
	if diff := cmp.Diff(want, outline(d)); diff != "" {
		t.Fatalf("Parse differs from the full goldmark walk on %q (-reference +Parse):\n%s", src, diff)
	}
}

func TestParseMatchesFullGoldmark(t *testing.T) {
	var docs [][]byte
	for _, d := range fixtureDocs(t) {
		docs = append(docs, d.src)
	}
	if _, err := os.Stat(corpusDir); err == nil {
		for _, d := range readDocs(t, corpusDir) {
			docs = append(docs, d.src)
		}
	}
	docs = append(docs, gen.Docs(300, 9)...)
	docs = append(docs,
		[]byte("# T\n\nStage 1: Underlined\n---\n\n```sh {name=a}\nx\n```\n"),
		[]byte("# T\n\n## Stage 1: S\n\nStage 2 | x\n-|-\n-\n\n- [ ] a\n"),
		[]byte("# T\n\n## Stage 1: S\n\nintro\n| a | b |\n|---|---|\n---\n- [x]: /url\n- [x] real\n"),
		[]byte("# T\n\n[a]: /b\nStage 3\n---\n\n- [ ] m\n"),
		[]byte("# T\n\n## Stage 1: S\n\n> - [ ] quoted\n>\n> ```sh {name=q}\n> x\n> ```\n\n1. [x] one\n   - [ ] nested\n"),
	)
	for _, src := range docs {
		checkReference(t, src)
	}
}
