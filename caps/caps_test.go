package caps

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     []Capability
		problems []Problem
	}{
		{
			name: "real registry shape",
			in:   string(readFixture(t, "capabilities.yaml")),
			want: []Capability{
				{
					Name: "spine.verify", Description: "Run drift gates to verify spine health", Safety: "read-only", Approval: "auto",
					Command: "./surfaces/verify/drift-gate.sh", Line: 15,
					Extra: []Field{
						{Key: "tags", Value: []any{"spine", "verify"}, Line: 17},
						{Key: "cwd", Value: "$SPINE_CODE", Line: 19},
						{Key: "lifecycle", Value: "ready", Line: 22},
						{Key: "outputs", Value: []any{"stdout"}, Line: 23},
					},
				},
				{
					Name: "spine.watcher.restart", Description: "Restart the watcher", Safety: "mutating", Approval: "manual",
					Gate: "ALLOW_WATCHER_RESTART", Timeout: 2 * time.Minute, Command: "./ops/runtime/inbox/agent-restart.sh", Line: 25,
				},
				{
					Name: "gaps.close", Description: "Close or fix a gap.", Safety: "destructive", Approval: "manual",
					Command: "./ops/plugins/loops/bin/gaps-close", Line: 33,
				},
				{
					Name: "session.start", Description: "Initialize a governed terminal session.", Safety: "mutating", Approval: "auto", Line: 39,
					Extra: []Field{
						{Key: "args", Value: []any{map[string]any{"name": "lane", "required": true, "validate": "^(scan|apply|coordinator)$"}}, Line: 43},
						{Key: "requires", Value: []any{"loops.status"}, Line: 47},
						{Key: "touches_api", Value: "true", Line: 49},
					},
				},
			},
			problems: []Problem{
				{Path: "capabilities.yaml", Line: 33, Level: LevelWarning, Message: "capability gaps.close is destructive but names no gate"},
			},
		},
		{
			name: "list shape",
			in: "capabilities:\n" +
				"  - name: a.read\n    safety: Read-Only\n    approval: AUTO\n" +
				"  - name: b.wipe\n    safety: destructive\n    gate: ALLOW_WIPE\n",
			want: []Capability{
				{Name: "a.read", Safety: "read-only", Approval: "auto", Line: 2},
				{Name: "b.wipe", Safety: "destructive", Gate: "ALLOW_WIPE", Line: 5},
			},
		},
		{
			name: "top-level mapping keyed by name",
			in:   "version: 1\nzpool.status:\n  safety: read-only\nzpool.destroy:\n  safety: destructive\n  approval: manual\n  gate: ALLOW_ZPOOL_DESTROY\n",
			want: []Capability{
				{Name: "zpool.status", Safety: "read-only", Line: 2},
				{Name: "zpool.destroy", Safety: "destructive", Approval: "manual", Gate: "ALLOW_ZPOOL_DESTROY", Line: 4},
			},
		},
		{
			name: "bare list",
			in:   "- {name: x, safety: read-only}\n",
			want: []Capability{{Name: "x", Safety: "read-only", Line: 1}},
		},
		{
			name: "empty",
			in:   "",
		},
		{
			name: "null capabilities",
			in:   "capabilities:\n",
		},
		{
			name: "findings",
			in: "capabilities:\n" +
				"  x.one:\n    safety: dangerous\n    approval: sometimes\n" +
				"  x.two:\n    name: x.deux\n    approval: manual\n    timeout: 90\n" +
				"  x.one:\n    safety: read-only\n" +
				"  x.three: hello\n" +
				"  x.four:\n    safety: [a]\n    safety: mutating\n",
			want: []Capability{
				{Name: "x.one", Safety: "dangerous", Approval: "sometimes", Line: 2},
				{Name: "x.two", Approval: "manual", Line: 5},
				{Name: "x.one", Safety: "read-only", Line: 9},
				{Name: "x.four", Safety: "mutating", Line: 12},
			},
			problems: []Problem{
				{Path: "capabilities.yaml", Line: 2, Level: LevelError, Message: `capability x.one: safety "dangerous" is not one of read-only, mutating, destructive; treated as destructive`},
				{Path: "capabilities.yaml", Line: 2, Level: LevelError, Message: `capability x.one: approval "sometimes" is not one of auto, manual; treated as manual`},
				{Path: "capabilities.yaml", Line: 6, Level: LevelWarning, Message: `capability x.two: name: says "x.deux"; the key "x.two" is used`},
				{Path: "capabilities.yaml", Line: 8, Level: LevelError, Message: `capability x.two: timeout "90": want a positive Go duration such as 30s or 5m`},
				{Path: "capabilities.yaml", Line: 5, Level: LevelWarning, Message: "capability x.two needs manual approval but names no gate"},
				{Path: "capabilities.yaml", Line: 9, Level: LevelError, Message: "duplicate capability x.one (first at capabilities.yaml:2)"},
				{Path: "capabilities.yaml", Line: 11, Level: LevelError, Message: "capability x.three: want a mapping"},
				{Path: "capabilities.yaml", Line: 13, Level: LevelError, Message: "capability x.four: safety: want text"},
				{Path: "capabilities.yaml", Line: 14, Level: LevelError, Message: "capability x.four: safety is set twice (also line 13)"},
			},
		},
		{
			name: "list findings",
			in:   "capabilities:\n  - description: nameless\n  - name: d\n    safety: destructive\n  - name: d\n  - 7\n",
			want: []Capability{
				{Name: "d", Safety: "destructive", Line: 3},
				{Name: "d", Line: 5},
			},
			problems: []Problem{
				{Path: "capabilities.yaml", Line: 2, Level: LevelError, Message: "capabilities[0]: no name"},
				{Path: "capabilities.yaml", Line: 3, Level: LevelWarning, Message: "capability d is destructive but names no gate"},
				{Path: "capabilities.yaml", Line: 5, Level: LevelError, Message: "duplicate capability d (first at capabilities.yaml:3)"},
				{Path: "capabilities.yaml", Line: 6, Level: LevelError, Message: "capabilities[3]: want a mapping with a name"},
			},
		},
		{
			name:     "capabilities is a scalar",
			in:       "capabilities: all\n",
			problems: []Problem{{Path: "capabilities.yaml", Line: 1, Level: LevelError, Message: "capabilities: want a mapping keyed by name or a list"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, problems, err := Parse("capabilities.yaml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, reg.Caps, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("capabilities (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.problems, problems, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			for _, c := range tt.want {
				got, ok := reg.Lookup(c.Name)
				if !ok || got.Line > c.Line {
					t.Errorf("Lookup(%s) = %+v, %v", c.Name, got, ok)
				}
			}
		})
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, _, err := Parse("capabilities.yaml", []byte("capabilities:\n  a:\n    safety: [x\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "capabilities.yaml:3: invalid YAML: ") {
		t.Errorf("Parse error = %v", err)
	}
}

func TestLookupAndPolicy(t *testing.T) {
	reg, _, err := Parse("capabilities.yaml", readFixture(t, "capabilities.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                  string
		found                 bool
		destructive, approval bool
	}{
		{"spine.verify", true, false, false},
		{"spine.watcher.restart", true, false, true},
		{"gaps.close", true, true, true},
		{"session.start", true, false, false},
		{"missing", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := reg.Lookup(tt.name)
			if ok != tt.found || c.Destructive() != tt.destructive || c.NeedsApproval() != tt.approval {
				t.Errorf("Lookup(%s) = found %v destructive %v approval %v", tt.name, ok, c.Destructive(), c.NeedsApproval())
			}
		})
	}
	var names []string
	for _, c := range reg.Sorted() {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"gaps.close", "session.start", "spine.verify", "spine.watcher.restart"}, names); diff != "" {
		t.Errorf("Sorted (-want +got):\n%s", diff)
	}
	if v, ok := reg.Caps[0].Get("cwd"); !ok || v != "$SPINE_CODE" {
		t.Errorf(`Get("cwd") = %v, %v`, v, ok)
	}
	unknown := Capability{Safety: "risky", Approval: "auto"}
	if !unknown.Destructive() || !unknown.NeedsApproval() {
		t.Error("an unknown safety class must be treated as destructive")
	}
	if (Capability{Approval: "later"}).NeedsApproval() != true {
		t.Error("an unknown approval mode must need approval")
	}
}

// registryOf builds a registry of n capabilities in the real keyed shape.
func registryOf(n int) []byte {
	var b strings.Builder
	b.WriteString("version: \"1.0\"\ncapabilities:\n")
	safety := []string{"read-only", "mutating", "destructive"}
	for i := range n {
		fmt.Fprintf(&b, "  cap.%04d.status:\n    description: \"Capability number %d\"\n    tags: [gen, bench]\n", i, i)
		fmt.Fprintf(&b, "    command: \"./bin/cap-%d\"\n    cwd: \"$SPINE_CODE\"\n    safety: %s\n    approval: manual\n", i, safety[i%3])
		fmt.Fprintf(&b, "    gate: ALLOW_CAP_%d\n    timeout: %ds\n    outputs: [\"stdout\"]\n", i, 10+i%50)
	}
	return []byte(b.String())
}

func TestThousandEntries(t *testing.T) {
	reg, problems, err := Parse("capabilities.yaml", registryOf(1000))
	if err != nil || len(problems) != 0 || len(reg.Caps) != 1000 {
		t.Fatalf("Parse: %d caps, %v, %v", len(reg.Caps), problems, err)
	}
	c, ok := reg.Lookup("cap.0999.status")
	if !ok || c.Gate != "ALLOW_CAP_999" || c.Timeout != 59*time.Second || c.Safety != "read-only" {
		t.Errorf("Lookup(cap.0999.status) = %+v, %v", c, ok)
	}
}

func BenchmarkParse1000(b *testing.B) {
	data := registryOf(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse("capabilities.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	reg, _, err := Parse("capabilities.yaml", registryOf(1000))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok := reg.Lookup("cap.0500.status"); !ok {
			b.Fatal("not found")
		}
	}
}
