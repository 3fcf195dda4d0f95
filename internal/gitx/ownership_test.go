package gitx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckOwnership: a repository whose working tree or git folder is
// somebody else's is refused, as git refuses it (checked against git),
// unless the user's git
// configuration lists it in safe.directory, or spine runs as root through
// sudo for its owner.
func TestCheckOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give folders to another user")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	const other = 4242
	tmp := t.TempDir()
	newRepo := func(name string, bare bool) string {
		dir := filepath.Join(tmp, name)
		args := []string{"init", "-q", dir}
		if bare {
			args = []string{"init", "-q", "--bare", dir}
		}
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git init: %v %s", err, out)
		}
		return dir
	}
	mine := newRepo("mine", false)
	theirs := newRepo("theirs", false)
	theirGitDir := newRepo("their-git-dir", false)
	theirBare := newRepo("their.git", true)
	for _, p := range []string{theirs, filepath.Join(theirGitDir, ".git"), theirBare} {
		if err := os.Chown(p, other, other); err != nil {
			t.Fatal(err)
		}
	}
	global := filepath.Join(tmp, "gitconfig")
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("SUDO_UID", "")
	for _, tc := range []struct {
		name, dir, safe, sudo string
		ok                    bool
	}{
		{"mine", mine, "", "", true},
		{"theirs", theirs, "", "", false},
		{"their git folder", theirGitDir, "", "", false},
		{"their bare repository", theirBare, "", "", false},
		{"listed", theirs, "[safe]\n\tdirectory = " + theirs + "\n", "", true},
		{"another listed", theirs, "[safe]\n\tdirectory = " + mine + "\n", "", false},
		{"any", theirBare, "[safe]\n\tdirectory = *\n", "", true},
		{"under a listed folder", theirs, "[safe]\n\tdirectory = " + tmp + "/*\n", "", true},
		{"forgotten by an empty entry", theirs, "[safe]\n\tdirectory = *\n\tdirectory =\n", "", false},
		{"root through sudo for its owner", theirs, "", "4242", true},
		{"root through sudo for another", theirs, "", "4343", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(global, []byte(tc.safe), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("SUDO_UID", tc.sudo)
			// git itself agrees (its safe.directory took "/*" only in
			// 2.46).
			if tc.name != "under a listed folder" {
				out, gerr := exec.Command("git", "-C", tc.dir, "rev-parse", "--git-dir").CombinedOutput()
				if (gerr == nil) != tc.ok {
					t.Errorf("git rev-parse: %v %s; want ok=%v", gerr, out, tc.ok)
				}
			}
			err := CheckOwnership(tc.dir)
			switch {
			case tc.ok && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.ok && !errors.Is(err, ErrDubiousOwnership):
				t.Errorf("error %v, want ErrDubiousOwnership", err)
			case !tc.ok && !strings.Contains(err.Error(), "git config --global --add safe.directory "+tc.dir):
				t.Errorf("error %q does not say how to trust it", err)
			}
		})
	}
}
