package gaps

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// NewGap is what `spine gap file` records. Empty fields are left out of the
// ledger entry.
type NewGap struct {
	// ID is the gap's id; empty means the ledger's next free id (NextID).
	ID          string
	Title       string
	Description string
	Type        string
	// Severity must be empty or one of Severities().
	Severity string
	// Status must be empty (meaning open) or one of Statuses().
	Status       string
	DiscoveredBy string
	// DiscoveredAt is written as given; callers usually pass the UTC date
	// (2006-01-02), as real ledgers do.
	DiscoveredAt string
	ParentLoop   string
	Doc          string
	Notes        string
}

// DefaultIDPrefix is the id prefix a ledger without numbered ids starts with.
const DefaultIDPrefix = "GAP-OP-"

// NextID returns the id File gives a new gap: the prefix of the ledger's
// last numbered id (GAP-OP-) with the highest number written under that
// prefix plus one, zero-padded when the ledger pads (GAP-OP-007 → GAP-OP-008),
// or GAP-OP-001 for a ledger without numbered ids.
func (l *Ledger) NextID() string {
	prefix, found := "", false
	for i := len(l.Gaps) - 1; i >= 0 && !found; i-- {
		prefix, _, found = splitID(l.Gaps[i].ID)
	}
	if !found {
		prefix = DefaultIDPrefix
	}
	maxN, pad := int64(0), 0
	if !found {
		pad = 3
	}
	for _, g := range l.Gaps {
		p, digits, ok := splitID(g.ID)
		if !ok || p != prefix {
			continue
		}
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			continue
		}
		maxN = max(maxN, n)
		if len(digits) > 1 && digits[0] == '0' {
			pad = max(pad, len(digits))
		}
	}
	for n := maxN + 1; ; n++ {
		id := fmt.Sprintf("%s%0*d", prefix, pad, n)
		if _, taken := l.index[id]; !taken {
			return id
		}
	}
}

// splitID splits "GAP-OP-042" into "GAP-OP-" and "042".
func splitID(id string) (prefix, digits string, ok bool) {
	i := len(id)
	for i > 0 && id[i-1] >= '0' && id[i-1] <= '9' {
		i--
	}
	if i == len(id) || len(id)-i > 18 {
		return "", "", false
	}
	return id[:i], id[i:], true
}

// validID reports whether id can be written and looked up safely.
func validID(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '.' || r == ':' || r == '/'
		if !ok {
			return false
		}
	}
	return true
}

// setting is one key a File or Close writes.
type setting struct {
	key, value string
	style      scalarStyle
}

