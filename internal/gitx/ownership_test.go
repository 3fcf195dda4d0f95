package gitx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// TestSudoOwner: spine gives a repository back only to the user who ran
// sudo and owns it, with SUDO_GID's group (else the repository's), and
// names a linked worktree's git folders that lie elsewhere.
func TestSudoOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give folders to another user")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	tmp := t.TempDir()
	mine := filepath.Join(tmp, "mine")
	theirs := filepath.Join(tmp, "theirs")
	linked := filepath.Join(tmp, "linked")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", mine},
		{"init", "-q", "-b", "main", theirs},
		{"-C", mine, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m", "c"},
		{"-C", mine, "worktree", "add", "-q", linked},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	for _, d := range []string{mine, linked} {
		if err := os.Chown(d, 4242, 77); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, dir, uid, gid string
		ok                  bool
		wantGid             int
		wantDirs            []string
	}{
		{"no sudo", mine, "", "", false, 0, nil},
		{"sudo by root", mine, "0", "0", false, 0, nil},
		{"not a number", mine, "x", "", false, 0, nil},
		{"somebody else's repository", theirs, "4242", "4243", false, 0, nil},
		{"the user's", mine, "4242", "4243", true, 4243, []string{mine}},
		{"no SUDO_GID: the repository's group", mine, "4242", "", true, 77, []string{mine}},
		{"linked worktree", linked, "4242", "4243", true, 4243, []string{linked, filepath.Join(mine, ".git", "worktrees", "linked"), filepath.Join(mine, ".git")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SUDO_UID", tc.uid)
			t.Setenv("SUDO_GID", tc.gid)
			uid, gid, dirs, ok := SudoOwner(tc.dir)
			if ok != tc.ok {
				t.Fatalf("SudoOwner(%s) ok = %v, want %v", tc.dir, ok, tc.ok)
			}
			if !ok {
				return
			}
			if uid != 4242 || gid != tc.wantGid {
				t.Errorf("SudoOwner = %d:%d, want 4242:%d", uid, gid, tc.wantGid)
			}
			if d := cmp.Diff(tc.wantDirs, dirs); d != "" {
				t.Errorf("folders (-want +got):\n%s", d)
			}
		})
	}
}
