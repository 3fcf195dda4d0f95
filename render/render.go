// Package render turns loop documents (Markdown) into HTML for the evidence
// site: GitHub-flavoured Markdown through goldmark, raw HTML escaped, link
// destinations restricted to safe schemes, run keys, gap ids and loop ids
// linked to their pages, code blocks highlighted with CSS classes, and step
// blocks shown with their attributes and current state.
package render

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/spinehq/spine/loops"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Linker resolves the cross-references found in a document to URLs relative
// to the page being rendered. Each method reports false when the target has
// no page in the site; the reference is then shown as missing, not linked.
type Linker interface {
	// RunKey returns the URL of the receipt page of a run key.
	RunKey(runKey string) (href string, ok bool)
	// Gap returns the URL of a gap's page.
	Gap(id string) (href string, ok bool)
	// Loop returns the URL of a loop's page.
	Loop(id string) (href string, ok bool)
	// Path returns the URL of the page for a repository file, given as a
	// clean slash-separated path relative to the repository root (a
	// relative link in a document, resolved against the document's folder).
	Path(repoPath string) (href string, ok bool)
}

// NoLinks is a Linker that resolves nothing: every reference is shown as
// missing.
type NoLinks struct{}

// RunKey implements Linker.
func (NoLinks) RunKey(string) (string, bool) { return "", false }

// Gap implements Linker.
func (NoLinks) Gap(string) (string, bool) { return "", false }

// Loop implements Linker.
func (NoLinks) Loop(string) (string, bool) { return "", false }

// Path implements Linker.
func (NoLinks) Path(string) (string, bool) { return "", false }

// Doc describes the document one Render call converts.
type Doc struct {
	// LoopID is the document's loop id: it is passed to the step-state
	// callback and references to it are not linked (the page is itself).
	LoopID string
	// Path is the document's repository-relative path, used to resolve
	// relative links.
	Path string
	// Linker resolves references; nil means NoLinks.
	Linker Linker
	// LiteralTildes keeps every ~ as it is written: for text that is not
	// a Markdown document (a gap ledger's description, YAML), where
	// "~/a ... ~/b" means home folders, not struck-out words.
	LiteralTildes bool
}

// strikethrough is goldmark's GFM strikethrough (extension.Strikethrough),
// except in a Doc with LiteralTildes.
type strikethrough struct{}

// Extend adds the strikethrough parser and renderer to m.
func (strikethrough) Extend(m goldmark.Markdown) {
	m.Parser().AddOptions(parser.WithInlineParsers(util.Prioritized(tildeParser{extension.NewStrikethroughParser()}, 500)))
	m.Renderer().AddOptions(renderer.WithNodeRenderers(util.Prioritized(extension.NewStrikethroughHTMLRenderer(), 500)))
}

// tildeParser parses ~ as its InlineParser does, unless the document's
// tildes are literal.
type tildeParser struct{ parser.InlineParser }

// Parse returns nil (the ~ is text) for a Doc with LiteralTildes.
func (p tildeParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	if d, _ := pc.Get(docKey).(*Doc); d != nil && d.LiteralTildes {
		return nil
	}
	return p.InlineParser.Parse(parent, block, pc)
}

// StepStateFunc returns the current state of a step ("done", "pending",
// "blocked", …) for the badge shown on its block.
type StepStateFunc func(loopID, stepName string) string

// Options configure a Renderer.
type Options struct {
	// StepState gives each step block's state badge. Nil means every step
	// is shown as "unknown".
	StepState StepStateFunc
	// HighlightCacheSize bounds the number of highlighted code blocks kept
	// for reuse (0 means 4096; negative disables the cache).
	HighlightCacheSize int
}

// Renderer converts Markdown to HTML. It is configured once by New and is
// safe for concurrent use.
type Renderer struct {
	md        goldmark.Markdown
	stepState StepStateFunc
	hl        *highlighter
	bufs      sync.Pool
}

// MaxMarkdown is the largest document Render parses as Markdown; a
// larger one is shown as text. The largest real loop document known is
// 19 KB; spine reads documents up to loops.MaxDocumentSize (8 MiB), which
// goldmark turns into a gigabyte of nodes when they are small blocks.
const MaxMarkdown = 1 << 20

// docKey is the parser context's slot for the document being rendered.
// goldmark numbers context keys with a package counter that every new
// parser context reads to size its store, so the key is taken once, when
// the package starts, not per Renderer: taking one while another
// goroutine parses raced on that counter, and each Renderer made every
// later context one slot bigger.
var docKey = parser.NewContextKey()

// New returns a Renderer: GFM tables, task lists, strikethrough and
// autolinks, automatic heading ids, raw HTML escaped, cross-references
// linked and code highlighted with CSS classes.
func New(opts Options) *Renderer {
	r := &Renderer{stepState: opts.StepState}
	if r.stepState == nil {
		r.stepState = func(string, string) string { return "unknown" }
	}
	size := opts.HighlightCacheSize
	if size == 0 {
		size = 4096
	}
	r.hl = newHighlighter(size)
	r.bufs.New = func() any { return new(bytes.Buffer) }
	r.md = goldmark.New(
		// goldmark's parser, with the ATX heading parser guarded and each
		// paragraph charged to the document's budget (budget.go).
		goldmark.WithParser(parser.NewParser(
			parser.WithBlockParsers(guardedBlockParsers()...),
			parser.WithInlineParsers(parser.DefaultInlineParsers()...),
			parser.WithParagraphTransformers(parser.DefaultParagraphTransformers()...),
			parser.WithParagraphTransformers(
				util.Prioritized(budgetBefore{}, 10),
				util.Prioritized(budgetAfter{}, 300),
			),
		)),
		goldmark.WithExtensions(
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)),
			extension.TaskList,
			strikethrough{},
			extension.Linkify,
		),
		goldmark.WithParserOptions(
			parser.WithAutoHeadingID(),
			parser.WithASTTransformers(util.Prioritized(&transformer{r: r}, 900)),
		),
		goldmark.WithRendererOptions(
			renderer.WithNodeRenderers(util.Prioritized(&nodeRenderer{r: r}, 10)),
		),
	)
	return r
}