// File appends a new gap at the end of the `gaps:` list and returns it as
// read back from the edited ledger. The entry follows the layout of the
// ledger's last entry (indentation, id quoting); nothing before or after
// the new lines changes. A ledger without a `gaps:` key gets one at the end.
func (l *Ledger) File(ng NewGap) (Gap, error) {
	for _, f := range []*string{&ng.ID, &ng.Title, &ng.Description, &ng.Type, &ng.Severity, &ng.Status,
		&ng.DiscoveredBy, &ng.DiscoveredAt, &ng.ParentLoop, &ng.Doc, &ng.Notes} {
		*f = strings.ToValidUTF8(*f, "\uFFFD")
	}
	id := strings.TrimSpace(ng.ID)
	if id == "" {
		id = l.NextID()
	}
	status := normalize(ng.Status)
	if status == "" {
		status = "open"
	}
	switch {
	case !validID(id):
		return Gap{}, fmt.Errorf("file gap in %s: id %q: want letters, digits and - _ . : /", l.Path, id)
	case l.hasID(id):
		return Gap{}, fmt.Errorf("file gap in %s: id %s already exists (line %d)", l.Path, id, l.Gaps[l.index[id]].Line)
	case strings.TrimSpace(ng.Title) == "" && strings.TrimSpace(ng.Description) == "":
		return Gap{}, fmt.Errorf("file gap %s in %s: a title or a description is required", id, l.Path)
	case !KnownStatus(status):
		return Gap{}, fmt.Errorf("file gap %s in %s: status %q is not one of %s", id, l.Path, ng.Status, strings.Join(Statuses(), ", "))
	case ng.Severity != "" && !KnownSeverity(ng.Severity):
		return Gap{}, fmt.Errorf("file gap %s in %s: severity %q is not one of %s", id, l.Path, ng.Severity, strings.Join(Severities(), ", "))
	}
	idStyle := styleQuoted
	if !l.idQuoted && len(l.Gaps) > 0 {
		idStyle = stylePlain
	}
	sets := []setting{{"id", id, idStyle}}
	add := func(key, value string, style scalarStyle) {
		if value != "" {
			sets = append(sets, setting{key, value, style})
		}
	}
	// The order real ledgers' tooling writes.
	add("title", ng.Title, styleQuoted)
	add("discovered_by", ng.DiscoveredBy, styleQuoted)
	add("discovered_at", ng.DiscoveredAt, styleQuoted)
	add("type", ng.Type, stylePlain)
	add("doc", ng.Doc, styleQuoted)
	add("description", ng.Description, styleQuoted)
	add("severity", normalize(ng.Severity), stylePlain)
	add("status", status, stylePlain)
	add("notes", ng.Notes, styleQuoted)
	add("parent_loop", ng.ParentLoop, styleQuoted)

	t := newText(l.data)
	edits, err := l.appendEdits(t, sets)
	if err != nil {
		return Gap{}, fmt.Errorf("file gap %s: %w", id, err)
	}
	data, err := t.apply(edits)
	if err != nil {
		return Gap{}, fmt.Errorf("file gap %s in %s: %w", id, l.Path, err)
	}
	want := Gap{
		ID: id, Title: ng.Title, Description: ng.Description, Type: ng.Type,
		Severity: normalize(ng.Severity), Status: status, DiscoveredBy: ng.DiscoveredBy,
		DiscoveredAt: ng.DiscoveredAt, ParentLoop: ng.ParentLoop, Doc: ng.Doc, Notes: ng.Notes,
	}
	nl, err := l.reparse(data, -1, want)
	if err != nil {
		return Gap{}, fmt.Errorf("file gap %s: %w", id, err)
	}
	*l = *nl
	return l.Gaps[len(l.Gaps)-1], nil
}

func (l *Ledger) hasID(id string) bool {
	_, ok := l.index[id]
	return ok
}

// appendEdits places a new entry at the end of the gaps list.
func (l *Ledger) appendEdits(t *text, sets []setting) ([]edit, error) {
	switch {
	case l.badSeq:
		return nil, fmt.Errorf("%s:%d: `gaps:` is not a list; fix it by hand first", l.Path, l.seqKey.Line)
	case l.seq != nil && l.seq.Style&yaml.FlowStyle == 0 && len(l.seq.Content) > 0:
		return l.appendToBlockList(t, sets)
	case l.seq != nil && len(l.seq.Content) > 0:
		return nil, fmt.Errorf("%s:%d: the gaps list is written in flow style ([...]); spine appends only to block lists", l.Path, l.seq.Line)
	case l.seqKey != nil && l.root.Style&yaml.FlowStyle == 0:
		// `gaps:`, `gaps: ~` or `gaps: []`: rewrite the key's lines.
		c := l.seqKey.Column - 1
		var val *yaml.Node
		for i := 0; i+1 < len(l.root.Content); i += 2 {
			if l.root.Content[i] == l.seqKey {
				val = l.root.Content[i+1]
			}
		}
		last := t.valueEnd(l.seqKey.Line, c, t.lines()+1, val)
		comment := ""
		if last == l.seqKey.Line {
			comment = lineComment(l.seqKey, val)
		}
		head := t.prefix(l.seqKey.Line, c) + l.seqKey.Value + ":"
		if comment != "" {
			head += " " + comment
		}
		repl := head + t.nl + renderItem(sets, c+2, c+4, t.nl)
		return []edit{{from: l.seqKey.Line, to: last + 1, repl: repl}}, nil
	case l.seq != nil: // an empty bare list
		return nil, fmt.Errorf("%s:%d: the ledger is an empty flow list; write `gaps:` to let spine file gaps", l.Path, l.seq.Line)
	case l.root != nil && l.root.Kind == yaml.MappingNode && l.root.Style&yaml.FlowStyle == 0:
		n := t.lines() + 1
		return []edit{{from: n, to: n, repl: "gaps:" + t.nl + renderItem(sets, 2, 4, t.nl)}}, nil
	case l.root == nil || (l.root.Kind == yaml.ScalarNode && l.root.Tag == "!!null" && !nullWritten(t, l.root)):
		n := t.lines() + 1
		return []edit{{from: n, to: n, repl: "gaps:" + t.nl + renderItem(sets, 2, 4, t.nl)}}, nil
	}
	return nil, fmt.Errorf("%s: the ledger's layout leaves no place for a new gap; expected a top-level `gaps:` list", l.Path)
}

