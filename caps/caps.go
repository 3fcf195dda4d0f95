// Package caps owns the capability registry, capabilities.yaml: the named
// actions a governed repository allows, each with its safety class
// (read-only, mutating, destructive), its approval mode (auto, manual), and
// optionally the gate that approves it and a timeout. A step's `cap=` names
// a capability; the registry tells the pipeline how careful to be.
//
// Both shapes real registries use are read: a `capabilities:` mapping keyed
// by name (or a top-level mapping keyed by name), and a `capabilities:` list
// of entries with a `name:` field. Keys spine has no field for (command,
// cwd, tags, args, requires, ...) are kept in Extra.
package caps

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spinehq/spine/internal/finding"
	"github.com/spinehq/spine/internal/yamlx"
	"gopkg.in/yaml.v3"
)

// Level is the severity of a registry finding (the shared finding.Level).
type Level = finding.Level

// Finding levels.
const (
	LevelError   = finding.LevelError
	LevelWarning = finding.LevelWarning
)

// Problem is one registry finding, located at a file and line (the shared
// finding.Problem, formatted as `file:line: level: message`).
type Problem = finding.Problem

// HasErrors reports whether any of the findings is error-level.
func HasErrors(problems []Problem) bool { return finding.HasErrors(problems) }

// Safety classes.
const (
	SafetyReadOnly    = "read-only"
	SafetyMutating    = "mutating"
	SafetyDestructive = "destructive"
)

// Approval modes.
const (
	ApprovalAuto   = "auto"
	ApprovalManual = "manual"
)

// Field is one registry key spine has no typed field for.
type Field struct {
	Key string `json:"key"`
	// Value is the scalar's text for scalars ("" for null), or the
	// decoded []any / map[string]any for collections.
	Value any `json:"value"`
	// Line is the 1-based line of the key.
	Line int `json:"line"`
}

// Capability is one registry entry.
type Capability struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Safety is read-only, mutating or destructive (lower-cased as read);
	// another value is kept and reported.
	Safety string `json:"safety,omitempty"`
	// Approval is auto or manual (lower-cased as read); another value is
	// kept and reported.
	Approval string `json:"approval,omitempty"`
	// Gate names the approval that opens the capability (ALLOW_X).
	Gate string `json:"gate,omitempty"`
	// Timeout bounds a run of the capability; zero means no limit of its own.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Command is the registry's command for the capability, when it has one.
	Command string `json:"command,omitempty"`
	// Extra holds every other key, in document order.
	Extra []Field `json:"extra,omitempty"`
	// Line is the 1-based line where the entry starts.
	Line int `json:"line"`
}

// Destructive reports whether the capability must be treated as
// destructive: its safety says so, or its safety is a value spine does not
// know (a misspelt class never makes an action look safer).
func (c Capability) Destructive() bool {
	return c.Safety == SafetyDestructive || (c.Safety != "" && !knownSafety(c.Safety))
}

// NeedsApproval reports whether a run needs an approval: the capability is
// manual, destructive, or its approval mode is unknown. A capability with
// neither safety nor approval set is auto.
func (c Capability) NeedsApproval() bool {
	return c.Approval == ApprovalManual || c.Destructive() || (c.Approval != "" && !knownApproval(c.Approval))
}

