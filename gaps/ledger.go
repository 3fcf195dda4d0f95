// Package gaps owns the gap ledger, gaps.yaml: the list of operational gaps
// that agents and operators discover while working a loop and that are out of
// scope to fix on the spot.
//
// The ledger is read through yaml.v3 nodes, so anchors, aliases, merge keys
// and any unknown field survive, and every gap keeps the line it is written
// on. The ledger is edited (File, Close) by splicing text into the original
// bytes at the positions the nodes report: every byte outside the lines that
// change stays identical, comments and formatting included, so a `spine gap
// close` commit shows exactly the lines it meant to change.
package gaps

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spinehq/spine/internal/finding"
	"github.com/spinehq/spine/internal/yamlx"
	"gopkg.in/yaml.v3"
)

// Level is the severity of a ledger finding (the shared finding.Level).
type Level = finding.Level

// Finding levels. Error-level findings mean the ledger is wrong (a missing
// or duplicated id); warnings flag values outside the documented sets, which
// are kept as written.
const (
	LevelError   = finding.LevelError
	LevelWarning = finding.LevelWarning
)

// Problem is one ledger finding, located at a file and line (the shared
// finding.Problem, formatted as `file:line: level: message`).
type Problem = finding.Problem

// Field is one ledger key that spine has no typed field for, kept with its
// value so that nothing a ledger carries is dropped.
type Field struct {
	Key string `json:"key"`
	// Value is the scalar's text as written ("" for null) for scalars, or
	// the decoded []any / map[string]any for collections.
	Value any `json:"value"`
	// Line is the 1-based line of the key.
	Line int `json:"line"`
}

// Gap is one entry of the ledger. The typed fields hold the keys real
// ledgers use; every other key is kept, in order, in Extra.
type Gap struct {
	ID          string `json:"id"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type,omitempty"`
	Severity    string `json:"severity,omitempty"`
	// Status is the status normalised to lower case ("" when absent).
	Status       string `json:"status"`
	DiscoveredBy string `json:"discovered_by,omitempty"`
	DiscoveredAt string `json:"discovered_at,omitempty"`
	// ParentLoop is the loop that owns the gap's fix.
	ParentLoop string `json:"parent_loop,omitempty"`
	// FixedIn names what fixed the gap: a loop id, a commit, a sentence.
	FixedIn string `json:"fixed_in,omitempty"`
	// FixedAt and ClosedAt are the closure dates real ledgers record.
	FixedAt  string `json:"fixed_at,omitempty"`
	ClosedAt string `json:"closed_at,omitempty"`
	Notes    string `json:"notes,omitempty"`
	// Doc is the document or binding the gap is about.
	Doc string `json:"doc,omitempty"`
	// Extra holds every other key, in document order.
	Extra []Field `json:"extra,omitempty"`
	// Line is the 1-based line where the gap's mapping starts (the `- id:`
	// line in the usual layout).
	Line int `json:"line"`
}

