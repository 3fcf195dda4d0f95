package render_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/text"

	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/render"
)

// fakeLinker resolves the ids it knows.
type fakeLinker struct {
	runs, gaps, loops, paths map[string]bool
}

func (f fakeLinker) RunKey(k string) (string, bool) {
	return "../../receipts/" + k + "/index.html", f.runs[k]
}
func (f fakeLinker) Gap(id string) (string, bool) {
	return "../../gaps/" + id + "/index.html", f.gaps[id]
}
func (f fakeLinker) Loop(id string) (string, bool) {
	return "../../loops/" + id + "/index.html", f.loops[id]
}
func (f fakeLinker) Path(p string) (string, bool) { return "../../loops/for/" + p, f.paths[p] }

const (
	keyA = "CAP-20260226-225229__session.start__Rqmns59757"
	keyB = "CAP-20260226-225246__infra.hypervisor.identity__Rrnm565483"
)

func linker() fakeLinker {
	return fakeLinker{
		runs:  map[string]bool{keyA: true},
		gaps:  map[string]bool{"GAP-OP-1033": true},
		loops: map[string]bool{"LOOP-OTHER-20260101": true},
		paths: map[string]bool{"loops/other.md": true},
	}
}

func renderString(t *testing.T, r *render.Renderer, src string) string {
	t.Helper()
	out, err := r.HTML([]byte(src), render.Doc{LoopID: "LOOP-SELF-1", Path: "loops/self.md", Linker: linker()})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestRenderReferences(t *testing.T) {
	r := render.New(render.Options{})
	tests := []struct {
		name string
		src  string
		want []string
		not  []string
	}{
		{"run key in code span", "see `" + keyA + "` here",
			[]string{`<code><a class="ref ref-run" href="../../receipts/` + keyA + `/index.html">` + keyA + `</a></code>`}, nil},
		{"run key in prose split by emphasis delimiters", "run " + keyA + " done",
			[]string{`<a class="ref ref-run" href="../../receipts/` + keyA + `/index.html">` + keyA + `</a> done`}, nil},
		{"run key without receipt", "`" + keyB + "`",
			[]string{`<span class="ref ref-run missing" title="no receipt for this run key in this repository">` + keyB + `</span>`}, []string{`href="../../receipts/` + keyB}},
		{"gap id", "tracked as GAP-OP-1033 and GAP-OP-9",
			[]string{`<a class="ref ref-gap" href="../../gaps/GAP-OP-1033/index.html">GAP-OP-1033</a>`, `<span class="ref ref-gap missing" title="no such gap in the gap ledger">GAP-OP-9</span>`}, nil},
		{"loop ids", "after LOOP-OTHER-20260101, not LOOP-GONE-1; this is LOOP-SELF-1",
			[]string{`<a class="ref ref-loop" href="../../loops/LOOP-OTHER-20260101/index.html">LOOP-OTHER-20260101</a>`,
				`<span class="ref ref-loop missing" title="no loop document with this id in this repository">LOOP-GONE-1</span>`,
				`<span class="ref ref-self">LOOP-SELF-1</span>`}, nil},
		{"receipt folder name", "`receipts/R" + keyA + "/`", []string{`>` + keyA + `</a>/</code>`}, nil},
		{"references inside links are left alone", "[" + keyA + "](https://example.com/x)",
			[]string{`<a href="https://example.com/x" rel="nofollow noopener noreferrer">` + keyA + `</a>`}, []string{"ref-run"}},
		{"relative link to a loop document", "[other](other.md#stage-1)", []string{`<a href="../../loops/for/loops/other.md#stage-1">other</a>`}, nil},
		{"relative link outside the site", "[runbook](../docs/runbook.md)",
			[]string{`<span class="missing" title="link target not part of this site: ../docs/runbook.md">runbook</span>`}, []string{`href="../docs`}},
		{"fragment link", "[x](#objective)", []string{`<a href="#objective">x</a>`}, nil},
		{"heading ids", "## Stage 4: Activation", []string{`<h2 id="stage-4-activation">`}, nil},
		{"table alignment as attributes", "| a | b |\n|:--|--:|\n| 1 | 2 |", []string{`<th align="left">a</th>`, `<td align="right">2</td>`}, []string{"style="}},
		{"task list and strikethrough", "- [x] done\n- [ ] ~~todo~~", []string{`<input checked="" disabled="" type="checkbox">`, `<del>todo</del>`}, nil},
		{"autolink", "see www.example.com", []string{`<a href="http://www.example.com" rel="nofollow noopener noreferrer">www.example.com</a>`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := renderString(t, r, tc.src)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("output has %q:\n%s", n, got)
				}
			}
		})
	}
}