// Get returns the value of an untyped key (from Extra) and whether it was
// present.
func (c Capability) Get(key string) (any, bool) {
	for _, f := range c.Extra {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

func knownSafety(s string) bool {
	return s == SafetyReadOnly || s == SafetyMutating || s == SafetyDestructive
}

func knownApproval(s string) bool { return s == ApprovalAuto || s == ApprovalManual }

// Registry is a parsed capabilities.yaml.
type Registry struct {
	// Path names the file in findings.
	Path string `json:"path"`
	// Caps are the capabilities in file order. A duplicated name keeps
	// every entry here; Lookup returns the first.
	Caps   []Capability `json:"capabilities"`
	byName map[string]int
}

// Lookup returns the capability named name.
func (r *Registry) Lookup(name string) (Capability, bool) {
	i, ok := r.byName[name]
	if !ok {
		return Capability{}, false
	}
	return r.Caps[i], true
}

// Sorted returns the capabilities ordered by name (file order among
// duplicates), for listings.
func (r *Registry) Sorted() []Capability {
	out := append([]Capability(nil), r.Caps...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// resolve follows aliases; nil for a broken or endless chain.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == 64 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// parser collects one file's capabilities and findings.
type parser struct {
	reg      *Registry
	problems []Problem
}

func (ps *parser) add(line int, level Level, format string, args ...any) {
	ps.problems = append(ps.problems, Problem{Path: ps.reg.Path, Line: line, Level: level, Message: fmt.Sprintf(format, args...)})
}

// Parse reads a capability registry. path names the file in findings. It
// fails only when the bytes are not YAML; every other fault is a finding:
// unknown safety or approval values and duplicate names are errors, a
// manual or destructive capability without a gate is a warning.
func Parse(path string, data []byte) (reg *Registry, problems []Problem, err error) {
	defer func() {
		if r := recover(); r != nil {
			reg, problems, err = nil, nil, fmt.Errorf("%s: invalid YAML: parser failure: %v", path, r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, yamlx.SyntaxError(path, data, err)
	}
	ps := &parser{reg: &Registry{Path: path, byName: map[string]int{}}}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return ps.reg, nil, nil
	}
	root := resolve(doc.Content[0])
	switch {
	case root == nil:
		ps.add(1, LevelError, "the registry is a broken alias")
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
	case root.Kind == yaml.SequenceNode:
		ps.list(root)
	case root.Kind == yaml.MappingNode:
		var caps *yaml.Node
		for i := 0; i+1 < len(root.Content); i += 2 {
			if k := resolve(root.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == "capabilities" {
				caps = root.Content[i+1]
			}
		}
		if caps == nil {
			ps.keyed(root, true)
			break
		}
		c := resolve(caps)
		switch {
		case c == nil:
			ps.add(caps.Line, LevelError, "capabilities: is a broken alias")
		case c.Kind == yaml.MappingNode:
			ps.keyed(c, false)
		case c.Kind == yaml.SequenceNode:
			ps.list(c)
		case c.Kind == yaml.ScalarNode && c.Tag == "!!null":
		default:
			ps.add(c.Line, LevelError, "capabilities: want a mapping keyed by name or a list")
		}
	default:
		ps.add(root.Line, LevelError, "the registry is a scalar; want `capabilities:` with a mapping or a list")
	}
	return ps.reg, ps.problems, nil
}

// keyed reads a mapping of name → entry. At the top level, scalar values
// (version: 1, updated: ...) are document metadata, not capabilities.
func (ps *parser) keyed(m *yaml.Node, topLevel bool) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			ps.add(m.Content[i].Line, LevelError, "capability names must be text")
			continue
		}
		v := resolve(m.Content[i+1])
		if topLevel && v != nil && v.Kind == yaml.ScalarNode {
			continue
		}
		if v == nil || v.Kind != yaml.MappingNode {
			ps.add(k.Line, LevelError, "capability %s: want a mapping", k.Value)
			continue
		}
		c := ps.entry(v, k.Value, k.Line)
		ps.store(c)
	}
}

// list reads a list of entries with `name:` fields.
func (ps *parser) list(s *yaml.Node) {
	for i, raw := range s.Content {
		v := resolve(raw)
		if v == nil || v.Kind != yaml.MappingNode {
			ps.add(raw.Line, LevelError, "capabilities[%d]: want a mapping with a name", i)
			continue
		}
		c := ps.entry(v, "", v.Line)
		if c.Name == "" {
			ps.add(c.Line, LevelError, "capabilities[%d]: no name", i)
			continue
		}
		ps.store(c)
	}
}

// store indexes a capability, reporting a duplicate name.
func (ps *parser) store(c Capability) {
	if first, dup := ps.reg.byName[c.Name]; dup {
		ps.add(c.Line, LevelError, "duplicate capability %s (first at %s:%d)", c.Name, ps.reg.Path, ps.reg.Caps[first].Line)
	} else {
		ps.reg.byName[c.Name] = len(ps.reg.Caps)
	}
	ps.reg.Caps = append(ps.reg.Caps, c)
}

// entry reads one capability mapping. name is the key it is filed under in
// the keyed shape ("" in the list shape, where `name:` names it).
func (ps *parser) entry(m *yaml.Node, name string, line int) Capability {
	c := Capability{Name: name, Line: line}
	who := func() string {
		if c.Name == "" {
			return "(unnamed)"
		}
		return c.Name
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			ps.add(m.Content[i].Line, LevelError, "capability %s: keys must be text", who())
			continue
		}
		key, val := k.Value, m.Content[i+1]
		if prev, dup := seen[key]; dup {
			ps.add(k.Line, LevelError, "capability %s: %s is set twice (also line %d)", who(), key, prev)
		}
		seen[key] = k.Line
		text, isText := scalarText(val)
		typed := key == "name" || key == "description" || key == "safety" || key == "approval" ||
			key == "gate" || key == "timeout" || key == "command"
		if typed && !isText {
			ps.add(k.Line, LevelError, "capability %s: %s: want text", who(), key)
			continue
		}
		switch key {
		case "name":
			text = strings.TrimSpace(text)
			switch {
			case name == "":
				c.Name = text
			case text != name:
				ps.add(k.Line, LevelWarning, "capability %s: name: says %q; the key %q is used", name, text, name)
			}
		case "description":
			c.Description = text
		case "safety":
			c.Safety = strings.ToLower(strings.TrimSpace(text))
		case "approval":
			c.Approval = strings.ToLower(strings.TrimSpace(text))
		case "gate":
			c.Gate = strings.TrimSpace(text)
		case "command":
			c.Command = text
		case "timeout":
			d, err := time.ParseDuration(strings.TrimSpace(text))
			if err != nil || d <= 0 {
				ps.add(k.Line, LevelError, "capability %s: timeout %q: want a positive Go duration such as 30s or 5m", who(), text)
				continue
			}
			c.Timeout = d
		default:
			c.Extra = append(c.Extra, Field{Key: key, Value: fieldValue(val), Line: k.Line})
		}
	}
	label := who()
	if c.Safety != "" && !knownSafety(c.Safety) {
		ps.add(c.Line, LevelError, "capability %s: safety %q is not one of read-only, mutating, destructive; treated as destructive", label, c.Safety)
	}
	if c.Approval != "" && !knownApproval(c.Approval) {
		ps.add(c.Line, LevelError, "capability %s: approval %q is not one of auto, manual; treated as manual", label, c.Approval)
	}
	if c.Gate == "" {
		switch {
		case c.Safety == SafetyDestructive:
			ps.add(c.Line, LevelWarning, "capability %s is destructive but names no gate", label)
		case c.Approval == ApprovalManual:
			ps.add(c.Line, LevelWarning, "capability %s needs manual approval but names no gate", label)
		}
	}
	return c
}

// scalarText returns a scalar's text ("" for null) and whether n is one.
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

// fieldValue is the Value kept for an untyped key.
func fieldValue(n *yaml.Node) any {
	if s, ok := scalarText(n); ok {
		return s
	}
	r := resolve(n)
	if r == nil {
		return nil
	}
	var v any
	if err := r.Decode(&v); err != nil {
		return nil
	}
	return v
}
