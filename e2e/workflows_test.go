package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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

// TestWorkflowStepEnvOpensNoGate runs the reusable workflow's "Add the
// step environment" script with bash, as the runner would: the secret's
// NAME=VALUE lines reach $GITHUB_ENV, except those that would open a gate
// (a name with the gate prefix, or the value yes) or set spine's or the
// runner's own variables, each named in a warning.
func TestWorkflowStepEnvOpensNoGate(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../.github/workflows/spine.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string            `yaml:"name"`
				Env  map[string]string `yaml:"env"`
				Run  string            `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	script := ""
	for _, s := range wf.Jobs["run"].Steps {
		if s.Name == "Add the step environment" {
			script = s.Run
		}
	}
	if script == "" {
		t.Fatal("no step \"Add the step environment\" in job run")
	}
	envFile := filepath.Join(t.TempDir(), "github_env")
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Env = append(os.Environ(), "GITHUB_ENV="+envFile, "PREFIX=ALLOW_",
		"STEP_ENV=TOKEN=abc\nALLOW_MD1400_PROVISION=yes\nWIPE_OK= Yes \nCR_OK=\ryes\r\nSPINE_HOST=other\nGITHUB_TOKEN=x\nDB_URL=postgres://a?b=c\nnot a line\nCOUNT=3")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the step's script: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(envFile)
	if want := "TOKEN=abc\nDB_URL=postgres://a?b=c\nCOUNT=3\n"; string(got) != want {
		t.Errorf("$GITHUB_ENV:\n%s\nwant:\n%s", got, want)
	}
	// Every line spine would take for yes (pipeline's envYes: ASCII yes,
	// space, tab, CR and LF around it) is left out.
	for _, name := range []string{"ALLOW_MD1400_PROVISION", "WIPE_OK", "CR_OK", "SPINE_HOST", "GITHUB_TOKEN"} {
		if !strings.Contains(string(out), "::warning::step-env sets "+name+",") {
			t.Errorf("no warning for %s:\n%s", name, out)
		}
	}
}