// Get returns the value of an untyped key (from Extra) and whether it was
// present.
func (g Gap) Get(key string) (any, bool) {
	for _, f := range g.Extra {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// IsOpen reports whether the gap still wants work: its status is open,
// absent, or any value that is not a resolution (fixed, closed, resolved,
// done) or a parking decision (accepted, wontfix, deferred, superseded,
// duplicate). Unknown statuses count as open so that nothing silently drops
// off `gap list --open`.
func (g Gap) IsOpen() bool {
	return !isDone(g.Status) && !isParked(g.Status)
}

// Statuses returns the statuses DESIGN.md documents: open, fixed, closed.
// Other values are kept and reported as warnings.
func Statuses() []string { return []string{"open", "fixed", "closed"} }

// Severities returns the severities real ledgers use.
func Severities() []string { return []string{"low", "medium", "high", "critical"} }

// Types returns the gap types real ledgers document and use.
func Types() []string {
	return []string{
		"stale-ssot", "missing-entry", "agent-behavior", "unclear-doc",
		"duplicate-truth", "runtime-bug", "missing-process",
	}
}

// KnownStatus reports whether s (any case) is a documented status.
func KnownStatus(s string) bool { return contains(Statuses(), normalize(s)) }

// KnownSeverity reports whether s (any case) is a documented severity.
func KnownSeverity(s string) bool { return contains(Severities(), normalize(s)) }

// KnownType reports whether s (any case) is a documented gap type.
func KnownType(s string) bool { return contains(Types(), normalize(s)) }

func isDone(status string) bool {
	switch status {
	case "fixed", "closed", "resolved", "done":
		return true
	}
	return false
}

func isParked(status string) bool {
	switch status {
	case "accepted", "wontfix", "won't-fix", "wont-fix", "deferred", "superseded", "duplicate":
		return true
	}
	return false
}

func contains(set []string, s string) bool {
	for _, v := range set {
		if v == s {
			return true
		}
	}
	return false
}

func normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Ledger is a parsed gaps.yaml. It is not safe for concurrent use.
type Ledger struct {
	// Path names the file in findings and errors.
	Path string
	// Doc is the yaml.v3 document node as parsed from the current bytes.
	// It is replaced (not mutated) by every edit.
	Doc *yaml.Node
	// Gaps are the ledger's gaps in file order. Entries that are not
	// mappings are reported and skipped.
	Gaps []Gap
	// Problems are the findings, in file order.
	Problems []Problem

	data  []byte
	nodes []*yaml.Node // nodes[i] is the mapping node of Gaps[i]
	index map[string]int
	// seq is the gaps sequence node (nil when absent); seqKey is the
	// `gaps` key node when the sequence is the value of a top-level key.
	seq, seqKey, root *yaml.Node
	// badSeq is set when `gaps:` holds something other than a list.
	badSeq bool
	// idQuoted records whether the last gap's id is written quoted, so
	// that filed gaps follow the ledger's style.
	idQuoted bool
}

// HasErrors reports whether any finding is error-level.
func (l *Ledger) HasErrors() bool {
	for _, p := range l.Problems {
		if p.Level == LevelError {
			return true
		}
	}
	return false
}

// Lookup returns the gap with the given id.
func (l *Ledger) Lookup(id string) (Gap, bool) {
	i, ok := l.index[strings.TrimSpace(id)]
	if !ok {
		return Gap{}, false
	}
	return l.Gaps[i], true
}

// Bytes returns the ledger's current content: the parsed bytes with every
// edit made so far spliced in. Only the lines an edit meant to change differ
// from the original.
func (l *Ledger) Bytes() ([]byte, error) {
	return bytes.Clone(l.data), nil
}

// maxAliasHops bounds alias chains and merge-key nesting so that hostile
// input cannot make the walk loop.
const maxAliasHops = 64

// resolve follows aliases to the node they name; nil for a broken chain.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == maxAliasHops {
			return nil
		}
		n = n.Alias
	}
	return n
}

// kv is one key/value pair of a mapping node.
type kv struct {
	key, val *yaml.Node
	// merged is set on pairs that come from a `<<` merge key.
	merged bool
}

// pairs returns a mapping's explicit pairs in order (the `<<` key itself
// excluded), followed by the pairs merged in through `<<` whose keys are not
// set explicitly. Keys that are not scalars are skipped.
func pairs(m *yaml.Node) []kv {
	budget := maxMergeWork
	return pairsDepth(m, 0, &budget)
}

// maxMergeWork bounds the pairs one mapping's merge keys may pull in, so
// that nested and repeated merges cannot blow up.
const maxMergeWork = 10000

func pairsDepth(m *yaml.Node, depth int, budget *int) []kv {
	if m == nil || m.Kind != yaml.MappingNode || depth > 8 || *budget <= 0 {
		return nil
	}
	*budget -= len(m.Content) / 2
	var own, merge []kv
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			continue
		}
		v := m.Content[i+1]
		if k.Value == "<<" && k.Style == 0 && (k.Tag == "!!merge" || k.Tag == "") {
			src := resolve(v)
			if src == nil {
				continue
			}
			var maps []*yaml.Node
			switch src.Kind {
			case yaml.MappingNode:
				maps = append(maps, src)
			case yaml.SequenceNode:
				for _, c := range src.Content {
					if c := resolve(c); c != nil && c.Kind == yaml.MappingNode {
						maps = append(maps, c)
					}
				}
			}
			for _, mm := range maps {
				for _, p := range pairsDepth(mm, depth+1, budget) {
					p.merged = true
					merge = append(merge, p)
				}
			}
			continue
		}
		own = append(own, kv{key: k, val: v})
	}
	if len(merge) == 0 {
		return own
	}
	seen := make(map[string]bool, len(own)+len(merge))
	for _, p := range own {
		seen[p.key.Value] = true
	}
	for _, p := range merge {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			own = append(own, p)
		}
	}
	return own
}

