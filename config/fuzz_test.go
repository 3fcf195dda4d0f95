package config

import (
	"fmt"
	"path"
	"reflect"
	"strconv"
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
	"site: {title: \"\\x0A\"}",
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
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, FileName+":") {
					t.Fatalf("error line %q does not name the file: %v", line, err)
				}
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
		out, err := marshalQuoted(c)
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

// marshalQuoted encodes v, a struct of strings, bools, string slices and
// such structs (Config), as YAML with every string double-quoted.
// yaml.v3's own encoding cannot re-encode every value Parse accepts: it
// writes a string of one newline as a block scalar ("|4+") and reads it
// back as "" (yaml.Node.Encode already loses it); a double-quoted scalar
// escapes every byte and reads back exactly.
func marshalQuoted(v any) ([]byte, error) {
	n, err := quotedNode(reflect.ValueOf(v))
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(n)
}

// quotedNode is marshalQuoted's node of v.
func quotedNode(v reflect.Value) (*yaml.Node, error) {
	switch v.Kind() {
	case reflect.Pointer:
		return quotedNode(v.Elem())
	case reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String(), Style: yaml.DoubleQuotedStyle}, nil
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			c, err := quotedNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for i := range v.NumField() {
			key, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			c, err := quotedNode(v.Field(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, c)
		}
		return n, nil
	}
	return nil, fmt.Errorf("marshalQuoted: cannot encode a %s", v.Kind())
}
