package render

import (
	"bytes"
	"net/url"
	"path"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"

	"github.com/spinehq/spine/loops"
)

// Node kinds added by the transformer.
var (
	// KindRef is a run key, gap id or loop id found in text.
	KindRef = ast.NewNodeKind("SpineRef")
	// KindMissing wraps content whose link target is not in the site (or
	// whose destination was refused) so it is shown, not linked.
	KindMissing = ast.NewNodeKind("SpineMissing")
	// KindStepBlock wraps a fenced code block that is a step.
	KindStepBlock = ast.NewNodeKind("SpineStepBlock")
)

// RefNode is a cross-reference resolved at parse time.
type RefNode struct {
	ast.BaseInline
	RefKind RefKind
	ID      string
	Href    string
	OK      bool
	Self    bool
}

// Kind implements ast.Node.
func (n *RefNode) Kind() ast.NodeKind { return KindRef }

// Dump implements ast.Node.
func (n *RefNode) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"ID": n.ID, "Href": n.Href}, nil)
}

// MissingNode shows its children without a link, with Title explaining why.
type MissingNode struct {
	ast.BaseInline
	Title string
}

// Kind implements ast.Node.
func (n *MissingNode) Kind() ast.NodeKind { return KindMissing }

// Dump implements ast.Node.
func (n *MissingNode) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Title": n.Title}, nil)
}

// StepBlockNode is a step's fenced block with its attributes and state.
type StepBlockNode struct {
	ast.BaseBlock
	Name  string
	Lang  string
	Attrs []loops.Attr
	State string
	Err   string
	// Anchor is set on the first step of its name: its block gets the
	// id step-<name> (a second step of that name, a lint error, none;
	// a heading whose automatic id it is gets another).
	Anchor bool
}

// Kind implements ast.Node.
func (n *StepBlockNode) Kind() ast.NodeKind { return KindStepBlock }

// Dump implements ast.Node.
func (n *StepBlockNode) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Name": n.Name, "State": n.State}, nil)
}

// transformer links references, neutralises unsafe or dead links and wraps
// step blocks.
type transformer struct{ r *Renderer }

// Transform implements parser.ASTTransformer.
func (t *transformer) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	d, _ := pc.Get(docKey).(*Doc)
	if d == nil {
		d = &Doc{Linker: NoLinks{}}
	}
	src := reader.Source()
	var texts []*ast.Text
	var fences []*ast.FencedCodeBlock
	var links []ast.Node
	var headings []*ast.Heading
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			headings = append(headings, n)
		case *ast.Text:
			texts = append(texts, n)
		case *ast.FencedCodeBlock:
			fences = append(fences, n)
			return ast.WalkSkipChildren, nil
		case *ast.Link, *ast.Image, *ast.AutoLink:
			links = append(links, n)
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	for _, n := range mergeTexts(texts) {
		t.linkText(n, src, d)
	}
	for _, n := range links {
		t.fixLink(n, src, d)
	}
	anchors := map[string]bool{}
	for _, f := range fences {
		if sb := t.wrapStep(f, src, d); sb != nil && loopsStepName(sb.Name) && !anchors["step-"+sb.Name] {
			sb.Anchor = true
			anchors["step-"+sb.Name] = true
		}
	}
	// Headings were given their ids before the steps were known: one
	// that took a step's (a heading "Step wipe" and a step wipe) gets
	// another, so that #step-wipe leads to the step.
	for _, h := range headings {
		if id, ok := h.AttributeString("id"); ok {
			if b, ok := id.([]byte); ok && anchors[string(b)] {
				// Not another step's either ("step a" becomes
				// step-a-1, step a-1's anchor).
				next := pc.IDs().Generate(b, ast.KindHeading)
				for anchors[string(next)] {
					next = pc.IDs().Generate(b, ast.KindHeading)
				}
				h.SetAttributeString("id", next)
			}
		}
	}
}

