package loops

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/spinehq/spine/internal/gen"
)

// seedDocs are the documents fuzz targets start from: the real corpus when
// present (read at seed time, never copied), the fixtures, a few generated
// documents and small bad inputs.
func seedDocs(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	if paths, err := filepath.Glob(filepath.Join(corpusDir, "*.md")); err == nil {
		sort.Strings(paths)
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				out = append(out, b)
			}
		}
	}
	if b, err := os.ReadFile(seedPath); err == nil {
		out = append(out, b)
	}
	for _, d := range fixtureDocs(f) {
		out = append(out, d.src, bytes.ReplaceAll(d.src, []byte("\n"), []byte("\r\n")))
	}
	out = append(out, gen.Docs(8, 1)...)
	out = append(out,
		nil, []byte("---"), []byte("---\n"), []byte("---\n---\n"), []byte("\xef\xbb\xbf---\nstatus: open\n---\n"),
		[]byte("---\nloop_id: LOOP-A-1\nstatus: open\n\n# LOOP-A-1\n"), []byte("\x00\x01\x02"), []byte("Caf\xe9\n"),
		[]byte("---\na: &a [x, x]\nb: [*a, *a]\n---\n"),
		// An anchor redefined by a list that holds its own alias: 30
		// levels of equal nested lists (FuzzScanBlocks found that cmp.Diff
		// takes for ever on them; see diffDeep).
		[]byte("---\na: &a [x, x]\nb:  &a [x *a, *a]\n---\n"),
		[]byte("# LOOP-A-1\n\n## Stage 1: S\n\n```sh {name=a}\nx\n```\n\n- [ ] m\n"+EvidenceBegin+"\n"+EvidenceEnd+"\n"),
	)
	return out
}

// diffDeep is cmp.Diff(want, got, opts...), computed only when the two
// differ (reflect.DeepEqual): cmp's diffing of slices takes time
// exponential in the depth of nested lists, even of equal ones, which a
// YAML anchor redefined by a list holding its own alias makes 30 levels
// deep; DeepEqual takes time linear in their size.
func diffDeep(want, got any, opts ...cmp.Option) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return cmp.Diff(want, got, opts...)
}

// checkDocument checks what every parse must give, whatever the input.
func checkDocument(t *testing.T, src []byte, d *Document) {
	t.Helper()
	lines := bytes.Count(src, []byte("\n")) + 1
	if d.BodyOffset < 0 || d.BodyOffset > len(src) || d.BodyLine < 1 || d.BodyLine > lines {
		t.Fatalf("body at offset %d line %d of %d bytes, %d lines", d.BodyOffset, d.BodyLine, len(src), lines)
	}
	for _, p := range d.Problems {
		if p.Line < 1 || p.Line > lines || p.Message == "" || p.Level != LevelError && p.Level != LevelWarning {
			t.Fatalf("bad finding %+v (document has %d lines)", p, lines)
		}
	}
	switch d.MetaSource {
	case SourceFrontmatter, SourceFrontmatterLines, SourceInline, SourceNone:
	default:
		t.Fatalf("MetaSource %q", d.MetaSource)
	}
	for _, f := range d.Meta {
		if f.Line < 1 || f.Line > lines {
			t.Fatalf("metadata %s on line %d of %d", f.Key, f.Line, lines)
		}
	}
	if d.LoopID == "" || !ValidLoopID(d.LoopID) {
		if !d.HasErrors() {
			t.Fatalf("loop id %q without an error finding: %v", d.LoopID, messages(d.Problems))
		}
	}
	prev := 0
	names := map[string]bool{}
	for _, st := range d.Stages {
		if st.Line <= prev || st.Line > lines || st.Level < 2 {
			t.Fatalf("stage %q at line %d level %d after line %d", st.Title, st.Line, st.Level, prev)
		}
		prev = st.Line
		for _, s := range st.Steps {
			if s.Line < st.Line || s.Line > lines {
				t.Fatalf("step %q at line %d in stage at line %d", s.Name, s.Line, st.Line)
			}
			if s.Kind != KindManual && s.Name != "" {
				if names[s.Name] && !hasProblem(d.Problems, s.Line, "duplicate step name") {
					t.Fatalf("duplicate step %q without a finding", s.Name)
				}
				names[s.Name] = true
			}
		}
	}
	if diff := cmp.Diff(regexpSet(runKeyRegexp, src), d.RunKeys); diff != "" {
		t.Fatalf("run keys differ from the regexp (-regexp +Parse):\n%s", diff)
	}
	if diff := cmp.Diff(regexpSet(gapIDRegexp, src), d.GapIDs); diff != "" {
		t.Fatalf("gap ids differ from the regexp (-regexp +Parse):\n%s", diff)
	}
	if _, ok := NormalizeStatus(d.RawStatus); !ok && !hasProblem(d.Problems, 0, "unknown status") {
		t.Fatalf("unknown status %q without a finding", d.RawStatus)
	}
}

