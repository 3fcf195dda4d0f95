// Package config owns spine.yaml, the optional configuration file at the
// root of a governed repository: where loops live, the site's title, and the
// policy that decides who may approve gates and which values are secret.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/spinehq/spine/internal/yamlx"
)

// FileName is the configuration file's name at the repository root.
const FileName = "spine.yaml"

// MaxSize bounds the spine.yaml Parse accepts: a configuration file is a
// few hundred bytes; anything near this is a mistake or an attack.
const MaxSize = 1 << 20

// Policy decides who may approve gates and what is secret.
type Policy struct {
	// Approvers are the commit authors (email or "Name <email>") whose
	// approvals in a loop's frontmatter open its gates.
	Approvers []string `yaml:"approvers"`
	// RequireSigned demands a valid signature on approval commits.
	RequireSigned bool `yaml:"require_signed"`
	// SigningKeys are paths (repository-relative) to armored OpenPGP public
	// keys that approval signatures must verify against.
	SigningKeys []string `yaml:"signing_keys"`
	// ForbidSelfApproval refuses an approval (or an approver's change of
	// a gated step) whose author wrote a part of the step: its command,
	// language, host or an attribute.
	ForbidSelfApproval bool `yaml:"forbid_self_approval"`
	// SecretEnv names environment variables whose values are redacted from
	// output, artifacts and receipts.
	SecretEnv []string `yaml:"secret_env"`
}

// Signing configures the signing of receipts (receipt.dsse.json).
type Signing struct {
	// Key is the path of the host's ed25519 private key (made by `spine
	// keygen`), outside the repository; "~/" is the user's home. Empty:
	// receipts are not signed unless SPINE_SIGNING_KEY names a key.
	Key string `yaml:"key"`
}

// Site configures the evidence site.
type Site struct {
	Title   string `yaml:"title"`
	Out     string `yaml:"out"`
	BaseURL string `yaml:"base_url"`
}

// Config is the decoded spine.yaml with defaults applied.
type Config struct {
	// Loops are glob patterns (with ** for any depth) selecting loop
	// documents, relative to the repository root.
	Loops []string `yaml:"loops"`
	// Exclude are glob patterns removed from the selection.
	Exclude []string `yaml:"exclude"`
	// Gaps is the gap ledger's path.
	Gaps string `yaml:"gaps"`
	// Capabilities is the capability registry's path.
	Capabilities string `yaml:"capabilities"`
	// VerifyDir holds verify packs, one <pack>.yaml each.
	VerifyDir string `yaml:"verify_dir"`
	// Receipts is the folder receipts are written under.
	Receipts string `yaml:"receipts"`
	// Artifacts is the folder artifact files are written under.
	Artifacts string `yaml:"artifacts"`
	Site      Site   `yaml:"site"`
	Policy    Policy `yaml:"policy"`
	// Signing configures signed receipts.
	Signing Signing `yaml:"signing"`
}

// Default returns the configuration used when spine.yaml is absent.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if len(c.Loops) == 0 {
		c.Loops = []string{"loops/**/*.md", "**/loop-scopes/*.md"}
	}
	if c.Gaps == "" {
		c.Gaps = "gaps.yaml"
	}
	if c.Capabilities == "" {
		c.Capabilities = "capabilities.yaml"
	}
	if c.VerifyDir == "" {
		c.VerifyDir = "verify"
	}
	if c.Receipts == "" {
		c.Receipts = "receipts"
	}
	if c.Artifacts == "" {
		c.Artifacts = "artifacts"
	}
	if c.Site.Title == "" {
		c.Site.Title = "spine evidence"
	}
	if c.Site.Out == "" {
		c.Site.Out = "public"
	}
}

