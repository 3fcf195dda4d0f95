package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "polcy: {}\n", "spine.yaml:1: unknown key polcy in Config"},
		{"typo in policy", "policy: {require_sigend: true}\n", "spine.yaml:1: unknown key require_sigend in Policy"},
		{"typo on its line", "loops: [\"loops/*.md\"]\nsite:\n  titel: x\n", "spine.yaml:3: unknown key titel in Site"},
		{"syntax error on its line", "loops: [a]\npolicy:\n  approvers: [a\n", "spine.yaml:3: did not find expected"},
		{"key out of line", "loops: [a]\npolicy:\n  approvers:\n    - a@x.example\n  require_signed: true\n signing_keys: []\n", "spine.yaml:6: did not find expected key"},
		{"loops pattern leaves the repository", "loops: [\"../other/*.md\"]\n", `spine.yaml:1: loops[0] pattern "../other/*.md": patterns are relative to the repository root`},
		{"loops pattern absolute", "loops:\n  - loops/*.md\n  - /srv/loops/*.md\n", `spine.yaml:3: loops[1] pattern "/srv/loops/*.md"`},
		{"exclude pattern leaves the repository", "# spine\nexclude: [\"loops/../../x\"]\n", `spine.yaml:2: exclude[0] pattern "loops/../../x"`},
		{"site folder holds the loops", "site:\n  title: T\n  out: loops\n", `spine.yaml:3: site.out "loops" holds the loop documents`},
		{"default site folder holds the loops", "loops:\n  - ops/*.md\n  - public/loops/*.md\n", `spine.yaml:3: site.out "public" holds`},
		{"site folder holds the loops' parent", "loops: [\"ops/loops/**/*.md\"]\nsite: {out: ops}\n", `site.out "ops" holds`},
		{"second document", "loops: [a]\n---\npolicy: {require_signed: true}\n", "spine.yaml:2: a second YAML document"},
		{"receipts absolute", "receipts: /var/receipts\n", "spine.yaml:1: receipts: \"/var/receipts\" is absolute"},
		{"receipts escapes", "receipts: ../x\n", "does not name a path inside"},
		{"artifacts escapes late", "receipts: r\n\nartifacts: a/../../x\n", "spine.yaml:3: artifacts: \"a/../../x\" does not name a path inside"},
		{"artifacts root", "artifacts: .\n", "does not name a path inside"},
		{"verify dir backslash", "verify_dir: 'a\\b'\n", "backslash"},
		{"gaps NUL", "gaps: \"a\\0b\"\n", "NUL"},
		{"signing key newline", "signing: {key: \"a\\nb\"}\n", "line break"},
		{"signing_keys escape", "policy:\n  signing_keys:\n    - keys/a.asc\n    - ../../home/x.asc\n", "spine.yaml:4: policy.signing_keys[1]"},
		{"secret_env with a dollar", "policy: {secret_env: [$DB_PASSWORD]}\n", `policy.secret_env[0] "$DB_PASSWORD" is not an environment variable name`},
		{"secret_env with a space", "policy:\n  secret_env: [\"API_TOKEN\", \" DB_PASSWORD\"]\n", `spine.yaml:2: policy.secret_env[1] " DB_PASSWORD"`},
		{"secret_env starting with a digit", "policy: {secret_env: [1PASS]}\n", `policy.secret_env[0] "1PASS"`},
		{"base_url javascript", "site: {base_url: \"javascript:alert(1)//\"}\n", `spine.yaml:1: site.base_url: "javascript:alert(1)//": want an http:// or https:// URL`},
		{"approver without an address", "policy:\n  approvers:\n    - dana@x.example\n    - Dana Lead\n", `spine.yaml:4: policy.approvers[1] "Dana Lead" has no email address`},
		{"value through a merge key", "policy:\n  require_signed: false\n  <<:\n    approvers:\n      - Dana\n", `spine.yaml:5: policy.approvers[0] "Dana" has no email address`},
		{"value through merged aliases", "site: &d\n  title: T\npolicy:\n  <<: [{secret_env: [OK]}, {approvers: [\"Dana\"]}]\n", `spine.yaml:4: policy.approvers[0] "Dana" has no email address`},
		{"value through an alias", "site:\n  title: &k ../k.asc\npolicy:\n  signing_keys: [*k]\n", "spine.yaml:4: policy.signing_keys[0]"},
		{"base_url without a host", "site: {base_url: \"https:///x\"}\n", `site.base_url`},
		{"not a mapping", "- a\n- b\n", "cannot unmarshal"},
		{"too large", strings.Repeat("#", MaxSize+1), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(FileName, []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), FileName+":") {
				t.Fatalf("error %q, want it to name %s and contain %q", err, FileName, tc.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		check      func(*Config) bool
	}{
		{"empty", "", func(c *Config) bool { return c.Receipts == "receipts" && c.Artifacts == "artifacts" }},
		{"nested folders", "receipts: evidence/receipts\nartifacts: ./evidence/artifacts/\n", func(c *Config) bool { return c.Receipts == "evidence/receipts" }},
		{"inner dotdot that stays", "receipts: a/../b\n", func(c *Config) bool { return c.Receipts == "a/../b" }},
		{"signing key", "signing:\n  key: ~/.config/spine/host.key\n", func(c *Config) bool { return c.Signing.Key == "~/.config/spine/host.key" }},
		{"explicit document start", "---\nsite: {title: T}\n", func(c *Config) bool { return c.Site.Title == "T" }},
		{"comments only", "# nothing\n", func(c *Config) bool { return len(c.Loops) == 2 }},
		{"secret_env names", "policy: {secret_env: [DB_PASSWORD, _x, a1]}\n", func(c *Config) bool { return len(c.Policy.SecretEnv) == 3 }},
		{"base_url", "site: {base_url: \"https://evidence.example.com/ops/\"}\n", func(c *Config) bool { return c.Site.BaseURL == "https://evidence.example.com/ops/" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(FileName, []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

// TestApproverEmail: an approvers entry is matched by its email, however
// its name is written (net/mail refuses "Lead, Dana"), and one with no
// address is refused by Load, naming it.
func TestApproverEmail(t *testing.T) {
	for _, tc := range []struct {
		entry, want string
		ok          bool
	}{
		{"dana@x.example", "dana@x.example", true},
		{"Dana Lead <dana@x.example>", "dana@x.example", true},
		{"Lead, Dana <dana@x.example>", "dana@x.example", true},
		{"  \"Lead, Dana\" <dana@x.example>  ", "dana@x.example", true},
		{"Dana [ops]; <dana@x.example>", "dana@x.example", true},
		{"Dana Lead", "", false},
		{"@dana", "", false},
		{"dana@", "", false},
		{"Dana <>", "", false},
	} {
		got, ok := ApproverEmail(tc.entry)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ApproverEmail(%q) = %q, %v; want %q, %v", tc.entry, got, ok, tc.want, tc.ok)
		}
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "spine.yaml"), []byte("policy:\n  approvers: [\"Dana Lead\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root); err == nil || !strings.Contains(err.Error(), `policy.approvers[0] "Dana Lead" has no email address`) {
		t.Errorf("Load: %v", err)
	}
}