// FuzzFrontmatter parses documents that start with a frontmatter block,
// and checks the fast frontmatter reader against yaml.v3.
func FuzzFrontmatter(f *testing.F) {
	for _, doc := range seedDocs(f) {
		if rest, ok := bytes.CutPrefix(doc, []byte("---\n")); ok {
			f.Add(rest)
		}
	}
	f.Add([]byte("loop_id: LOOP-A-1\nstatus: open\nobjective: a: b\n---\n# x\n"))
	f.Add([]byte("a: 'x' # c\nb: \"y\"\nc: 12\nd: 2026-01-01\n---\n"))
	f.Fuzz(func(t *testing.T, rest []byte) {
		src := append([]byte("---\n"), rest...)
		d := Parse("loops/f.md", src)
		checkDocument(t, src, d)
		if hasProblem(d.Problems, 0, "binary file") {
			return // not read further
		}
		checkAdrgBlock(t, src, d)
		if block, ok := frontmatterBlock(src); ok {
			checkFastFrontmatter(t, block)
			if d.MetaSource != SourceFrontmatter && d.MetaSource != SourceFrontmatterLines {
				t.Fatalf("closed block read as %s", d.MetaSource)
			}
		} else if !hasProblem(d.Problems, 1, "never closes") {
			t.Fatalf("unclosed block without a finding: %v", messages(d.Problems))
		}
	})
}

// renderAttrs writes attributes as a {key="value"} list ParseInfo reads.
func renderAttrs(attrs []Attr) string {
	var b strings.Builder
	b.WriteString("{")
	for i, a := range attrs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(a.Key + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a.Value) + `"`)
	}
	b.WriteString("}")
	return b.String()
}

// FuzzParseInfo checks that attribute lists never panic and that what is
// read can be written back and read the same.
func FuzzParseInfo(f *testing.F) {
	for _, s := range []string{
		"sh {name=zpool-list artifact=10-post-zpool-list.txt}", `sh {"name":"x","background":true,"timeout":90}`,
		`bash {name="a b" gate=ALLOW_X destructive}`, "sh", "", "{}", "sh {a='x}'}", `sh {a="x\"y"}`, "verify {name=v pack=media}",
		`sh {"a":[1]}`, "sh {name=a", "sh {,,name=a,,}",
	} {
		f.Add(s)
	}
	for _, doc := range seedDocs(f) {
		for _, line := range strings.Split(string(doc), "\n") {
			if strings.HasPrefix(line, "```") && strings.Contains(line, "{") {
				f.Add(strings.TrimPrefix(line, "```"))
			}
		}
	}
	f.Fuzz(func(t *testing.T, info string) {
		lang, attrs, ok, err := ParseInfo(info)
		if !ok {
			if len(attrs) != 0 || err != nil || strings.Contains(info, "{") {
				t.Fatalf("ParseInfo(%q) = %q, %v, %v, %v", info, lang, attrs, ok, err)
			}
			return
		}
		if err != nil || strings.ContainsAny(lang, "{\n") {
			return
		}
		for _, a := range attrs {
			if !isAttrKey(a.Key) || !utf8.ValidString(a.Value) {
				return // JSON keys may be anything; the key=value form cannot say them
			}
		}
		again := lang + " " + renderAttrs(attrs)
		lang2, attrs2, ok2, err2 := ParseInfo(again)
		if !ok2 || err2 != nil || lang2 != strings.TrimSpace(lang) || !cmp.Equal(attrs, attrs2, cmp.Comparer(func(a, b []Attr) bool {
			return fmt.Sprint(a) == fmt.Sprint(b)
		})) {
			t.Fatalf("ParseInfo(%q) = %v; written back as %q it reads %q %v %v %v", info, attrs, again, lang2, attrs2, ok2, err2)
		}
	})
}