// unsafe finds markup that could run script.
var unsafe = regexp.MustCompile(`(?i)<script|<img|<iframe|<svg|<[^>]*\son[a-z]+\s*=|(href|src)="\s*(javascript|vbscript|data):`)

func TestRenderUnsafe(t *testing.T) {
	r := render.New(render.Options{})
	payloads := []string{
		"<script>alert(1)</script>",
		"text <script>alert(1)</script> inline",
		"<img src=x onerror=alert(1)>",
		"inline <img src=x onerror=alert(1)> html",
		"<a href=\"javascript:alert(1)\">x</a>",
		"[x](javascript:alert(1))",
		"[x](JaVaScRiPt:alert(1))",
		"[x](<java\tscript:alert(1)>)",
		"[x](%20javascript:alert(1))",
		"[x](vbscript:msgbox(1))",
		"[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
		"[x][r]\n\n[r]: javascript:alert(1)",
		"<javascript:alert(1)>",
		"![x](javascript:alert(1))",
		"![x](x.png \"onerror=alert(1)\")",
		"<svg onload=alert(1)>",
		"<iframe src=//evil></iframe>",
		"```sh {name=x}\n<script>alert(1)</script>\n```",
		"`<script>alert(1)</script>`",
		"<!-- x --><script>alert(1)</script>",
		"[x](java&#x09;script:alert(1))",
		"[x](&#106;avascript:alert(1))",
	}
	for _, p := range payloads {
		got := renderString(t, r, p)
		if m := unsafe.FindString(got); m != "" {
			t.Errorf("payload %q rendered unsafe markup %q:\n%s", p, m, got)
		}
		if strings.Contains(got, "style=") {
			t.Errorf("payload %q rendered a style attribute:\n%s", p, got)
		}
	}
	// Raw HTML is shown as text, not dropped.
	got := renderString(t, r, "a <b>bold</b> word\n\n<div>block</div>")
	for _, w := range []string{`<span class="raw-html">&lt;b&gt;</span>bold<span class="raw-html">&lt;/b&gt;</span>`, `&lt;div&gt;block&lt;/div&gt;`} {
		if !strings.Contains(got, w) {
			t.Errorf("raw HTML not shown as text: lacks %q in\n%s", w, got)
		}
	}
	// A line with text between comments shows its text, not the comments;
	// a line of comments only shows nothing.
	got = renderString(t, r, "<!-- owner note --> Do NOT wipe sdb: it holds the boot pool. <!-- end note -->\n\n<!-- a --> <!-- b -->\n\nNext.\n")
	if !strings.Contains(got, "Do NOT wipe sdb: it holds the boot pool.") || strings.Contains(got, "owner note") || strings.Contains(got, "end note") ||
		strings.Contains(got, "&lt;!--") || !strings.Contains(got, "Next.") {
		t.Errorf("text between comments:\n%s", got)
	}
	// Evidence markers (comments) are not shown.
	if got := renderString(t, r, loops.EvidenceBegin+"\n- x\n"+loops.EvidenceEnd+"\n"); strings.Contains(got, "spine:evidence") {
		t.Errorf("evidence markers shown:\n%s", got)
	}
}

