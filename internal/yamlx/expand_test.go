package yamlx

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestCheckGrowth(t *testing.T) {
	list := "[" + strings.TrimSuffix(strings.Repeat("x,", 20_000), ",") + "]"
	var bomb, shared strings.Builder
	fmt.Fprintf(&bomb, "big: &b %s\ngaps:\n", list)
	for i := range 800 {
		fmt.Fprintf(&bomb, "  - {id: GAP-%d, x: *b}\n", i)
	}
	shared.WriteString("defaults: &d {severity: high, status: open, owner: ops}\ngaps:\n")
	for i := range 2000 {
		fmt.Fprintf(&shared, "  - {id: GAP-%d, <<: *d, title: t}\n", i)
	}
	var merged strings.Builder
	merged.WriteString("defaults: &d\n  description: |\n")
	for range 40 {
		merged.WriteString("    a line of a long description shared by every gap of the ledger\n")
	}
	merged.WriteString("gaps:\n")
	for i := range 1000 {
		fmt.Fprintf(&merged, "  - {id: GAP-OP-%d, <<: *d, title: t}\n", i)
	}
	nested := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	for _, tc := range []struct {
		name, src string
		ok        bool
	}{
		{"no aliases", "gaps:\n  - {id: GAP-1, title: t}\n", true},
		{"shared defaults", shared.String(), true},
		{"a long description merged into a thousand gaps", merged.String(), true},
		{"one list named by every gap", bomb.String(), false},
		{"nested aliases", nested, false},
		{"alias in its own anchor", "a: &a [x, *a]\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tc.src), &n); err != nil {
				t.Skipf("yaml.v3 refuses it: %v", err)
			}
			err := CheckGrowth("gaps.yaml", &n, len(tc.src))
			if (err == nil) != tc.ok {
				t.Errorf("CheckGrowth: %v, want ok %v", err, tc.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "gaps.yaml: its aliases expand it") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}
