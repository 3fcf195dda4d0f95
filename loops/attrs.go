package loops

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// attrKinds lists the step attributes spine knows and the type of each.
var attrKinds = map[string]string{
	"name":          "name",
	"cap":           "string",
	"gate":          "gate",
	"destructive":   "bool",
	"allow_failure": "bool",
	"idempotent":    "bool",
	"timeout":       "duration",
	"background":    "bool",
	"host":          "string",
	"artifact":      "artifact",
	"after":         "string",
	"pack":          "string",
}

// stepLangs are the fence languages a step may use.
var stepLangs = map[string]StepKind{"sh": KindCommand, "bash": KindCommand, "shell": KindCommand, "verify": KindVerify}

// Character classes of names (hand-written matchers: these run for every
// attribute of every step, and a regexp costs more than the rest of the
// attribute's checks).
func isLetterOrUnderscore(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}
func isWordByte(c byte) bool { return isAlnum(c) || c == '_' }

// matchName reports whether s is non-empty, starts with a byte first
// accepts and continues with bytes rest accepts.
func matchName(s string, first, rest func(byte) bool) bool {
	if s == "" || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !rest(s[i]) {
			return false
		}
	}
	return true
}

// isStepName matches [A-Za-z0-9][A-Za-z0-9._-]* (step, cap and pack names).
func isStepName(s string) bool { return matchName(s, isAlnum, isCapByte) }

// ValidHostName reports whether s can name a host in a loop's or a step's
// host= and a receipt: letters, digits, '.', '_' and '-', starting with a
// letter or digit (the rule of a step's name).
func ValidHostName(s string) bool { return isStepName(s) }

// isGateName matches [A-Za-z_][A-Za-z0-9_]* (an environment variable name).
func isGateName(s string) bool { return matchName(s, isLetterOrUnderscore, isWordByte) }

// isAttrKey matches [A-Za-z_][A-Za-z0-9_.-]*.
func isAttrKey(s string) bool { return matchName(s, isLetterOrUnderscore, isCapByte) }

// ParseInfo splits a fenced block's info string into its language and
// attribute list. ok is false when the block carries no attribute list and
// is therefore documentation. Both `{key=value key2="a b" flag}` and
// Runme-style JSON `{"name":"x","background":true}` are accepted.
func ParseInfo(info string) (lang string, attrs []Attr, ok bool, err error) {
	info = strings.TrimSpace(info)
	open := strings.IndexByte(info, '{')
	if open < 0 {
		lang, _, _ = strings.Cut(info, " ")
		return lang, nil, false, nil
	}
	lang = strings.TrimSpace(info[:open])
	body := strings.TrimSpace(info[open:])
	if !strings.HasSuffix(body, "}") {
		return lang, nil, true, fmt.Errorf("attribute list %q does not end with }", body)
	}
	if strings.HasPrefix(strings.TrimSpace(body[1:]), "\"") {
		attrs, err = parseJSONAttrs(body)
		return lang, attrs, true, err
	}
	attrs, err = parseKVAttrs(body[1 : len(body)-1])
	return lang, attrs, true, err
}

func parseJSONAttrs(body string) ([]Attr, error) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("attribute list: invalid JSON")
	}
	var attrs []Attr
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("attribute list: invalid JSON: %v", err)
		}
		key, _ := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("attribute list: invalid JSON value for %q: %v", key, err)
		}
		switch x := vt.(type) {
		case string:
			attrs = append(attrs, Attr{Key: key, Value: x})
		case json.Number:
			attrs = append(attrs, Attr{Key: key, Value: x.String()})
		case bool:
			attrs = append(attrs, Attr{Key: key, Value: strconv.FormatBool(x)})
		default:
			return nil, fmt.Errorf("attribute %q: value must be a string, number or boolean", key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("attribute list: invalid JSON: %v", err)
	}
	if tail := strings.TrimSpace(body[dec.InputOffset():]); tail != "" {
		return nil, fmt.Errorf("attribute list: unexpected %q after the JSON object", tail)
	}
	return attrs, nil
}

// parseKVAttrs reads `key=value key="quoted value" key='v' flag`.
func parseKVAttrs(s string) ([]Attr, error) {
	var attrs []Attr
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return attrs, nil
		}
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ' ' && s[j] != '\t' && s[j] != ',' {
			j++
		}
		key := s[i:j]
		if key == "" {
			return nil, fmt.Errorf("attribute list: empty key at %q", s[i:])
		}
		if !isAttrKey(key) {
			return nil, fmt.Errorf("attribute list: %q is not an attribute name", key)
		}
		if j >= len(s) || s[j] != '=' {
			attrs = append(attrs, Attr{Key: key, Value: "true"})
			i = j
			continue
		}
		j++
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			q := s[j]
			var b strings.Builder
			k := j + 1
			for ; k < len(s) && s[k] != q; k++ {
				if s[k] == '\\' && q == '"' && k+1 < len(s) {
					k++
				}
				b.WriteByte(s[k])
			}
			if k >= len(s) {
				return nil, fmt.Errorf("attribute %q: unterminated quote", key)
			}
			if k+1 < len(s) && s[k+1] != ' ' && s[k+1] != '\t' && s[k+1] != ',' {
				return nil, fmt.Errorf("attribute %q: unexpected %q after the closing quote", key, s[k+1:])
			}
			attrs = append(attrs, Attr{Key: key, Value: b.String()})
			i = k + 1
			continue
		}
		k := j
		for k < len(s) && s[k] != ' ' && s[k] != '\t' && s[k] != ',' {
			k++
		}
		attrs = append(attrs, Attr{Key: key, Value: s[j:k]})
		i = k
	}
}