func TestRenderStepBlocks(t *testing.T) {
	src := "### Stage 1: Go\n\n```sh {name=zpool-list gate=ALLOW_X destructive=true}\nzpool list\n```\n\n```verify {name=v pack=media}\n```\n\n```sh\necho doc\n```\n"
	var calls []string
	r := render.New(render.Options{StepState: func(loopID, step string) string {
		calls = append(calls, loopID+"/"+step)
		if step == "zpool-list" {
			return "blocked"
		}
		return ""
	}})
	got := renderString(t, r, src)
	want := []string{
		`<div class="step state-blocked" id="step-zpool-list"><div class="step-head"><span class="badge state-blocked">blocked</span><code class="step-name">zpool-list</code>`,
		`<span class="attr attr-gate"><span class="k">gate</span>=<span class="v">ALLOW_X</span></span>`,
		`<span class="attr attr-danger"><span class="k">destructive</span></span>`,
		`<span class="badge state-unknown">unknown</span><span class="step-kind">verify</span><code class="step-name">v</code>`,
		`<pre class="chroma"><code class="language-sh"><span class="nb">echo</span> doc`,
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	if strings.Count(got, `class="step `) != 2 {
		t.Errorf("want 2 step blocks (the plain block is documentation):\n%s", got)
	}
	if diff := cmp.Diff([]string{"LOOP-SELF-1/zpool-list", "LOOP-SELF-1/v"}, calls); diff != "" {
		t.Errorf("state callback calls (-want +got):\n%s", diff)
	}
	// Without a callback every step is unknown.
	got = renderString(t, render.New(render.Options{}), src)
	if !strings.Contains(got, `<span class="badge state-unknown">unknown</span><code class="step-name">zpool-list</code>`) {
		t.Errorf("default state is not unknown:\n%s", got)
	}
}

// TestStepAnchorsAreUnique: a page has one element of each id. A
// heading whose automatic id is a step's anchor ("Step wipe" and step
// wipe) gets another, and a second step of a name (a lint error) none,
// so that #step-wipe, which the site links to, leads to the step.
func TestStepAnchorsAreUnique(t *testing.T) {
	src := "## Step wipe\n\nText.\n\n```sh {name=wipe}\nwipefs -a /dev/x\n```\n\n```sh {name=wipe}\ntrue\n```\n\n## Step wipe\n"
	got := renderString(t, render.New(render.Options{}), src)
	ids := regexp.MustCompile(` id="([^"]*)"`).FindAllStringSubmatch(got, -1)
	var list []string
	for _, m := range ids {
		list = append(list, m[1])
	}
	if diff := cmp.Diff([]string{"step-wipe-2", "step-wipe", "step-wipe-1"}, list); diff != "" {
		t.Errorf("ids in the page (-want +got):\n%s\n%s", diff, got)
	}
	if !strings.Contains(got, `<div class="step state-unknown" id="step-wipe"><div class="step-head"><span class="badge state-unknown">unknown</span><code class="step-name">wipe</code>`) {
		t.Errorf("the first step wipe lacks its anchor:\n%s", got)
	}
	// The id a renamed heading gets is no other step's.
	got = renderString(t, render.New(render.Options{}), "### step a\n\n```sh {name=a}\necho a\n```\n\n```sh {name=a-1}\necho b\n```\n")
	list = nil
	for _, m := range regexp.MustCompile(` id="([^"]*)"`).FindAllStringSubmatch(got, -1) {
		list = append(list, m[1])
	}
	if diff := cmp.Diff([]string{"step-a-2", "step-a", "step-a-1"}, list); diff != "" {
		t.Errorf("ids in the page (-want +got):\n%s\n%s", diff, got)
	}
}

func TestHighlight(t *testing.T) {
	r := render.New(render.Options{})
	tests := []struct {
		lang, code string
		want       []string
	}{
		{"sh", `echo "hi $USER" # note` + "\n", []string{`<span class="nb">echo</span>`, `<span class="s2">&#34;hi </span><span class="nv">$USER</span>`, `<span class="c1"># note</span>`}},
		{"bash", "if true; then x=1; fi\ncat <<EOF\n<b>\nEOF\n", []string{`<span class="k">if</span>`, `<span class="sh">&lt;b&gt;`}},
		{"yaml", "a: b\n", []string{`<span class="nt">a</span>`}},
		{"go", "package main\n", []string{`<span class="kn">package</span>`}},
		{"", "<plain>\n", []string{`<pre class="chroma"><code>&lt;plain&gt;`}},
		{"no-such-language", "x < y\n", []string{`x &lt; y`}},
	}
	for _, tc := range tests {
		got := r.Highlight(tc.lang, tc.code)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("Highlight(%q, %q) lacks %q:\n%s", tc.lang, tc.code, w, got)
			}
		}
		if strings.Contains(got, "style=") {
			t.Errorf("Highlight(%q) used inline styles:\n%s", tc.lang, got)
		}
		// The text survives highlighting.
		if text := stripTags(got); text != htmlEscape(tc.code) && text != htmlEscape(tc.code)+"\n" {
			t.Errorf("Highlight(%q) text = %q, want %q", tc.lang, text, htmlEscape(tc.code))
		}
	}
	css, err := render.CSS()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{".chroma .nb", "@media (prefers-color-scheme: dark)"} {
		if !strings.Contains(css, w) {
			t.Errorf("CSS lacks %q", w)
		}
	}
}

