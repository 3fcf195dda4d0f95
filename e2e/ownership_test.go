package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusesARepositoryOfSomebodyElse: spine, which runs what a
// repository's loop documents say, refuses a repository that another user
// owns, as git does (CVE-2022-24765): found by walking up from the working
// directory (a /tmp/.git somebody planted) or named with --repo. Nothing
// runs, and the error says how to trust it; once safe.directory lists it,
// spine runs it.
func TestRefusesARepositoryOfSomebodyElse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give a repository to another user")
	}
	made := filepath.Join(t.TempDir(), "ran")
	bare := newBare(t, map[string]string{
		"loops/LOOP-PLANTED.md": loopDoc("LOOP-PLANTED", "### Stage 1: Run\n\n"+step("name=planted", "touch "+made)+"\n"),
	})
	clone := cloneOf(t, bare)
	sub := filepath.Join(clone, "loops")
	if err := os.Chown(clone, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		args []string
	}{
		{sub, []string{"run"}},
		{t.TempDir(), []string{"run", "--repo", clone}},
		{sub, []string{"plan"}},
	} {
		out, code := spine(t, tc.dir, []string{"SUDO_UID="}, tc.args...)
		if code != 2 || !strings.Contains(out, "detected dubious ownership in repository at '"+clone+"'") ||
			!strings.Contains(out, "git config --global --add safe.directory "+clone) {
			t.Errorf("spine %v: exit %d, want 2 naming the repository and how to trust it\n%s", tc.args, code, out)
		}
	}
	if _, err := os.Stat(made); err == nil {
		t.Fatal("the step of a repository spine refused ran")
	}
	global := filepath.Join(t.TempDir(), "gitconfig")
	writeFile(t, global, "[safe]\n\tdirectory = "+clone+"\n")
	if out, code := spine(t, sub, []string{"SUDO_UID=", "GIT_CONFIG_GLOBAL=" + global}, "run"); code != 0 {
		t.Fatalf("run of a repository safe.directory lists: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(made); err != nil {
		t.Fatalf("the step did not run once the repository was trusted: %v", err)
	}
}