// Parse decodes spine.yaml content. Unknown keys are an error naming the
// file and line, so a typo in a policy never silently disables it; so are a
// second YAML document (which a decoder would silently skip), a file larger
// than MaxSize, and folder settings that could leave the repository
// (absolute paths, "..", backslashes, NUL or line breaks). Parse never
// panics, whatever the input.
func Parse(name string, data []byte) (c *Config, err error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %d bytes is larger than the %d a configuration file may be", name, len(data), MaxSize)
	}
	defer func() {
		// yaml.v3 has panicked on malformed input before; a broken
		// configuration must be an error, never a crash.
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("%s: invalid YAML: %v", name, p)
		}
	}()
	c = &Config{}
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(name, data, err)
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			return nil, fmt.Errorf("%s:%d: a second YAML document; spine.yaml holds one", name, extra.Line)
		} else if !errors.Is(err, io.EOF) {
			return nil, yamlError(name, data, err)
		}
	}
	c.applyDefaults()
	if err := c.validate(); err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			line := lineOf(data, ke.path)
			if line == 0 && ke.alt != nil {
				line = lineOf(data, ke.alt)
			}
			if line > 0 {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// mapValue returns the value of key k in mapping n, also one a merge key
// ("<<: *defaults") brings in, or nil. depth bounds merges of merges.
func mapValue(n *yaml.Node, k string, depth int) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode || depth > 10 {
		return nil
	}
	var own, merged *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch key, v := n.Content[i], n.Content[i+1]; {
		case key.Value == k && key.Tag != "!!merge":
			own = v // the last of duplicate keys wins, as in decoding
		case key.Tag == "!!merge" || key.Value == "<<":
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, src := range srcs {
				if m := mapValue(src, k, depth+1); m != nil && merged == nil {
					merged = m
				}
			}
		}
	}
	if own != nil {
		return own
	}
	return merged
}

// keyError is a value validate refuses, with the path of its key
// ("policy.approvers", 2 for the third entry) so that Parse can name
// its line.
type keyError struct {
	path []any // string keys and int indexes
	// alt is where to look when path is not in the file (a default).
	alt []any
	err error
}

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// atKey wraps err as the value at path's error.
func atKey(err error, path ...any) error { return &keyError{path: path, err: err} }

// lineOf returns the line of the value at path in the YAML data, or 0
// when it cannot be found (a default, not written in the file).
func lineOf(data []byte, path []any) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return 0
	}
	n := doc.Content[0]
	for _, step := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch k := step.(type) {
		case string:
			next = mapValue(n, k, 0)
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return n.Line
}

// yamlLine matches the line yaml.v3 puts in front of its messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlError words a decoding error of the file name, holding data, as
// file:line findings, one a line (yaml.v3 says "yaml: line N: ..."; an
// unknown key, "field x not found in type config.Site").
func yamlError(name string, data []byte, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else if line, msg := yamlx.ErrorLine(data, err); line > 0 {
		// A syntax error: the problem's line (yaml.v3 names the
		// enclosing collection's for some).
		msgs = []string{"line " + strconv.Itoa(line) + ": " + msg}
	}
	for i, m := range msgs {
		if loc := yamlLine.FindStringSubmatch(m); loc != nil {
			m = name + ":" + loc[1] + ": " + m[len(loc[0]):]
		} else {
			m = name + ": " + strings.TrimPrefix(m, "yaml: ")
		}
		m = strings.Replace(m, "field ", "unknown key ", 1)
		m = strings.Replace(m, " not found in type config.", " in ", 1)
		// A value quoted in the message may span lines: a finding is one.
		msgs[i] = strings.ReplaceAll(m, "\n", `\n`)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// validate checks the settings that name places in the repository.
// CheckBaseURL refuses a site base URL that is not empty or an http or
// https URL with a host: the Atom feed's links start with it, and a
// javascript: one would run in a reader's browser.
func CheckBaseURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL with a host", s)
	}
	return nil
}

// ApproverEmail returns the email of a policy.approvers entry: the entry
// itself, or the address of "Name <email>" (also when the name is one
// net/mail refuses, such as "Lead, Dana"); ok is false when there is no
// address in it.
func ApproverEmail(entry string) (string, bool) {
	entry = strings.TrimSpace(entry)
	if addr, err := mail.ParseAddress(entry); err == nil {
		return addr.Address, true
	}
	if strings.HasSuffix(entry, ">") {
		if i := strings.LastIndexByte(entry, '<'); i >= 0 {
			entry = strings.TrimSpace(entry[i+1 : len(entry)-1])
		}
	}
	at := strings.LastIndexByte(entry, '@')
	if at <= 0 || at == len(entry)-1 || strings.ContainsAny(entry, " <>,;\"") {
		return "", false
	}
	return entry, true
}

