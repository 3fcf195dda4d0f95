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
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// FileName is the configuration file's name at the repository root.
const FileName = "spine.yaml"

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
	// ForbidSelfApproval refuses an approval whose author last changed the
	// gated step.
	ForbidSelfApproval bool `yaml:"forbid_self_approval"`
	// SecretEnv names environment variables whose values are redacted from
	// output, artifacts and receipts.
	SecretEnv []string `yaml:"secret_env"`
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
// file and line, so a typo in a policy never silently disables it.
func Parse(path string, data []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	c.applyDefaults()
	return c, nil
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
