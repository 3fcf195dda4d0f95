package loops

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/adrg/frontmatter"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"gopkg.in/yaml.v3"
)

// Markers delimiting the evidence block spine regenerates in a document.
const (
	EvidenceBegin = "<!-- spine:evidence:begin -->"
	EvidenceEnd   = "<!-- spine:evidence:end -->"
)

// knownStatuses maps the status words seen in real repositories to their
// normalised form.
var knownStatuses = map[string]string{
	"active":      "active",
	"open":        "active",
	"in_progress": "active",
	"in-progress": "active",
	"running":     "active",
	"draft":       "draft",
	"planned":     "planned",
	"blocked":     "blocked",
	"deferred":    "deferred",
	"closed":      "closed",
	"complete":    "closed",
	"completed":   "closed",
	"done":        "closed",
}

// NormalizeStatus maps a raw status value to its normalised form and
// reports whether it was recognised. "closed (superseded by X)" is closed.
func NormalizeStatus(raw string) (string, bool) {
	s := strings.ToLower(strings.TrimSpace(raw))
	s = strings.Trim(s, "*_` ")
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r == '_' || r == '-')
	})
	if end >= 0 {
		s = s[:end]
	}
	if n, ok := knownStatuses[s]; ok {
		return n, true
	}
	return s, s == ""
}

// markdown is the goldmark instance used to find stages and steps. It is
// immutable after construction and safe for concurrent use.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.TaskList))

// stageRe matches a stage heading's leading words.
var stageRe = regexp.MustCompile(`(?i)^(stage|phase|wave|step)[ -]?(\d+)\b`)

// Parse reads one loop document. It never fails: whatever is wrong with the
// document becomes a finding in Problems, and as much as can be read is.
// path is the repository-relative path used in findings.
func Parse(path string, src []byte) *Document {
	p := &docParser{d: &Document{Path: path, Source: src}, src: src}
	p.parse()
	return p.d
}

type docParser struct {
	d     *Document
	src   []byte
	lines []int // byte offset of each line start
}

// lineAt returns the 1-based line of byte offset off.
func (p *docParser) lineAt(off int) int {
	if p.lines == nil {
		p.lines = append(make([]int, 0, bytes.Count(p.src, []byte{'\n'})+1), 0)
		for i, c := range p.src {
			if c == '\n' {
				p.lines = append(p.lines, i+1)
			}
		}
	}
	return sort.Search(len(p.lines), func(i int) bool { return p.lines[i] > off })
}

func (p *docParser) problem(line int, level Level, format string, args ...any) {
	p.d.Problems = append(p.d.Problems, Problem{Path: p.d.Path, Line: line, Level: level, Message: fmt.Sprintf(format, args...)})
}

func (p *docParser) parse() {
	d := p.d
	d.FileID = FileID(d.Path)
	d.MetaSource = SourceNone
	d.Meta = Meta{}
	if len(bytes.TrimSpace(p.src)) == 0 {
		p.problem(1, LevelError, "empty document")
		p.finish()
		return
	}
	if i := bytes.IndexByte(p.src[:min(len(p.src), 8000)], 0); i >= 0 {
		p.problem(p.lineAt(i), LevelError, "binary file (NUL byte); not a loop document")
		p.finish()
		return
	}
	if !utf8.Valid(p.src) {
		off := firstInvalidUTF8(p.src)
		p.problem(p.lineAt(off), LevelWarning, "invalid UTF-8 at byte %d", off)
	}
	start := 0
	if bytes.HasPrefix(p.src, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	d.BodyOffset = start
	p.frontmatter(start)
	d.BodyLine = p.lineAt(d.BodyOffset)
	p.body()
	if d.MetaSource == SourceNone {
		p.inlineMeta()
	}
	p.finish()
}

// frontmatter reads a YAML block opened by `---` on line 1.
func (p *docParser) frontmatter(start int) {
	first := p.src[start:]
	if nl := bytes.IndexByte(first, '\n'); nl >= 0 {
		first = first[:nl]
	}
	if string(bytes.TrimRight(first, " \t\r")) != "---" {
		return
	}
	var block []byte
	var yamlErr error
	var root yaml.Node
	format := frontmatter.NewFormat("---", "---", func(data []byte, _ any) error {
		block = data
		yamlErr = yaml.Unmarshal(data, &root)
		return nil
	})
	rest, err := frontmatter.Parse(bytes.NewReader(p.src[start:]), nil, format)
	if err != nil || block == nil {
		p.problem(1, LevelError, "frontmatter: block opened on line 1 never closes with ---")
		return
	}
	p.d.BodyOffset = len(p.src) - len(rest)
	blockStart := start + bytes.IndexByte(p.src[start:], '\n') + 1
	blockLine := p.lineAt(blockStart)
	if yamlErr == nil {
		if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
			p.d.MetaSource = SourceFrontmatter
			return
		}
		doc := &root
		if doc.Kind == yaml.DocumentNode {
			doc = doc.Content[0]
		}
		if doc.Kind == yaml.MappingNode {
			p.d.MetaSource = SourceFrontmatter
			for i := 0; i+1 < len(doc.Content); i += 2 {
				k, v := doc.Content[i], doc.Content[i+1]
				p.d.Meta = append(p.d.Meta, Field{Key: k.Value, Value: nodeValue(v, 0), Line: blockLine + k.Line - 1})
			}
			p.checkMetaTypes()
			return
		}
		yamlErr = fmt.Errorf("not a mapping of keys to values")
	}
	line, msg := yamlErrorLine(yamlErr, blockLine)
	p.problem(line, LevelError, "frontmatter: %s (read line by line instead)", msg)
	p.d.MetaSource = SourceFrontmatterLines
	p.d.Meta = linewiseMeta(block, blockLine)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErrorLine converts a YAML error's block-relative line to a file line.
func yamlErrorLine(err error, blockLine int) (int, string) {
	msg := err.Error()
	if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return blockLine + n - 1, msg[len(m[0]):]
	}
	return blockLine - 1, strings.TrimPrefix(msg, "yaml: ")
}