// nullWritten reports whether a null root is spelled out (`~`, `null`)
// rather than being an empty or comment-only document.
func nullWritten(t *text, n *yaml.Node) bool {
	if n.Line < 1 || n.Line > t.lines() {
		return false
	}
	_, blank, comment := t.info(n.Line)
	return !blank && !comment
}

// appendToBlockList appends after the last entry of a block gaps list, with
// that entry's indentation.
func (l *Ledger) appendToBlockList(t *text, sets []setting) ([]edit, error) {
	raw := l.seq.Content[len(l.seq.Content)-1]
	dash := l.seq.Column - 1
	if p := t.prefix(raw.Line, raw.Column-1); strings.TrimSpace(p) == "-" {
		dash = strings.IndexByte(p, '-')
	}
	keyCol := dash + 2
	var last int
	if item := raw; item.Kind == yaml.MappingNode && item.Style&yaml.FlowStyle == 0 && len(item.Content) > 0 {
		if item.Column-1 > dash {
			keyCol = item.Column - 1
		}
		spans := t.mappingSpans(item)
		last = spans[len(spans)-1].last
	} else {
		last = t.valueEnd(raw.Line, dash, t.lines()+1, raw)
	}
	return []edit{{from: last + 1, to: last + 1, repl: renderItem(sets, dash, keyCol, t.nl)}}, nil
}

// renderItem renders a new list entry: `- key: value` with the dash at
// column dash and keys at column keyCol.
func renderItem(sets []setting, dash, keyCol int, nl string) string {
	var b strings.Builder
	for i, s := range sets {
		prefix := strings.Repeat(" ", keyCol)
		if i == 0 {
			prefix = strings.Repeat(" ", dash) + "-" + strings.Repeat(" ", keyCol-dash-1)
		}
		b.WriteString(renderEntry(prefix, keyCol, s.key, s.value, s.style, "", nl))
	}
	return b.String()
}

// ErrNotFound is returned (wrapped) by Close for an id the ledger lacks.
var ErrNotFound = errors.New("no such gap")

// ErrAlreadyClosed is returned (wrapped) by Close for a gap that is already
// fixed or closed.
var ErrAlreadyClosed = errors.New("gap already closed")

