package packs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, errors and
// findings must name the file, and a returned pack must be usable (a name,
// and an id and a position for every check).
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/verify/*.y*ml"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	for _, s := range []string{
		"", "pack: p\n", "checks: []\n", "- a\n",
		"pack: p\nchecks:\n  - {id: A, run: x, blocking: no, timeout: -1s}\n",
		"a: &a {id: X, run: y}\npack: p\nchecks: [*a, *a]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, problems, err := Parse("verify/p.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "verify/p.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if p == nil || p.Name == "" {
			t.Fatalf("Parse returned pack %+v without error", p)
		}
		for _, pr := range problems {
			if pr.Path != "verify/p.yaml" || pr.Line < 1 {
				t.Fatalf("finding without a position: %+v", pr)
			}
		}
		for _, c := range p.Checks {
			if c.ID == "" || c.Line < 1 || c.Timeout < 0 {
				t.Fatalf("bad check %+v", c)
			}
		}
	})
}