// nodeValue converts a YAML node to a plain Go value. Scalars keep their
// written text except booleans and numbers; dates stay strings.
func nodeValue(n *yaml.Node, depth int) any {
	if depth > 64 {
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return nodeValue(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return nodeValue(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			out = append(out, nodeValue(c, depth+1))
		}
		return out
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = nodeValue(n.Content[i+1], depth+1)
		}
		return out
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				return f
			}
		}
		return n.Value
	}
	return nil
}

// scalarString renders a metadata value as text.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = scalarString(e)
		}
		return strings.Join(parts, ", ")
	default:
		return fmt.Sprint(x)
	}
}

var lineKeyRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]*):(?:\s+(.*?))?\s*$`)

// linewiseMeta reads a rejected YAML block as top-level `key: value` lines,
// with indented `- item` lines under a key collected as a list.
func linewiseMeta(block []byte, firstLine int) Meta {
	var m Meta
	for i, raw := range strings.Split(string(block), "\n") {
		line := strings.TrimRight(raw, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' || line[0] == '-' {
			item := strings.TrimSpace(line)
			if len(m) > 0 && strings.HasPrefix(item, "- ") {
				last := &m[len(m)-1]
				if list, ok := last.Value.([]any); ok || last.Value == nil {
					last.Value = append(list, unquote(strings.TrimSpace(item[2:])))
				}
			}
			continue
		}
		if g := lineKeyRe.FindStringSubmatch(line); g != nil {
			var v any
			if g[2] != "" {
				v = unquote(g[2])
			}
			m = append(m, Field{Key: g[1], Value: v, Line: firstLine + i})
		}
	}
	return m
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"') {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

// checkMetaTypes reports frontmatter values whose type spine relies on.
func (p *docParser) checkMetaTypes() {
	for _, f := range p.d.Meta {
		switch f.Key {
		case "loop_id", "status", "owner", "host":
			switch f.Value.(type) {
			case string, nil:
			default:
				p.problem(f.Line, LevelError, "frontmatter: %s must be a string, got %s", f.Key, typeName(f.Value))
			}
		case "heartbeat_ttl_minutes":
			if _, ok := f.Value.(int64); !ok && f.Value != nil {
				p.problem(f.Line, LevelWarning, "frontmatter: heartbeat_ttl_minutes must be a whole number of minutes, got %q", scalarString(f.Value))
			}
		case "approvals":
			switch v := f.Value.(type) {
			case nil, string:
			case []any:
				for _, e := range v {
					if _, ok := e.(string); !ok {
						p.problem(f.Line, LevelError, "frontmatter: approvals must be a list of gate names")
						break
					}
				}
			default:
				p.problem(f.Line, LevelError, "frontmatter: approvals must be a list of gate names")
			}
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// body walks the Markdown AST for the title, stages and steps.
func (p *docParser) body() {
	body := p.src[p.d.BodyOffset:]
	root := markdown.Parser().Parse(text.NewReader(body))
	base := p.d.BodyOffset
	var cur *Stage
	names := map[string]int{}
	_ = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			txt := strings.TrimSpace(string(segmentsText(n.Lines(), body)))
			line := p.lineAt(base + segStart(n, body))
			if cur != nil && n.Level <= cur.Level {
				cur = nil
			}
			if n.Level == 1 {
				if p.d.Title == "" {
					p.d.Title = txt
				}
			} else if m := stageRe.FindStringSubmatch(txt); m != nil {
				p.d.Stages = append(p.d.Stages, Stage{Number: m[2], Title: txt, Level: n.Level, Line: line})
				cur = &p.d.Stages[len(p.d.Stages)-1]
			}
			return ast.WalkSkipChildren, nil
		case *ast.FencedCodeBlock:
			if n.Info == nil {
				return ast.WalkSkipChildren, nil
			}
			info := string(n.Info.Segment.Value(body))
			line := p.lineAt(base + n.Info.Segment.Start)
			step, ok := p.step(info, line)
			if !ok {
				return ast.WalkSkipChildren, nil
			}
			step.Command = string(segmentsText(n.Lines(), body))
			if cur == nil {
				p.problem(line, LevelError, "step %q is outside any stage (put it under a `### Stage N: ...` heading)", step.Name)
				return ast.WalkSkipChildren, nil
			}
			if step.Name != "" {
				if prev, dup := names[step.Name]; dup {
					p.problem(line, LevelError, "duplicate step name %q (also on line %d)", step.Name, prev)
				} else {
					names[step.Name] = line
				}
			}
			cur.Steps = append(cur.Steps, step)
			return ast.WalkSkipChildren, nil
		case *extast.TaskCheckBox:
			if cur == nil {
				return ast.WalkContinue, nil
			}
			para := n.Parent()
			txt := strings.TrimSpace(string(segmentsText(para.Lines(), body)))
			txt = strings.TrimSpace(stripCheckbox(txt))
			line := p.lineAt(base + segStart(para, body))
			cur.Steps = append(cur.Steps, Step{Kind: KindManual, Name: txt, Checked: n.IsChecked, Line: line})
		}
		return ast.WalkContinue, nil
	})
}