// Close marks a gap fixed: it sets `status: fixed`, `fixed_in` and
// `fixed_at` (now's UTC date, the closure field real ledgers use), and adds
// note to `notes` (appended on a new line when notes exist). Existing keys
// are rewritten where they stand; missing ones are added at the end of the
// gap's entry. No other line of the ledger changes.
//
// It fails when the id is unknown (ErrNotFound), when the gap is already
// fixed or closed (ErrAlreadyClosed), or when fixedIn is empty: a closure
// names what fixed the gap.
func (l *Ledger) Close(id, fixedIn, note string, now time.Time) error {
	id = strings.TrimSpace(id)
	fixedIn = strings.ToValidUTF8(fixedIn, "\uFFFD")
	note = strings.ToValidUTF8(note, "\uFFFD")
	i, ok := l.index[id]
	if !ok {
		return fmt.Errorf("close %s in %s: %w", id, l.Path, ErrNotFound)
	}
	g := l.Gaps[i]
	if isDone(g.Status) {
		return fmt.Errorf("%s:%d: close %s: %w (status %s)", l.Path, g.Line, id, ErrAlreadyClosed, g.Status)
	}
	if strings.TrimSpace(fixedIn) == "" {
		return fmt.Errorf("close %s: say what fixed it (fixed_in is empty)", id)
	}
	date := now.UTC().Format("2006-01-02")
	sets := []setting{
		{"status", "fixed", stylePlain},
		{"fixed_in", fixedIn, styleQuoted},
		{"fixed_at", date, styleQuoted},
	}
	want := g
	want.Status, want.FixedIn, want.FixedAt = "fixed", fixedIn, date
	if note != "" {
		if _, isExtra := g.Get("notes"); isExtra {
			return fmt.Errorf("%s:%d: close %s: notes is not text; add the note by hand", l.Path, g.Line, id)
		}
		notes := note
		if strings.TrimSpace(g.Notes) != "" {
			notes = strings.TrimRight(g.Notes, "\n") + "\n" + strings.TrimRight(note, "\n") + "\n"
		}
		sets = append(sets, setting{"notes", notes, styleQuoted})
		want.Notes = notes
	}
	t := newText(l.data)
	edits, err := l.gapEdits(t, l.nodes[i], sets)
	if err != nil {
		return fmt.Errorf("close %s: %w", id, err)
	}
	data, err := t.apply(edits)
	if err != nil {
		return fmt.Errorf("close %s in %s: %w", id, l.Path, err)
	}
	nl, err := l.reparse(data, i, want)
	if err != nil {
		return fmt.Errorf("close %s: %w", id, err)
	}
	*l = *nl
	return nil
}

// gapEdits rewrites or adds keys of one gap's mapping.
func (l *Ledger) gapEdits(t *text, item *yaml.Node, sets []setting) ([]edit, error) {
	if item.Style&yaml.FlowStyle != 0 || len(item.Content) == 0 {
		return l.rerenderItem(t, item, sets)
	}
	spans := t.mappingSpans(item)
	c := item.Column - 1
	var edits []edit
	var added strings.Builder
	for _, s := range sets {
		idx := -1
		for j, sp := range spans {
			if k := resolve(sp.key); k != nil && k.Kind == yaml.ScalarNode && k.Value == s.key {
				idx = j // the last occurrence is the one that counts
			}
		}
		if idx < 0 {
			added.WriteString(renderEntry(strings.Repeat(" ", c), c, s.key, s.value, s.style, "", t.nl))
			continue
		}
		sp := spans[idx]
		comment := ""
		if sp.first == sp.last {
			comment = lineComment(sp.key, sp.val)
		}
		col := sp.key.Column - 1
		repl := renderEntry(t.prefix(sp.first, col), col, s.key, s.value, s.style, comment, t.nl)
		edits = append(edits, edit{from: sp.first, to: sp.last + 1, repl: repl})
	}
	if added.Len() > 0 {
		end := spans[len(spans)-1].last + 1
		edits = append(edits, edit{from: end, to: end, repl: added.String()})
	}
	return edits, nil
}

// lineComment returns the `# ...` comment written after a single-line
// entry, so that rewriting the entry keeps it.
func lineComment(key, val *yaml.Node) string {
	if key != nil && key.LineComment != "" {
		return key.LineComment
	}
	if val != nil && val.LineComment != "" {
		return val.LineComment
	}
	return ""
}

