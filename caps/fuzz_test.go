package caps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, errors and
// findings must name the file, and every stored capability must be found
// by Lookup under its name.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "capabilities:\n", "capabilities: []\n", "- {name: a}\n", "a: {safety: x}\n",
		"capabilities:\n  - name: a\n    timeout: 5s\n  - name: a\n",
		"x: &x {safety: destructive}\ncapabilities: {a: *x, b: *x}\n",
	} {
		f.Add([]byte(s))
	}
	f.Add(registryOf(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, problems, err := Parse("capabilities.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "capabilities.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, p := range problems {
			if p.Path != "capabilities.yaml" || p.Line < 1 {
				t.Fatalf("finding without a position: %+v", p)
			}
		}
		for _, c := range reg.Caps {
			if _, ok := reg.Lookup(c.Name); !ok {
				t.Fatalf("Lookup(%q) failed for a stored capability", c.Name)
			}
			if c.Timeout < 0 {
				t.Fatalf("negative timeout: %+v", c)
			}
		}
	})
}