// segmentsText concatenates the raw source of a node's line segments.
func segmentsText(lines *text.Segments, src []byte) []byte {
	if lines == nil || lines.Len() == 0 {
		return nil
	}
	if lines.Len() == 1 {
		seg := lines.At(0)
		return seg.Value(src)
	}
	var b bytes.Buffer
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		b.Write(seg.Value(src))
	}
	return b.Bytes()
}

// segStart returns the byte offset of a block node's first line.
func segStart(n ast.Node, src []byte) int {
	if l := n.Lines(); l != nil && l.Len() > 0 {
		return l.At(0).Start
	}
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if l := c.Lines(); l != nil && l.Len() > 0 {
			return l.At(0).Start
		}
	}
	return 0
}

func stripCheckbox(s string) string {
	for _, p := range []string{"[ ]", "[x]", "[X]"} {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// finish derives the loop id, title id, status and references.
func (p *docParser) finish() {
	d := p.d
	if id := d.Meta.String("loop_id"); id != "" && isIDToken(id) {
		d.LoopID, d.IDFrom = id, "frontmatter"
		if d.MetaSource == SourceInline {
			d.IDFrom = "metadata"
		}
	} else if id := titleID(d.Title); id != "" {
		d.LoopID, d.IDFrom = id, "title"
	} else {
		d.LoopID, d.IDFrom = d.FileID, "filename"
		if d.MetaSource != SourceNone || d.Title != "" {
			p.problem(1, LevelWarning, "no loop_id in frontmatter or title; using the file name %q", d.FileID)
		}
	}
	if d.LoopID == "" {
		p.problem(1, LevelError, "missing loop id")
	} else if !ValidLoopID(d.LoopID) {
		p.problem(max(1, d.Meta.Line("loop_id")), LevelError, "loop id %q has characters outside [A-Za-z0-9._-]", d.LoopID)
	}
	d.RawStatus = d.Meta.String("status")
	if d.RawStatus != "" {
		st, ok := NormalizeStatus(d.RawStatus)
		d.Status = st
		if !ok {
			p.problem(max(1, d.Meta.Line("status")), LevelWarning, "unknown status %q (known: active, open, draft, planned, blocked, deferred, closed)", d.RawStatus)
		}
	}
	d.RunKeys = FindRunKeys(p.src)
	d.GapIDs = FindGapIDs(p.src)
	refs := FindLoopIDs(p.src)
	d.LoopRefs = refs[:0]
	for _, r := range refs {
		if r != d.LoopID {
			d.LoopRefs = append(d.LoopRefs, r)
		}
	}
	if d.Stages == nil {
		d.Stages = []Stage{}
	}
}

// titleID takes the loop id from a `# Loop Scope: ID` or `# ID` title.
func titleID(title string) string {
	t := strings.TrimSpace(title)
	if i := strings.Index(strings.ToLower(t), "loop scope:"); i == 0 {
		t = strings.TrimSpace(t[len("loop scope:"):])
	}
	t = strings.Trim(t, "`*_ ")
	if isIDToken(t) && strings.ContainsRune(t, '-') && strings.ToUpper(t) == t {
		return t
	}
	return ""
}

func isIDToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n")
}

var loopIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidLoopID reports whether id is safe to use as a path component and in
// commit messages: [A-Za-z0-9._-], not starting with a dot or dash.
func ValidLoopID(id string) bool {
	return len(id) <= 200 && loopIDRe.MatchString(id)
}

// FileID derives a loop id from a file name: the base name without `.md`
// and a further `.scope`-style suffix.
func FileID(p string) string {
	b := path.Base(strings.ReplaceAll(p, "\\", "/"))
	b = strings.TrimSuffix(b, ".md")
	if i := strings.LastIndexByte(b, '.'); i > 0 {
		ext := b[i+1:]
		if ext != "" && strings.Trim(ext, "abcdefghijklmnopqrstuvwxyz") == "" {
			b = b[:i]
		}
	}
	return b
}

// Slug is the folder name used for a loop's artifacts: the loop id,
// lower-cased, restricted to [a-z0-9._-].
func Slug(id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), ".-")
	if s == "" {
		return "loop"
	}
	return s
}