// mergeTexts joins runs of adjacent text nodes over contiguous source (the
// inline parser splits text at every '_' and '*' it considers as emphasis
// delimiters, which cuts run keys apart) and returns the resulting nodes.
func mergeTexts(texts []*ast.Text) []*ast.Text {
	out := make([]*ast.Text, 0, len(texts))
	for _, n := range texts {
		if n.Parent() == nil {
			continue // merged into its previous sibling
		}
		for {
			next, ok := n.NextSibling().(*ast.Text)
			if !ok || n.SoftLineBreak() || n.HardLineBreak() || n.IsRaw() != next.IsRaw() ||
				n.Segment.Stop != next.Segment.Start || n.Segment.Padding != 0 || next.Segment.Padding != 0 {
				break
			}
			n.Segment = n.Segment.WithStop(next.Segment.Stop)
			n.SetSoftLineBreak(next.SoftLineBreak())
			n.SetHardLineBreak(next.HardLineBreak())
			next.Parent().RemoveChild(next.Parent(), next)
		}
		out = append(out, n)
	}
	return out
}

// linkText splits a text node around the references it holds.
func (t *transformer) linkText(n *ast.Text, src []byte, d *Doc) {
	seg := n.Segment
	val := seg.Value(src)
	refs := FindRefs(val)
	if len(refs) == 0 {
		return
	}
	parent := n.Parent()
	if parent == nil {
		return
	}
	last := 0
	for _, r := range refs {
		if r.Start > last {
			parent.InsertBefore(parent, n, ast.NewTextSegment(text.NewSegment(seg.Start+last, seg.Start+r.Start)))
		}
		id := string(val[r.Start:r.End])
		ref := &RefNode{RefKind: r.Kind, ID: id}
		if r.Kind == RefLoop && id == d.LoopID {
			ref.Self = true
		} else {
			ref.Href, ref.OK = resolve(d.Linker, r.Kind, id)
		}
		parent.InsertBefore(parent, n, ref)
		last = r.End
	}
	if last < len(val) {
		tail := ast.NewTextSegment(text.NewSegment(seg.Start+last, seg.Stop))
		tail.SetSoftLineBreak(n.SoftLineBreak())
		tail.SetHardLineBreak(n.HardLineBreak())
		tail.SetRaw(n.IsRaw())
		parent.ReplaceChild(parent, n, tail)
		return
	}
	if n.SoftLineBreak() || n.HardLineBreak() {
		// Keep the line break the removed node carried.
		br := ast.NewTextSegment(text.NewSegment(seg.Stop, seg.Stop))
		br.SetSoftLineBreak(n.SoftLineBreak())
		br.SetHardLineBreak(n.HardLineBreak())
		parent.ReplaceChild(parent, n, br)
		return
	}
	parent.RemoveChild(parent, n)
}

// destination classes.
const (
	destRefused = iota
	destExternal
	destFragment
	destLocal
)

// cleanDest removes what browsers ignore in a URL (leading and trailing
// control characters and spaces, tabs and newlines anywhere), so the scheme
// check sees what a browser would.
func cleanDest(dest string) string {
	dest = strings.TrimFunc(dest, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(dest, "\t\n\r") {
		dest = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(dest)
	}
	return dest
}

// scheme returns the lower-cased URL scheme of dest, or "".
func scheme(dest string) string {
	for i := 0; i < len(dest); i++ {
		c := dest[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':' && i > 0:
			return strings.ToLower(dest[:i])
		default:
			return ""
		}
	}
	return ""
}

// classifyDest sorts a link destination into refused, external, fragment or
// local (a path in the repository).
func classifyDest(dest string) int {
	switch s := scheme(dest); {
	case s == "http" || s == "https" || s == "mailto":
		return destExternal
	case s != "":
		return destRefused
	case strings.HasPrefix(dest, "//"):
		return destExternal
	case strings.HasPrefix(dest, "#"):
		return destFragment
	case strings.ContainsRune(dest, '\\'):
		return destRefused
	}
	return destLocal
}

// localTarget resolves a relative destination against the document's
// folder, returning the repository path and the fragment.
func localTarget(docPath, dest string) (string, string, bool) {
	p, frag, _ := strings.Cut(dest, "#")
	p, _, _ = strings.Cut(p, "?")
	if up, err := url.PathUnescape(p); err == nil {
		p = up
	}
	if p == "" {
		return "", frag, false
	}
	if strings.HasPrefix(p, "/") {
		p = path.Clean(strings.TrimLeft(p, "/"))
	} else {
		p = path.Join(path.Dir(docPath), p)
	}
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", frag, false
	}
	return p, frag, true
}