// scalarText returns a scalar's text ("" for null) and whether n is a
// scalar at all.
func scalarText(n *yaml.Node) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

// fieldValue is the Value kept for an untyped key: the text for scalars, the
// decoded value for collections.
func fieldValue(n *yaml.Node) any {
	r := resolve(n)
	if r == nil {
		return nil
	}
	if s, ok := scalarText(r); ok {
		return s
	}
	var v any
	if err := r.Decode(&v); err != nil {
		return nil
	}
	return v
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	default:
		return "empty"
	}
}

// Parse reads a gap ledger. path names the file in findings and errors.
// It fails only when the bytes are not YAML; everything else (a missing or
// duplicated id, values outside the documented sets, entries that are not
// mappings) is reported in Ledger.Problems and the ledger is still returned.
func Parse(path string, data []byte) (l *Ledger, err error) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a bad ledger must
		// be an error, never a crash.
		if r := recover(); r != nil {
			l, err = nil, fmt.Errorf("%s: invalid YAML: parser failure: %v", path, r)
		}
	}()
	l = &Ledger{Path: path, data: bytes.Clone(data), index: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(l.data, &doc); err != nil {
		return nil, yamlx.SyntaxError(path, l.data, err)
	}
	if err := yamlx.CheckGrowth(path, &doc, len(data)); err != nil {
		return nil, err
	}
	l.Doc = &doc
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return l, nil // empty file: an empty ledger
	}
	l.root = resolve(doc.Content[0])
	root := l.root
	switch {
	case root == nil:
		l.problem(1, LevelError, "the document is a broken alias")
		return l, nil
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return l, nil
	case root.Kind == yaml.SequenceNode:
		l.problem(root.Line, LevelWarning, "the ledger is a bare list; expected a top-level `gaps:` key")
		l.seq = root
	case root.Kind == yaml.MappingNode:
		for _, p := range pairs(root) {
			if p.key.Value != "gaps" || p.merged {
				continue
			}
			l.seqKey = p.key
			v := resolve(p.val)
			switch {
			case v == nil:
				l.badSeq = true
				l.problem(p.key.Line, LevelError, "`gaps:` is a broken alias")
			case v.Kind == yaml.SequenceNode:
				l.seq = v
			case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
				// `gaps:` with nothing yet: an empty ledger.
			default:
				l.badSeq = true
				l.problem(v.Line, LevelError, fmt.Sprintf("`gaps:` is %s, want a list", kindName(v)))
			}
		}
		if l.seqKey == nil {
			l.problem(root.Line, LevelWarning, "no `gaps:` key; the ledger is empty")
		}
	default:
		l.problem(root.Line, LevelError, fmt.Sprintf("the ledger is %s, want a mapping with a `gaps:` list", kindName(root)))
		return l, nil
	}
	if l.seq != nil {
		l.readGaps()
	}
	return l, nil
}

func (l *Ledger) problem(line int, level Level, msg string) {
	l.Problems = append(l.Problems, Problem{Path: l.Path, Line: line, Level: level, Message: msg})
}

// readGaps decodes every entry of the gaps sequence.
func (l *Ledger) readGaps() {
	l.Gaps = make([]Gap, 0, len(l.seq.Content))
	l.nodes = make([]*yaml.Node, 0, len(l.seq.Content))
	for i, raw := range l.seq.Content {
		item := resolve(raw)
		if item == nil || item.Kind != yaml.MappingNode {
			line := raw.Line
			what := "a broken alias"
			if item != nil {
				what = kindName(item)
			}
			l.problem(line, LevelError, fmt.Sprintf("gaps entry %d is %s, want a mapping; skipped", i+1, what))
			continue
		}
		g, idNode := l.readGap(item)
		if raw.Kind == yaml.AliasNode {
			// An alias repeats another entry; its position is the alias.
			g.Line = raw.Line
		}
		l.Gaps = append(l.Gaps, g)
		l.nodes = append(l.nodes, item)
		if idNode != nil {
			l.idQuoted = idNode.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		}
		l.checkGap(g)
	}
}