// step builds a Step from a fence's info string, reporting findings at line.
// ok is false for documentation blocks (no attribute list).
func (p *docParser) step(info string, line int) (Step, bool) {
	lang, attrs, ok, err := ParseInfo(info)
	if !ok {
		return Step{}, false
	}
	s := Step{Lang: lang, Attrs: attrs, Line: line}
	if err != nil {
		p.problem(line, LevelError, "step: %v", err)
	}
	kind, known := stepLangs[strings.ToLower(lang)]
	switch {
	case lang == "":
		p.problem(line, LevelError, "step has no language: write ```sh {...}, ```bash {...} or ```verify {...}")
	case !known:
		p.problem(line, LevelError, "step language %q is not runnable (use sh, bash, shell or verify)", lang)
	}
	s.Kind = kind
	if s.Kind == "" {
		s.Kind = KindCommand
	}
	seen := map[string]bool{}
	for _, a := range attrs {
		if seen[a.Key] {
			p.problem(line, LevelError, "attribute %q given twice", a.Key)
		}
		seen[a.Key] = true
		if err := s.setAttr(a); err != nil {
			p.problem(line, LevelError, "%v", err)
		}
	}
	if s.Name == "" && !seen["name"] {
		// (A name given but refused is reported as such above.)
		p.problem(line, LevelError, "step has no name attribute (name=... is its identity across edits)")
	}
	if s.Kind == KindVerify && s.Pack == "" && !seen["pack"] {
		p.problem(line, LevelError, "verify step %q has no pack attribute", s.Name)
	}
	return s, true
}

// setAttr validates one attribute and stores it on the step.
func (s *Step) setAttr(a Attr) error {
	kind, ok := attrKinds[a.Key]
	if !ok {
		return fmt.Errorf("unknown step attribute %q (known: name, cap, gate, destructive, allow_failure, idempotent, timeout, background, host, artifact, after, pack)", a.Key)
	}
	v := a.Value
	switch kind {
	case "bool":
		b, err := parseBool(v)
		if err != nil {
			return fmt.Errorf("attribute %s=%q: want true or false", a.Key, v)
		}
		switch a.Key {
		case "destructive":
			s.Destructive = b
		case "allow_failure":
			s.AllowFailure = b
		case "idempotent":
			s.Idempotent = b
		case "background":
			s.Background = b
		}
	case "duration":
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("attribute timeout=%q: want a positive Go duration such as 90s or 2h", v)
		}
		s.Timeout = d
	case "name":
		if !isStepName(v) || len(v) > 128 {
			return fmt.Errorf("step name %q: use letters, digits, '.', '_' and '-' (it becomes part of run keys and paths)", v)
		}
		s.Name = v
	case "gate":
		if !isGateName(v) {
			return fmt.Errorf("gate %q: must be an environment variable name such as ALLOW_MD1400_PROVISION", v)
		}
		s.Gate = v
	case "artifact":
		if err := CheckArtifactName(v); err != nil {
			return err
		}
		s.Artifact = v
	default:
		switch a.Key {
		case "cap":
			if !isStepName(v) {
				return fmt.Errorf("cap %q: use letters, digits, '.', '_' and '-'", v)
			}
			s.Cap = v
		case "host":
			// One host name: a blank around it or a list ("a, b")
			// matched no host, and the step never ran, without a word.
			if !isStepName(v) {
				return fmt.Errorf("host %q: one host name, of letters, digits, '.', '_' and '-'", v)
			}
			s.Host = v
		case "after":
			s.After = v
		case "pack":
			if !isStepName(v) {
				return fmt.Errorf("pack %q: use letters, digits, '.', '_' and '-'", v)
			}
			s.Pack = v
		}
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "1", "on":
		return true, nil
	case "false", "no", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean")
}

// CheckArtifactName refuses artifact names that could escape the loop's
// artifact folder or are awkward as file names.
func CheckArtifactName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("artifact name %q is empty or a directory", name)
	case strings.ContainsAny(name, "/\\"):
		return fmt.Errorf("artifact name %q escapes the loop's artifact folder (no path separators)", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 }):
		// An escape sequence in a file name reaches every terminal that
		// lists the folder (ls, git status).
		return fmt.Errorf("artifact name %q holds a control character", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("artifact name %q must not start with a dot", name)
	case len(name) > 200:
		return fmt.Errorf("artifact name is longer than 200 bytes")
	}
	return nil
}