// safeImage reports whether an image destination is an inline raster image
// the site's content security policy allows.
func safeImage(dest string) bool {
	l := strings.ToLower(dest)
	for _, p := range []string{"data:image/png;", "data:image/gif;", "data:image/jpeg;", "data:image/webp;"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// unlink replaces n by a MissingNode holding n's children.
func unlink(n ast.Node, title string) *MissingNode {
	m := &MissingNode{Title: title}
	for c := n.FirstChild(); c != nil; {
		next := c.NextSibling()
		m.AppendChild(m, c)
		c = next
	}
	n.Parent().ReplaceChild(n.Parent(), n, m)
	return m
}

// fixLink rewrites a link, image or autolink: safe external links are kept
// (marked rel=nofollow), links to documents of the repository that have a
// page are pointed at it, and everything else is shown unlinked.
func (t *transformer) fixLink(n ast.Node, src []byte, d *Doc) {
	if n.Parent() == nil {
		return
	}
	switch n := n.(type) {
	case *ast.Link:
		dest := cleanDest(string(n.Destination))
		switch classifyDest(dest) {
		case destExternal:
			n.Destination = []byte(dest)
			n.SetAttributeString("rel", []byte("nofollow noopener noreferrer"))
		case destFragment:
			n.Destination = []byte(dest)
		case destLocal:
			p, frag, ok := localTarget(d.Path, dest)
			var href string
			if ok {
				href, ok = d.Linker.Path(p)
			}
			if !ok {
				unlink(n, "link target not part of this site: "+dest)
				return
			}
			if frag != "" {
				href += "#" + frag
			}
			n.Destination = []byte(href)
		default:
			unlink(n, "link refused: unsafe destination")
		}
	case *ast.Image:
		dest := cleanDest(string(n.Destination))
		switch {
		case safeImage(dest):
			n.Destination = []byte(dest)
		case classifyDest(dest) == destExternal:
			// Remote images are never loaded: link to them instead.
			l := ast.NewLink()
			l.Destination = []byte(dest)
			l.Title = n.Title
			l.SetAttributeString("rel", []byte("nofollow noopener noreferrer"))
			l.SetAttributeString("class", []byte("image-link"))
			for c := n.FirstChild(); c != nil; {
				next := c.NextSibling()
				l.AppendChild(l, c)
				c = next
			}
			n.Parent().ReplaceChild(n.Parent(), n, l)
		default:
			unlink(n, "image not part of this site: "+dest)
		}
	case *ast.AutoLink:
		dest := cleanDest(string(n.URL(src)))
		if n.AutoLinkType == ast.AutoLinkEmail || classifyDest(dest) == destExternal {
			n.SetAttributeString("rel", []byte("nofollow noopener noreferrer"))
			return
		}
		m := &MissingNode{Title: "link refused: unsafe destination"}
		m.AppendChild(m, ast.NewString(bytes.Clone(n.Label(src))))
		n.Parent().ReplaceChild(n.Parent(), n, m)
	}
}

// wrapStep wraps a fenced block that carries an attribute list in a
// StepBlockNode, and returns it (nil for a block that is no step).
func (t *transformer) wrapStep(f *ast.FencedCodeBlock, src []byte, d *Doc) *StepBlockNode {
	if f.Info == nil || f.Parent() == nil {
		return nil
	}
	lang, attrs, ok, err := loops.ParseInfo(string(f.Info.Segment.Value(src)))
	if !ok {
		return nil
	}
	sb := &StepBlockNode{Lang: lang, Attrs: attrs}
	if err != nil {
		sb.Err = err.Error()
	}
	for _, a := range attrs {
		if a.Key == "name" {
			sb.Name = a.Value
		}
	}
	sb.State = "unknown"
	if sb.Name != "" {
		if s := t.r.stepState(d.LoopID, sb.Name); s != "" {
			sb.State = s
		}
	}
	parent := f.Parent()
	parent.ReplaceChild(parent, f, sb)
	sb.AppendChild(sb, f)
	return sb
}

// nodeRenderer renders the added nodes and replaces goldmark's renderers of
// code, code spans and raw HTML.
type nodeRenderer struct{ r *Renderer }

// RegisterFuncs implements renderer.NodeRenderer.
func (nr *nodeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(KindRef, nr.renderRef)
	reg.Register(KindMissing, nr.renderMissing)
	reg.Register(KindStepBlock, nr.renderStep)
	reg.Register(kindText, nr.renderText)
	reg.Register(ast.KindCodeSpan, nr.renderCodeSpan)
	reg.Register(ast.KindFencedCodeBlock, nr.renderFenced)
	reg.Register(ast.KindCodeBlock, nr.renderCodeBlock)
	reg.Register(ast.KindRawHTML, nr.renderRawHTML)
	reg.Register(ast.KindHTMLBlock, nr.renderHTMLBlock)
}

func (nr *nodeRenderer) renderRef(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*RefNode)
	writeRefNode(w, n)
	return ast.WalkContinue, nil
}

func writeRefNode(w util.BufWriter, n *RefNode) {
	switch {
	case n.Self:
		_, _ = w.WriteString(`<span class="ref ref-self">`)
		_, _ = w.WriteString(EscapeText(n.ID))
		_, _ = w.WriteString(`</span>`)
	case !n.OK:
		_, _ = w.WriteString(`<span class="ref ref-` + n.RefKind.String() + ` missing" title="` + missingTitle(n.RefKind) + `">`)
		_, _ = w.WriteString(EscapeText(n.ID))
		_, _ = w.WriteString(`</span>`)
	default:
		_, _ = w.WriteString(`<a class="ref ref-` + n.RefKind.String() + `" href="`)
		_, _ = w.WriteString(EscapeText(n.Href))
		_, _ = w.WriteString(`">`)
		_, _ = w.WriteString(EscapeText(n.ID))
		_, _ = w.WriteString(`</a>`)
	}
}

func (nr *nodeRenderer) renderMissing(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*MissingNode)
	if entering {
		_, _ = w.WriteString(`<span class="missing" title="`)
		_, _ = w.WriteString(EscapeText(n.Title))
		_, _ = w.WriteString(`">`)
	} else {
		_, _ = w.WriteString(`</span>`)
	}
	return ast.WalkContinue, nil
}