var tagRe = regexp.MustCompile(`<[^>]*>`)

func stripTags(s string) string { return tagRe.ReplaceAllString(s, "") }

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func TestLinkText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain <b>", "plain &lt;b&gt;"},
		{"see GAP-OP-1033.", `see <a class="ref ref-gap" href="../../gaps/GAP-OP-1033/index.html">GAP-OP-1033</a>.`},
		{"LOOP-SELF-1 and " + keyB, `<span class="ref ref-self">LOOP-SELF-1</span> and <span class="ref ref-run missing" title="no receipt for this run key in this repository">` + keyB + `</span>`},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, render.LinkText(tc.in, linker(), "LOOP-SELF-1")); diff != "" {
			t.Errorf("LinkText(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

// TestFindRefsMatchesLoops checks that the renderer finds exactly the
// references the loops package lists, on the real documents.
func TestFindRefsMatchesLoops(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "corpus", "loop-scopes")
	files, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	if len(files) == 0 {
		t.Skipf("no corpus at %s", dir)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := map[render.RefKind]map[string]bool{}
		for _, r := range render.FindRefs(src) {
			if got[r.Kind] == nil {
				got[r.Kind] = map[string]bool{}
			}
			got[r.Kind][string(src[r.Start:r.End])] = true
		}
		for kind, want := range map[render.RefKind][]string{
			render.RefRunKey: loops.FindRunKeys(src),
			render.RefGap:    loops.FindGapIDs(src),
			render.RefLoop:   loops.FindLoopIDs(src),
		} {
			for _, id := range want {
				if !got[kind][id] {
					t.Errorf("%s: %s %s found by loops, not by render", filepath.Base(f), kind, id)
				}
			}
			if len(got[kind]) > len(want) {
				t.Errorf("%s: render found %d %s ids, loops %d", filepath.Base(f), len(got[kind]), kind, len(want))
			}
		}
	}
}

// TestRenderCorpus renders every real document and checks the output is
// safe and links every run key it mentions.
func TestRenderCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "corpus", "loop-scopes")
	files, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	if len(files) == 0 {
		t.Skipf("no corpus at %s", dir)
	}
	r := render.New(render.Options{})
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := loops.Parse(filepath.Base(f), src)
		all := map[string]bool{}
		for _, k := range d.RunKeys {
			all[k] = true
		}
		out, err := r.HTML(d.Body(), render.Doc{LoopID: d.LoopID, Path: d.Path, Linker: fakeLinker{runs: all}})
		if err != nil {
			t.Fatal(err)
		}
		if m := unsafe.FindString(string(out)); m != "" {
			t.Errorf("%s: unsafe markup %q", d.Path, m)
		}
		body := string(d.Body())
		for _, k := range d.RunKeys {
			if strings.Contains(body, k) && !strings.Contains(string(out), `/receipts/`+k+`/index.html">`+k+`</a>`) {
				t.Errorf("%s: run key %s not linked", d.Path, k)
			}
		}
	}
}

