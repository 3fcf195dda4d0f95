// Package packs owns verify packs, verify/<pack>.yaml: named lists of
// shell checks (drift gates such as `D188 stale feed freshness`) that a
// `verify` step or `spine pack run` executes, recording `N/M PASS` and each
// check's result.
//
// Packs are parsed strictly: a pack is code that runs on a production host,
// so an unknown or misspelt field is an error, not something to guess at.
package packs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spinehq/spine/internal/finding"
	"github.com/spinehq/spine/internal/yamlx"
	"gopkg.in/yaml.v3"
)

// Level is the severity of a pack finding (the shared finding.Level).
type Level = finding.Level

// Finding levels. A pack with error-level findings should not be run.
const (
	LevelError   = finding.LevelError
	LevelWarning = finding.LevelWarning
)

// Problem is one pack finding, located at a file and line (the shared
// finding.Problem, formatted as `file:line: level: message`).
type Problem = finding.Problem

// HasErrors reports whether any of the findings is error-level.
func HasErrors(problems []Problem) bool { return finding.HasErrors(problems) }

// Check is one check of a pack: a shell command whose exit status is the
// verdict.
type Check struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// Run is the command, run as `sh -c <run>`.
	Run string `json:"run"`
	// Blocking says whether a failure fails the pack (default true). A
	// non-blocking failure is recorded and reported but does not fail it.
	Blocking bool `json:"blocking"`
	// Timeout bounds the check; zero means RunOptions.DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Line is the 1-based line where the check starts.
	Line int `json:"line"`
}

// Pack is one parsed verify/<pack>.yaml.
type Pack struct {
	// Name is the `pack:` field, or the file name without extension when
	// the field is absent.
	Name        string  `json:"pack"`
	Description string  `json:"description,omitempty"`
	Checks      []Check `json:"checks"`
	// Path is the file the pack was read from.
	Path string `json:"path"`
}

// Check returns the check with the given id.
func (p *Pack) Check(id string) (Check, bool) {
	for _, c := range p.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
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

// packName is the name a pack file implies: its base name without
// extension.
func packName(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
}

// parser collects findings for one file.
type parser struct {
	path     string
	problems []Problem
}

func (ps *parser) add(line int, level Level, format string, args ...any) {
	ps.problems = append(ps.problems, Problem{Path: ps.path, Line: line, Level: level, Message: fmt.Sprintf(format, args...)})
}

// text reads a scalar field; it reports anything else.
func (ps *parser) text(key, val *yaml.Node) (string, bool) {
	v := resolve(val)
	if v == nil || v.Kind != yaml.ScalarNode {
		ps.add(key.Line, LevelError, "%s: want text", key.Value)
		return "", false
	}
	if v.Tag == "!!null" {
		return "", true
	}
	return v.Value, true
}

// fields walks a mapping's pairs, reporting duplicate and unknown keys.
func (ps *parser) fields(m *yaml.Node, where string, known []string, fn func(key, val *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			ps.add(m.Content[i].Line, LevelError, "%s: keys must be text", where)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			ps.add(k.Line, LevelError, "%s: %s is set twice (also line %d)", where, k.Value, prev)
			continue
		}
		seen[k.Value] = k.Line
		if !contains(known, k.Value) {
			ps.add(k.Line, LevelError, "%s: unknown field %q (want %s)", where, k.Value, strings.Join(known, ", "))
			continue
		}
		fn(k, m.Content[i+1])
	}
}

func contains(set []string, s string) bool {
	for _, v := range set {
		if v == s {
			return true
		}
	}
	return false
}

// Parse reads a verify pack. path names the file in findings and is
// compared with the `pack:` name. It fails only when the bytes are not
// YAML; every other fault is a finding, and the pack is returned with what
// could be read. A check without `run` is kept (and fails when run), so that
// totals never hide it.
func Parse(path string, data []byte) (pack *Pack, problems []Problem, err error) {
	defer func() {
		if r := recover(); r != nil {
			pack, problems, err = nil, nil, fmt.Errorf("%s: invalid YAML: parser failure: %v", path, r)
		}
	}()
	ps := &parser{path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, yamlx.SyntaxError(path, data, err)
	}
	if err := yamlx.CheckGrowth(path, &doc, len(data)); err != nil {
		return nil, nil, err
	}
	pack = &Pack{Path: path}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		ps.add(1, LevelError, "the pack is empty; want pack, description and checks")
		pack.Name = packName(path)
		return pack, ps.problems, nil
	}
	root := resolve(doc.Content[0])
	if root == nil || root.Kind != yaml.MappingNode {
		ps.add(doc.Content[0].Line, LevelError, "a pack is a mapping with pack, description and checks")
		pack.Name = packName(path)
		return pack, ps.problems, nil
	}
	var checks *yaml.Node
	nameLine := 0
	ps.fields(root, "pack", []string{"pack", "description", "checks"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "pack":
			pack.Name, _ = ps.text(k, v)
			pack.Name = strings.TrimSpace(pack.Name)
			nameLine = k.Line
		case "description":
			pack.Description, _ = ps.text(k, v)
		case "checks":
			c := resolve(v)
			switch {
			case c != nil && c.Kind == yaml.SequenceNode:
				checks = c
			case c != nil && c.Kind == yaml.ScalarNode && c.Tag == "!!null":
			default:
				ps.add(k.Line, LevelError, "checks: want a list of checks")
			}
		}
	})
	want := packName(path)
	switch {
	case pack.Name == "":
		ps.add(root.Line, LevelWarning, "no pack: name; using the file name %q", want)
		pack.Name = want
	case pack.Name != want:
		ps.add(nameLine, LevelWarning, "pack %q is in %s; the file name says %q", pack.Name, filepath.Base(path), want)
	}
	if checks == nil || len(checks.Content) == 0 {
		ps.add(root.Line, LevelWarning, "pack %s has no checks", pack.Name)
		return pack, ps.problems, nil
	}
	ids := map[string]int{}
	for i, raw := range checks.Content {
		c, ok := ps.check(raw, i)
		if !ok {
			continue
		}
		if first, dup := ids[c.ID]; dup {
			ps.add(c.Line, LevelError, "duplicate check id %s (first at %s:%d)", c.ID, path, first)
		} else {
			ids[c.ID] = c.Line
		}
		pack.Checks = append(pack.Checks, c)
	}
	return pack, ps.problems, nil
}