// stateClass maps a state word to a CSS class suffix of [a-z-] only.
func stateClass(s string) string {
	s = strings.ToLower(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '-') {
			return "other"
		}
	}
	if s == "" {
		return "unknown"
	}
	return s
}

func (nr *nodeRenderer) renderStep(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*StepBlockNode)
	if !entering {
		_, _ = w.WriteString("</div>\n")
		return ast.WalkContinue, nil
	}
	cls := stateClass(n.State)
	_, _ = w.WriteString(`<div class="step state-` + cls + `"`)
	if n.Anchor {
		_, _ = w.WriteString(` id="step-` + n.Name + `"`)
	}
	_, _ = w.WriteString(`><div class="step-head"><span class="badge state-` + cls + `">`)
	_, _ = w.WriteString(EscapeText(n.State))
	_, _ = w.WriteString(`</span>`)
	if n.Lang == "verify" {
		_, _ = w.WriteString(`<span class="step-kind">verify</span>`)
	}
	_, _ = w.WriteString(`<code class="step-name">`)
	if n.Name == "" {
		_, _ = w.WriteString("(no name)")
	} else {
		_, _ = w.WriteString(EscapeText(n.Name))
	}
	_, _ = w.WriteString(`</code>`)
	for _, a := range n.Attrs {
		if a.Key == "name" {
			continue
		}
		cls := "attr"
		switch a.Key {
		case "gate":
			cls += " attr-gate"
		case "destructive":
			if a.Value != "false" {
				cls += " attr-danger"
			}
		}
		_, _ = w.WriteString(`<span class="` + cls + `"><span class="k">`)
		_, _ = w.WriteString(EscapeText(a.Key))
		_, _ = w.WriteString(`</span>`)
		if a.Value != "true" || a.Key == "name" {
			_, _ = w.WriteString(`=<span class="v">`)
			_, _ = w.WriteString(EscapeText(a.Value))
			_, _ = w.WriteString(`</span>`)
		}
		_, _ = w.WriteString(`</span>`)
	}
	if n.Err != "" {
		_, _ = w.WriteString(`<span class="attr attr-danger" title="`)
		_, _ = w.WriteString(EscapeText(n.Err))
		_, _ = w.WriteString(`">invalid attributes</span>`)
	}
	_, _ = w.WriteString("</div>\n")
	return ast.WalkContinue, nil
}