// TestNewWhileParsing makes Renderers while other goroutines parse
// Markdown: New must not write goldmark's package state that parsing reads
// (the race detector fails this test if it does), and every Renderer must
// still link cross-references (the document reaches its transformer
// through the parser context).
func TestNewWhileParsing(t *testing.T) {
	src := []byte("# T\n\nafter GAP-OP-1033\n\n- [ ] task\n")
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			md := goldmark.New()
			for {
				select {
				case <-done:
					return
				default:
				}
				md.Parser().Parse(text.NewReader(src))
			}
		})
	}
	defer func() {
		close(done)
		wg.Wait()
	}()
	for range 20 {
		r := render.New(render.Options{})
		if got := renderString(t, r, string(src)); !strings.Contains(got, `href="../../gaps/GAP-OP-1033/index.html"`) {
			t.Fatalf("gap id not linked:\n%s", got)
		}
	}
}

// TestDeepNestingShownAsText: a document nested deeper than
// loops.MaxNesting is shown as escaped text, at once, rather than parsed
// for minutes (goldmark's block parser takes time in the square of the
// depth).
func TestDeepNestingShownAsText(t *testing.T) {
	src := "# Title\n\n" + strings.Repeat(">", 300_000) + "<script>x</script>\n"
	start := time.Now()
	got := renderString(t, render.New(render.Options{}), src)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("render took %s", el)
	}
	if !strings.Contains(got, "nested 300000 levels deep on line 3: shown as text") || strings.Contains(got, "<script>") || !strings.Contains(got, "&lt;script&gt;") {
		t.Errorf("render of a deeply nested document: %.300s", got)
	}
}

// TestCleanControls: a document's control characters (but tab and line
// breaks) and invalid UTF-8 reach the page as U+FFFD; clean text is
// returned as it is, not copied.
func TestCleanControls(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain — é\n\tx\r\n", "plain — é\n\tx\r\n"},
		{"# Bytes \xff\xfe \x1b[31m esc \x0c ff \x7f\n", "# Bytes \ufffd\ufffd \ufffd[31m esc \ufffd ff \ufffd\n"},
	} {
		if got := string(render.Clean([]byte(tc.in))); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	src := []byte("clean — text\n")
	if got := render.Clean(src); &got[0] != &src[0] {
		t.Error("Clean copied clean text")
	}
	got := renderString(t, render.New(render.Options{}), "# Title \x1b]0;x\x07\n\nowner \xff\n")
	if strings.ContainsAny(got, "\x1b\x07") || !utf8.ValidString(got) {
		t.Errorf("rendered page keeps control characters or invalid UTF-8: %q", got)
	}
}

// TestLiteralTildes: in a document, ~x~ strikes as GitHub does; in text
// that is not Markdown (LiteralTildes, a gap's description) every ~ is
// kept, so that home folders are not struck out.
func TestLiteralTildes(t *testing.T) {
	r := render.New(render.Options{})
	src := "guessed ~/stacks/infisical/ instead of the right path (~/stacks/secrets); ~~gone~~ `~/code`\n"
	doc, err := r.HTML([]byte(src), render.Doc{Path: "loops/x.md"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "<del>") {
		t.Errorf("a document's tildes do not strike:\n%s", doc)
	}
	plain, err := r.HTML([]byte(src), render.Doc{Path: "gaps.yaml", LiteralTildes: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"guessed ~/stacks/infisical/ instead of the right path (~/stacks/secrets); ~~gone~~ <code>~/code</code>"} {
		if !strings.Contains(string(plain), want) {
			t.Errorf("literal tildes: lacks %q in\n%s", want, plain)
		}
	}
	if strings.Contains(string(plain), "<del>") {
		t.Errorf("literal tildes struck:\n%s", plain)
	}
}