// readGap decodes one gap mapping. It returns the id's value node.
func (l *Ledger) readGap(m *yaml.Node) (Gap, *yaml.Node) {
	g := Gap{Line: m.Line}
	var idNode *yaml.Node
	seen := map[string]int{}
	for _, p := range pairs(m) {
		key := p.key.Value
		if prev, dup := seen[key]; dup && !p.merged {
			l.problem(p.key.Line, LevelWarning, fmt.Sprintf("key %q is set twice in this gap (also line %d); the last one is used", key, prev))
		}
		seen[key] = p.key.Line
		dst := g.typed(key)
		if dst == nil {
			g.Extra = append(g.Extra, Field{Key: key, Value: fieldValue(p.val), Line: p.key.Line})
			continue
		}
		s, ok := scalarText(p.val)
		if !ok {
			l.problem(p.key.Line, LevelWarning, fmt.Sprintf("%s is %s, want text; kept as an extra field", key, kindName(resolveOr(p.val))))
			g.Extra = append(g.Extra, Field{Key: key, Value: fieldValue(p.val), Line: p.key.Line})
			continue
		}
		if key == "status" {
			s = normalize(s)
		}
		if key == "id" {
			s = strings.TrimSpace(s)
			idNode = resolve(p.val)
		}
		*dst = s
	}
	return g, idNode
}

func resolveOr(n *yaml.Node) *yaml.Node {
	if r := resolve(n); r != nil {
		return r
	}
	return &yaml.Node{}
}

// typed returns the typed field a key decodes into, or nil.
func (g *Gap) typed(key string) *string {
	switch key {
	case "id":
		return &g.ID
	case "title":
		return &g.Title
	case "description":
		return &g.Description
	case "type":
		return &g.Type
	case "severity":
		return &g.Severity
	case "status":
		return &g.Status
	case "discovered_by":
		return &g.DiscoveredBy
	case "discovered_at":
		return &g.DiscoveredAt
	case "parent_loop":
		return &g.ParentLoop
	case "fixed_in":
		return &g.FixedIn
	case "fixed_at":
		return &g.FixedAt
	case "closed_at":
		return &g.ClosedAt
	case "notes":
		return &g.Notes
	case "doc":
		return &g.Doc
	}
	return nil
}

// checkGap reports what is wrong with one gap and indexes its id.
func (l *Ledger) checkGap(g Gap) {
	if g.ID == "" {
		l.problem(g.Line, LevelError, "gap has no id")
	} else if first, dup := l.index[g.ID]; dup {
		l.problem(g.Line, LevelError, fmt.Sprintf("duplicate gap id %s (first at %s:%d)", g.ID, l.Path, l.Gaps[first].Line))
	} else {
		l.index[g.ID] = len(l.Gaps) - 1
	}
	name := g.ID
	if name == "" {
		name = "gap"
	}
	switch {
	case g.Status == "":
		l.problem(g.Line, LevelWarning, fmt.Sprintf("%s has no status; treated as open", name))
	case !KnownStatus(g.Status):
		l.problem(g.Line, LevelWarning, fmt.Sprintf("%s: status %q is not one of %s", name, g.Status, strings.Join(Statuses(), ", ")))
	}
	if g.Severity != "" && !KnownSeverity(g.Severity) {
		l.problem(g.Line, LevelWarning, fmt.Sprintf("%s: severity %q is not one of %s", name, g.Severity, strings.Join(Severities(), ", ")))
	}
	if g.Type != "" && !KnownType(g.Type) {
		l.problem(g.Line, LevelWarning, fmt.Sprintf("%s: type %q is not one of %s", name, g.Type, strings.Join(Types(), ", ")))
	}
}