// FuzzParse parses whole documents.
func FuzzParse(f *testing.F) {
	for _, doc := range seedDocs(f) {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		d := Parse("loops/LOOP-FUZZ-1.scope.md", src)
		checkDocument(t, src, d)
		checkReference(t, src)
		if !bytes.Equal(d.Source, src) {
			t.Fatal("Source is not the input")
		}
	})
}

// FuzzSetFrontmatter sets a key (quoted, or raw) and checks the result
// reads back with the new value, every other line is kept, and setting it
// again changes nothing.
func FuzzSetFrontmatter(f *testing.F) {
	keys := []string{"last_heartbeat_utc", "status", "loop_id", "owner", "approvals", "objective"}
	for i, doc := range seedDocs(f) {
		f.Add(doc, keys[i%len(keys)], "2026-03-04T05:06:07Z", i%3 == 0)
	}
	f.Add([]byte("---\na: x # c\n---\n"), "a", "y # d", true)
	f.Add([]byte("---\na: x\n---\n"), "b", "[1, 2]", true)
	f.Fuzz(func(t *testing.T, src []byte, key, value string, raw bool) {
		v := QuoteYAML(value)
		if raw {
			v = value
		}
		before := Parse("f.md", src)
		out, err := SetFrontmatter(src, key, v)
		if err != nil {
			if out != nil {
				t.Fatal("bytes returned with an error")
			}
			return
		}
		after := Parse("f.md", out)
		checkDocument(t, out, after)
		if !raw {
			if got, ok := after.Meta.Get(key); !ok || got != strings.ToValidUTF8(value, "\uFFFD") {
				t.Fatalf("SetFrontmatter(%q, %q) reads back as %#v (%s):\n%s", key, v, got, after.MetaSource, lineDiff(src, out))
			}
		}
		if after.MetaSource != before.MetaSource && !(before.MetaSource == SourceFrontmatterLines && after.MetaSource == SourceFrontmatter) {
			t.Fatalf("metadata source %s became %s", before.MetaSource, after.MetaSource)
		}
		// Only one line changed or was added.
		changed := 0
		for _, l := range strings.Split(lineDiff(src, out), "\n") {
			if strings.HasPrefix(l, "+") {
				changed++
				if !strings.HasPrefix(l, "+"+key+":") {
					t.Fatalf("line %q changed", l)
				}
			}
		}
		if changed > 1 {
			t.Fatalf("%d lines changed:\n%s", changed, lineDiff(src, out))
		}
		again, err := SetFrontmatter(out, key, v)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("setting twice: %v\n%s", err, lineDiff(out, again))
		}
	})
}

// FuzzSetEvidence replaces or appends the evidence block and checks the
// result re-parses, keeps every byte outside the block, and is stable.
func FuzzSetEvidence(f *testing.F) {
	for i, doc := range seedDocs(f) {
		f.Add(doc, []string{evidenceBlock, "", "x", "### Stage 1\r\n- a\n"}[i%4])
	}
	f.Add([]byte("a\n"+EvidenceBegin+"\nold\n"+EvidenceEnd+"\nb"), "new")
	f.Fuzz(func(t *testing.T, src []byte, block string) {
		out, err := SetEvidence(src, block)
		if err != nil {
			return
		}
		checkDocument(t, out, Parse("f.md", out))
		again, err := SetEvidence(out, block)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("regenerating: %v\n%s", err, lineDiff(out, again))
		}
		b, e, _ := evidenceSpan(src) // spine's markers: outside fences
		if b < 0 {
			if !bytes.HasPrefix(out, src) {
				t.Fatalf("appending changed the document:\n%s", lineDiff(src, out))
			}
			return
		}
		// Everything up to the begin marker's line end, and from the end
		// marker's line start, is kept.
		head := src[:b+bytes.IndexByte(src[b:], '\n')+1]
		e = bytes.LastIndexByte(src[:e], '\n') + 1
		if !bytes.HasPrefix(out, head) || !bytes.HasSuffix(out, src[e:]) {
			t.Fatalf("bytes outside the block changed:\n%s", lineDiff(src, out))
		}
	})
}
