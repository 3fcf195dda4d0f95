package config

import (
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

// parseSeeds are spine.yaml documents the fuzzer starts from: the real
// shapes plus the inputs that broke YAML decoders before.
var parseSeeds = []string{
	"",
	"loops: [\"loops/**/*.md\"]\nsite:\n  title: Evidence\n",
	"policy:\n  approvers: [\"Lead <lead@example.com>\"]\n  require_signed: true\n  signing_keys: [keys/lead.asc]\n  forbid_self_approval: true\n  secret_env: [DB_PASSWORD, API_TOKEN]\n",
	"receipts: evidence/receipts\nartifacts: evidence/artifacts\nverify_dir: checks\ngaps: ledger/gaps.yaml\ncapabilities: caps.yaml\n",
	"signing:\n  key: ~/.config/spine/host.key\n",
	"exclude: [\"loops/archive/**\"]\n",
	"policy: {approvers: [a@example.com], secret_env: []}\n",
	"a: &a [*a]\n",
	"x: &x {y: *x}\nloops: *x\n",
	"---\nloops: [a]\n---\npolicy: {require_signed: false}\n",
	"receipts: ../outside\n",
	"artifacts: /etc\n",
	"loops: !!binary aGVsbG8=\n",
	"? [a, b]\n: c\n",
	"policy:\n  approvers:\n  - !!map {a: b}\n",
	"\ufeffsite: {title: x}\n",
	"site: {title: \"\\x00\"}\n",
}

// FuzzParse checks that Parse never panics, that a configuration it
// accepts has every default set and no path that leaves the repository,
// and that re-encoding an accepted configuration parses to the same value.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(FileName, data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config with error %v", err)
			}
			if !strings.HasPrefix(err.Error(), FileName+": ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(c.Loops) == 0 || c.Gaps == "" || c.Capabilities == "" || c.VerifyDir == "" ||
			c.Receipts == "" || c.Artifacts == "" || c.Site.Title == "" || c.Site.Out == "" {
			t.Fatalf("defaults missing: %+v", c)
		}
		for _, p := range []string{c.Receipts, c.Artifacts, c.VerifyDir, c.Gaps, c.Capabilities} {
			if cl := path.Clean(p); strings.HasPrefix(p, "/") || cl == ".." || strings.HasPrefix(cl, "../") || strings.ContainsAny(p, "\x00\\") {
				t.Fatalf("accepted a path leaving the repository: %q", p)
			}
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Parse(FileName, out)
		if err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
		if d := cmp.Diff(c, again, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("re-parse differs (-first +again):\n%s", d)
		}
	})
}
