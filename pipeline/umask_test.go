package pipeline

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
)

// TestStepsRunUnderStepUmask: with Options.StepUmask set (spine's own
// umask changed for a shared repository), a step's process and a verify
// pack's checks create files under the umask given, not spine's; the
// step's code keeps its line numbers (as the shell's messages give them); the receipt's command is the step's
// code as written; and what spine itself writes keeps spine's umask.
func TestStepsRunUnderStepUmask(t *testing.T) {
	own, ok := fsx.Umask()
	if !ok {
		t.Skip("the umask cannot be read here")
	}
	step := fs.FileMode(0o077)
	if own == step {
		step = 0o027
	}
	made := t.TempDir()
	r := newRepo(t)
	code := fmt.Sprintf("touch %s/by-step\nnosuch-spine-command || true\n", made)
	r.commit("loop", map[string]string{
		"verify/files.yaml": fmt.Sprintf("pack: files\nchecks:\n  - id: F1\n    run: touch %s/by-check\n", made),
		"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Make\n\n```sh {name=make}\n"+code+"```\n\n"+
			"```verify {name=check pack=files}\n```\n"),
	})
	out := r.run(nil, func(o *Options) { o.StepUmask = &step })
	if out.Failed {
		t.Fatalf("the run failed: %+v", out)
	}
	for _, name := range []string{"by-step", "by-check"} {
		fi, err := os.Stat(filepath.Join(made, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := 0o666 &^ step; fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (the step umask %03o)", name, fi.Mode().Perm(), want, uint32(step))
		}
	}
	var got int
	for _, rc := range r.receipts() {
		if rc.Step != "make" {
			continue
		}
		got++
		if rc.Command != code {
			t.Errorf("receipt command %q, want the step's code %q", rc.Command, code)
		}
		rel, err := (&artifacts.Store{Root: r.root}).RelDir(rc.RunKey)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(r.root, filepath.FromSlash(rel))
		log, err := os.ReadFile(filepath.Join(dir, "output.log"))
		if err != nil {
			t.Fatal(err)
		}
		// The shell names the line of a command it cannot find.
		if !strings.Contains(string(log), "2: nosuch-spine-command") {
			t.Errorf("output.log %q: the shell does not call the step's second line 2", log)
		}
		fi, err := os.Stat(filepath.Join(dir, "receipt.json"))
		if err != nil {
			t.Fatal(err)
		}
		if want := 0o666 &^ own; fi.Mode().Perm() != want {
			t.Errorf("receipt.json: mode %v, want %v (spine's own umask)", fi.Mode().Perm(), want)
		}
	}
	if got != 1 {
		t.Fatalf("%d receipts of step make", got)
	}
}