// rerenderItem rewrites a gap written in flow style (`- {id: X, ...}`) as a
// block mapping: its own lines change, nothing else.
func (l *Ledger) rerenderItem(t *text, item *yaml.Node, sets []setting) ([]edit, error) {
	prefix := t.prefix(item.Line, item.Column-1)
	if strings.TrimSpace(prefix) != "-" {
		return nil, fmt.Errorf("%s:%d: this gap's layout cannot be edited in place; edit it by hand", l.Path, item.Line)
	}
	dash := strings.IndexByte(prefix, '-')
	last := t.valueEnd(item.Line, dash, t.lines()+1, item)
	n := *item
	n.Style &^= yaml.FlowStyle
	n.Content = append([]*yaml.Node(nil), item.Content...)
	for _, s := range sets {
		v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.value}
		switch {
		case strings.Contains(s.value, "\n"):
			v.Style = yaml.LiteralStyle
		case s.style == styleQuoted || !safePlain(s.value):
			v.Style = yaml.DoubleQuotedStyle
		}
		idx := -1
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k := resolve(n.Content[j]); k != nil && k.Kind == yaml.ScalarNode && k.Value == s.key {
				idx = j
			}
		}
		if idx >= 0 {
			n.Content[idx+1] = v
		} else {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.key}, v)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("%s:%d: rewrite gap: %w", l.Path, item.Line, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("%s:%d: rewrite gap: %w", l.Path, item.Line, err)
	}
	// A comment after the flow mapping (`- {id: X}  # owner: ops`) is
	// kept, on the block's first line.
	comment := ""
	if end := string(t.line(last)); strings.LastIndexByte(end, '}') >= 0 {
		if rest := strings.TrimSpace(end[strings.LastIndexByte(end, '}')+1:]); strings.HasPrefix(rest, "#") {
			comment = "  " + rest
		}
	}
	var b strings.Builder
	pad := strings.Repeat(" ", len(prefix))
	for i, ln := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		switch {
		case i == 0:
			b.WriteString(prefix)
		case ln != "":
			b.WriteString(pad)
		}
		b.WriteString(ln)
		if i == 0 && comment != "" && !strings.Contains(ln, "#") {
			b.WriteString(comment)
		}
		b.WriteString(t.nl)
	}
	return []edit{{from: item.Line, to: last + 1, repl: b.String()}}, nil
}

// reparse reads edited bytes back and checks that the edit did exactly what
// it meant: gap `changed` (or, for -1, a new last gap) equals want, and every
// other gap reads as before. A mismatch leaves the ledger untouched.
func (l *Ledger) reparse(data []byte, changed int, want Gap) (*Ledger, error) {
	nl, err := Parse(l.Path, data)
	if err != nil {
		return nil, fmt.Errorf("the edited ledger does not parse (ledger left unchanged): %w", err)
	}
	wantLen := len(l.Gaps)
	if changed < 0 {
		wantLen++
		changed = wantLen - 1
	}
	if len(nl.Gaps) != wantLen {
		return nil, fmt.Errorf("%s: the edit left %d gaps, want %d (ledger left unchanged)", l.Path, len(nl.Gaps), wantLen)
	}
	for i := range nl.Gaps {
		exp := want
		if i != changed {
			exp = l.Gaps[i]
		}
		if !sameIgnoringLines(exp, nl.Gaps[i]) {
			return nil, fmt.Errorf("%s:%d: the edit changed gap %s unexpectedly (ledger left unchanged)", l.Path, nl.Gaps[i].Line, nl.Gaps[i].ID)
		}
	}
	return nl, nil
}

// sameIgnoringLines compares two gaps' content, not their positions.
func sameIgnoringLines(a, b Gap) bool {
	strip := func(g Gap) Gap {
		g.Line = 0
		if g.Extra != nil {
			ex := make([]Field, len(g.Extra))
			for i, f := range g.Extra {
				f.Line = 0
				ex[i] = f
			}
			g.Extra = ex
		}
		return g
	}
	return reflect.DeepEqual(strip(a), strip(b))
}
