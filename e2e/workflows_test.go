package e2e

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWorkflowsPassActionlint lints this project's workflows, the reusable
// one users call and the caller example (.ci/run does too; it installs
// actionlint). Skipped when actionlint is not on PATH.
func TestWorkflowsPassActionlint(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("actionlint")
	if err != nil {
		t.Skip("actionlint is not on PATH (go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12)")
	}
	var files []string
	for _, g := range []string{"../.github/workflows/*.yml", "../examples/github/*.yml"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 2 {
		t.Fatalf("workflow files: %v", files)
	}
	out, err := exec.Command(bin, files...).CombinedOutput()
	if err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}