// check reads one entry of `checks:`.
func (ps *parser) check(raw *yaml.Node, i int) (Check, bool) {
	m := resolve(raw)
	if m == nil || m.Kind != yaml.MappingNode {
		ps.add(raw.Line, LevelError, "checks[%d]: want a mapping with id, title, run", i)
		return Check{}, false
	}
	c := Check{Blocking: true, Line: m.Line}
	where := fmt.Sprintf("checks[%d]", i)
	hasRun, runLine := false, 0
	ps.fields(m, where, []string{"id", "title", "run", "blocking", "timeout"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "id":
			c.ID, _ = ps.text(k, v)
			c.ID = strings.TrimSpace(c.ID)
		case "title":
			c.Title, _ = ps.text(k, v)
		case "run":
			c.Run, hasRun = ps.text(k, v)
			runLine = k.Line
		case "blocking":
			b := resolve(v)
			if b == nil || b.Kind != yaml.ScalarNode || b.Tag != "!!bool" {
				ps.add(k.Line, LevelError, "%s: blocking: want true or false", where)
				return
			}
			c.Blocking, _ = strconv.ParseBool(strings.ToLower(b.Value))
		case "timeout":
			s, ok := ps.text(k, v)
			if !ok {
				return
			}
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil || d <= 0 {
				ps.add(k.Line, LevelError, "%s: timeout %q: want a positive Go duration such as 30s or 5m", where, s)
				return
			}
			c.Timeout = d
		}
	})
	if c.ID == "" {
		c.ID = fmt.Sprintf("check-%d", i+1)
		ps.add(c.Line, LevelError, "%s: no id; called %s", where, c.ID)
		where = c.ID
	} else {
		where = c.ID
	}
	if !hasRun || strings.TrimSpace(c.Run) == "" {
		ps.add(c.Line, LevelError, "%s: no run command", where)
	} else if len(c.Run) > MaxRun {
		ps.add(runLine, LevelError, "%s: run is %d bytes, more than the %d one command-line argument carries; keep the script in a file and run that", where, len(c.Run), MaxRun)
	}
	return c, true
}

// MaxRun is the longest run command a check may have: it is passed to
// the shell as one argument (sh -c RUN), and Linux refuses an argument of
// 128 KiB or more with its terminating NUL (MAX_ARG_STRLEN, 32 pages of
// 4 KiB; cautious where pages are larger), so a longer check could never
// start. Such a pack is refused with an error naming
// the line.
const MaxRun = 128<<10 - 1

// LoadDir reads every *.yaml and *.yml file of dir (not its
// subdirectories) as a pack, sorted by pack name. A missing dir holds no
// packs; a symbolic link (the folder, or a file in it) is an error finding
// and is not read. Files that cannot be read or are not YAML become error findings
// and are left out; two packs with one name are both kept and reported.
func LoadDir(dir string) ([]*Pack, []Problem) {
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, []Problem{{Path: dir, Level: LevelError, Message: "the verify folder is a symbolic link; spine reads packs only from the repository"}}
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, []Problem{{Path: dir, Level: LevelError, Message: fmt.Sprintf("read verify packs: %v", err)}}
	}
	var packs []*Pack
	var problems []Problem
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		path := filepath.Join(dir, name)
		if e.Type()&fs.ModeSymlink != 0 {
			// Its target may be anywhere: never read, run or published.
			problems = append(problems, Problem{Path: path, Line: 1, Level: LevelError, Message: "a symbolic link; spine reads packs only from files in the repository"})
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, Problem{Path: path, Level: LevelError, Message: fmt.Sprintf("read pack: %v", err)})
			continue
		}
		p, probs, err := Parse(path, data)
		problems = append(problems, probs...)
		if err != nil {
			problems = append(problems, parseProblem(path, err))
			continue
		}
		packs = append(packs, p)
	}
	sort.SliceStable(packs, func(i, j int) bool {
		if packs[i].Name != packs[j].Name {
			return packs[i].Name < packs[j].Name
		}
		return packs[i].Path < packs[j].Path
	})
	for i := 1; i < len(packs); i++ {
		if packs[i].Name == packs[i-1].Name {
			problems = append(problems, Problem{Path: packs[i].Path, Line: 1, Level: LevelError,
				Message: fmt.Sprintf("pack %s is also defined in %s", packs[i].Name, packs[i-1].Path)})
		}
	}
	return packs, problems
}

// parseProblem turns a Parse error ("path:line: msg") into a finding.
func parseProblem(path string, err error) Problem {
	msg := err.Error()
	line := 0
	if rest, ok := strings.CutPrefix(msg, path+":"); ok {
		num, tail, _ := strings.Cut(rest, ": ")
		if n, convErr := strconv.Atoi(num); convErr == nil {
			line, msg = n, tail
		} else {
			msg = strings.TrimSpace(rest)
		}
	}
	return Problem{Path: path, Line: line, Level: LevelError, Message: msg}
}

// Lookup returns the pack named name.
func Lookup(packs []*Pack, name string) (*Pack, bool) {
	for _, p := range packs {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}