// loopsStepName reports whether name is safe as an element id.
func loopsStepName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (nr *nodeRenderer) renderCodeSpan(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString("<code>")
	for c := node.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			value := c.Segment.Value(source)
			if bytes.HasSuffix(value, []byte("\n")) {
				_, _ = w.WriteString(EscapeText(string(value[:len(value)-1])))
				_ = w.WriteByte(' ')
			} else {
				_, _ = w.WriteString(EscapeText(string(value)))
			}
		case *ast.String:
			_, _ = w.WriteString(EscapeText(string(c.Value)))
		case *RefNode:
			writeRefNode(w, c)
		}
	}
	_, _ = w.WriteString("</code>")
	return ast.WalkSkipChildren, nil
}

// blockText returns the content lines of a code or HTML block.
func blockText(n ast.Node, source []byte) []byte {
	lines := n.Lines()
	var b bytes.Buffer
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		b.Write(seg.Value(source))
	}
	return b.Bytes()
}

func (nr *nodeRenderer) renderFenced(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.FencedCodeBlock)
	lang := ""
	if sb, ok := n.Parent().(*StepBlockNode); ok {
		lang = sb.Lang // its info string was parsed when it was wrapped
	} else if n.Info != nil {
		lang, _, _, _ = loops.ParseInfo(string(n.Info.Segment.Value(source)))
	}
	nr.r.hl.write(w, lang, blockText(n, source))
	return ast.WalkSkipChildren, nil
}

func (nr *nodeRenderer) renderCodeBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	nr.r.hl.write(w, "", blockText(node, source))
	return ast.WalkSkipChildren, nil
}

// isComment reports whether b holds HTML comments and nothing else but
// space.
func isComment(b []byte) bool {
	return bytes.Contains(b, []byte("<!--")) && len(bytes.TrimSpace(stripComments(b))) == 0
}

// stripComments returns b without its HTML comments ("<!-- ... -->"; one
// left open runs to the end, as a browser reads it).
func stripComments(b []byte) []byte {
	var out []byte
	for {
		i := bytes.Index(b, []byte("<!--"))
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		j := bytes.Index(b[i+4:], []byte("-->"))
		if j < 0 {
			return out
		}
		b = b[i+4+j+3:]
	}
}

// renderRawHTML shows inline HTML as text; comments are dropped.
func (nr *nodeRenderer) renderRawHTML(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	n := node.(*ast.RawHTML)
	var raw []byte
	for i := 0; i < n.Segments.Len(); i++ {
		seg := n.Segments.At(i)
		raw = append(raw, seg.Value(source)...)
	}
	if isComment(raw) {
		return ast.WalkSkipChildren, nil
	}
	_, _ = w.WriteString(`<span class="raw-html">`)
	_, _ = w.WriteString(EscapeText(string(raw)))
	_, _ = w.WriteString(`</span>`)
	return ast.WalkSkipChildren, nil
}

// renderHTMLBlock shows an HTML block as preformatted text; comment blocks
// (such as the evidence markers) are dropped, and the text a line holds
// besides its comments (`<!-- note --> Do not wipe sdb`) is shown
// without them.
func (nr *nodeRenderer) renderHTMLBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	n := node.(*ast.HTMLBlock)
	raw := blockText(n, source)
	if n.HasClosure() {
		raw = append(raw, n.ClosureLine.Value(source)...)
	}
	if isComment(raw) {
		return ast.WalkSkipChildren, nil
	}
	if n.HTMLBlockType == ast.HTMLBlockType2 {
		raw = bytes.TrimSpace(stripComments(raw))
		if len(raw) == 0 {
			return ast.WalkSkipChildren, nil // a comment left open
		}
	}
	_, _ = w.WriteString(`<pre class="raw-html"><code>`)
	_, _ = w.WriteString(EscapeText(strings.TrimRight(string(raw), "\n")))
	_, _ = w.WriteString("</code></pre>\n")
	return ast.WalkSkipChildren, nil
}