func (c *Config) validate() error {
	for _, f := range []struct{ key, val string }{
		{"receipts", c.Receipts}, {"artifacts", c.Artifacts}, {"verify_dir", c.VerifyDir},
		{"gaps", c.Gaps}, {"capabilities", c.Capabilities},
	} {
		if err := checkRel(f.val); err != nil {
			return atKey(fmt.Errorf("%s: %w", f.key, err), f.key)
		}
	}
	if err := CheckBaseURL(c.Site.BaseURL); err != nil {
		return atKey(fmt.Errorf("site.base_url: %w", err), "site", "base_url")
	}
	for i, name := range c.Policy.SecretEnv {
		// A name no variable can have redacts nothing, without a word.
		if !validEnvName(name) {
			return atKey(fmt.Errorf("policy.secret_env[%d] %q is not an environment variable name (letters, digits and _, not starting with a digit; no $ or spaces)", i, name), "policy", "secret_env", i)
		}
	}
	for i, a := range c.Policy.Approvers {
		// An entry without an address approves nobody, without a word:
		// approvals are matched by the commit author's email.
		if _, ok := ApproverEmail(a); !ok {
			return atKey(fmt.Errorf("policy.approvers[%d] %q has no email address: write an email, or \"Name <email>\"", i, a), "policy", "approvers", i)
		}
	}
	for i, k := range c.Policy.SigningKeys {
		if err := checkRel(k); err != nil {
			return atKey(fmt.Errorf("policy.signing_keys[%d]: %w", i, err), "policy", "signing_keys", i)
		}
	}
	for _, list := range []struct {
		key  string
		pats []string
	}{{"loops", c.Loops}, {"exclude", c.Exclude}} {
		for i, g := range list.pats {
			if strings.ContainsAny(g, "\x00\n\r") {
				return atKey(fmt.Errorf("%s[%d] pattern %q: NUL or line break", list.key, i, g), list.key, i)
			}
			// Loops are looked for inside the repository only: a
			// pattern that leaves it would match nothing, without a
			// word.
			if p := filepath.ToSlash(g); strings.HasPrefix(p, "/") || filepath.IsAbs(g) || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
				return atKey(fmt.Errorf("%s[%d] pattern %q: patterns are relative to the repository root and stay inside it", list.key, i, g), list.key, i)
			}
		}
	}
	if strings.ContainsAny(c.Signing.Key, "\x00\n\r") {
		return atKey(fmt.Errorf("signing.key %q: NUL or line break", c.Signing.Key), "signing", "key")
	}
	// The site folder is left out when loops are looked for: one that
	// holds their folder would hide every loop (and be built over them).
	if out := path.Clean(filepath.ToSlash(c.Site.Out)); !path.IsAbs(out) && !filepath.IsAbs(c.Site.Out) {
		for i, g := range c.Loops {
			if base := globBase(g); base != "." && (out == base || strings.HasPrefix(base, out+"/")) {
				return &keyError{path: []any{"site", "out"}, alt: []any{"loops", i},
					err: fmt.Errorf("site.out %q holds the loop documents (loops: %q); build the site elsewhere", c.Site.Out, g)}
			}
		}
	}
	return nil
}

// validEnvName reports whether s can name an environment variable:
// letters, digits and _, not starting with a digit.
func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && !('A' <= c && c <= 'Z') && !('a' <= c && c <= 'z') && !(i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// GlobBase returns the folder of a loops pattern before its first
// wildcard ("." for one that starts with one): no loop document of the
// pattern is outside it.
func GlobBase(g string) string { return globBase(g) }

// globBase is GlobBase.
func globBase(g string) string {
	g = filepath.ToSlash(g)
	if i := strings.IndexAny(g, "*?[{"); i >= 0 {
		g = g[:i]
	}
	return path.Dir(path.Clean(g + "x"))
}

// checkRel reports why p is not a repository-relative path that stays in
// the repository.
func checkRel(p string) error {
	switch {
	case strings.ContainsAny(p, "\x00\n\r"):
		return fmt.Errorf("%q holds a NUL or a line break", p)
	case strings.Contains(p, "\\"):
		return fmt.Errorf("%q holds a backslash; use /", p)
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p):
		return fmt.Errorf("%q is absolute; give a path relative to the repository root", p)
	}
	// Clean resolves every ".." it can: what is left leads out.
	if clean := path.Clean(p); clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("%q does not name a path inside the repository", p)
	}
	return nil
}

// Load reads spine.yaml from the repository root; a missing file yields the
// defaults.
func Load(root string) (*Config, error) {
	path := filepath.Join(root, FileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(FileName, data)
}