// Render writes the HTML of the Markdown src to w. A w that is a
// *bytes.Buffer or a util.BufWriter is written to directly.
func (r *Renderer) Render(w io.Writer, src []byte, doc Doc) error {
	if doc.Linker == nil {
		doc.Linker = NoLinks{}
	}
	if len(src) > MaxMarkdown {
		// goldmark's memory and time grow with the blocks of a document:
		// 2 million list items in 8 MiB took 12 s and 1.3 GB.
		return writeAsText(w, fmt.Sprintf("A document of %d bytes, shown as text: the site renders Markdown of at most %d bytes a document.", len(src), MaxMarkdown), src)
	}
	if depth, line := loops.Nesting(src); depth > loops.MaxNesting {
		// Markdown's parser would take minutes (see loops.MaxNesting):
		// the text is shown as it is.
		return writeAsText(w, fmt.Sprintf("Block quotes and lists nested %d levels deep on line %d: shown as text.", depth, line), src)
	}
	src = Clean(src)
	pc := parser.NewContext()
	pc.Set(docKey, &doc)
	pc.Set(budgetKey, &inlineBudget{left: markdownBudget, cells: maxTableCells})
	// The ids the site's loop page gives its own sections are taken (it
	// links to #gaps): a heading "Gaps" gets id gaps-1, not a second gaps.
	for _, id := range [...]string{"gaps"} {
		pc.IDs().Put([]byte(id))
	}
	root := r.md.Parser().Parse(text.NewReader(src), parser.WithContext(pc))
	if HasBidi(src) {
		// A bidirectional control character in prose, a heading or a
		// link makes the page read otherwise than the document says, as
		// in code: the page shows each one (VisibleBidi) instead of
		// obeying it. Rare, so the document is rendered aside for it.
		var b bytes.Buffer
		if err := r.md.Renderer().Render(bufferWriter{&b}, src, root); err != nil {
			return fmt.Errorf("render %s: %w", doc.Path, err)
		}
		if _, err := io.WriteString(w, VisibleBidi(b.String())); err != nil {
			return fmt.Errorf("render %s: %w", doc.Path, err)
		}
		return nil
	}
	if b, ok := w.(*bytes.Buffer); ok {
		// Written in place: goldmark would put a bufio.Writer of its own
		// in front of any writer that is not a util.BufWriter.
		w = bufferWriter{b}
	}
	if err := r.md.Renderer().Render(w, src, root); err != nil {
		return fmt.Errorf("render %s: %w", doc.Path, err)
	}
	return nil
}

// writeAsText writes src as escaped text under a note saying why it is not
// rendered as Markdown.
func writeAsText(w io.Writer, note string, src []byte) error {
	_, err := fmt.Fprintf(w, "<p class=\"note\">%s</p>\n<pre>%s</pre>\n", note, EscapeText(string(src)))
	return err
}

// EscapeText escapes s for HTML text or a quoted attribute value, as
// html.EscapeString does, with its control characters and invalid UTF-8
// replaced (Clean) and its bidirectional controls shown (VisibleBidi):
// frontmatter values, gap fields and the like, decoded from YAML escapes,
// can hold what no page should pass on.
func EscapeText(s string) string {
	if !cleanString(s) {
		s = string(Clean([]byte(s)))
	}
	return html.EscapeString(VisibleBidi(s))
}

// cleanString reports whether s has nothing Clean would replace.
func cleanString(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		i += n
	}
	return true
}

// Clean returns src with each control character but tab and line breaks,
// and each byte of invalid UTF-8, replaced by U+FFFD; src itself when it
// has none (the common case costs one scan). A page says it is UTF-8, and
// an escape or a form feed from a document is shown, not passed on.
func Clean(src []byte) []byte {
	i := 0
	for i < len(src) {
		c := src[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	if i == len(src) {
		return src
	}
	out := make([]byte, 0, len(src)+8)
	out = append(out, src[:i]...)
	for i < len(src) {
		c := src[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				out = append(out, "\uFFFD"...)
			} else {
				out = append(out, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, src[i:i+n]...)
		}
		i += n
	}
	return out
}

// bufferWriter is a bytes.Buffer as a util.BufWriter: nothing is held
// back, so there is nothing to flush.
type bufferWriter struct{ *bytes.Buffer }

// Buffered implements util.BufWriter.
func (bufferWriter) Buffered() int { return 0 }

// Flush implements util.BufWriter.
func (bufferWriter) Flush() error { return nil }

// HTML returns the HTML of the Markdown src.
func (r *Renderer) HTML(src []byte, doc Doc) ([]byte, error) {
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer r.bufs.Put(buf)
	if err := r.Render(buf, src, doc); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}
