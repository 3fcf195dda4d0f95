package gitx

import (
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// The environment's configuration (git -c, GIT_CONFIG_COUNT) counts
	// too, after the files.
	count := func(vs ...string) map[string]string {
		env := map[string]string{"GIT_CONFIG_COUNT": strconv.Itoa(len(vs))}
		for i, v := range vs {
			env["GIT_CONFIG_KEY_"+strconv.Itoa(i)], env["GIT_CONFIG_VALUE_"+strconv.Itoa(i)] = "safe.directory", v
		}
		return env
	}
	params := func(s string) map[string]string { return map[string]string{"GIT_CONFIG_PARAMETERS": s} }
	both := func(a, b map[string]string) map[string]string {
		m := maps.Clone(a)
		maps.Copy(m, b)
		return m
	}
	for _, tc := range []struct {
		name, dir, safe, sudo string
		env                   map[string]string
		ok                    bool
	}{
		{"mine", mine, "", "", nil, true},
		{"theirs", theirs, "", "", nil, false},
		{"their git folder", theirGitDir, "", "", nil, false},
		{"their bare repository", theirBare, "", "", nil, false},
		{"listed", theirs, "[safe]\n\tdirectory = " + theirs + "\n", "", nil, true},
		{"another listed", theirs, "[safe]\n\tdirectory = " + mine + "\n", "", nil, false},
		{"any", theirBare, "[safe]\n\tdirectory = *\n", "", nil, true},
		{"under a listed folder", theirs, "[safe]\n\tdirectory = " + tmp + "/*\n", "", nil, true},
		{"forgotten by an empty entry", theirs, "[safe]\n\tdirectory = *\n\tdirectory =\n", "", nil, false},
		{"root through sudo for its owner", theirs, "", "4242", nil, true},
		{"root through sudo for another", theirs, "", "4343", nil, false},
		{"listed by git -c", theirs, "", "", params("'safe.directory'='" + theirs + "'"), true},
		{"listed by git -c, old style", theirs, "", "", params("'safe.directory=" + theirs + "'"), true},
		{"listed by GIT_CONFIG_COUNT", theirs, "", "", count(theirs), true},
		{"another listed by git -c", theirs, "", "", params("'safe.directory'='" + mine + "'"), false},
		{"file lists it, git -c forgets", theirs, "[safe]\n\tdirectory = *\n", "", params("'safe.directory'=''"), false},
		{"GIT_CONFIG_COUNT lists it, git -c forgets", theirs, "", "", both(count(theirs), params("'safe.directory'=''")), false},
		{"git -c lists it after GIT_CONFIG_COUNT forgot", theirs, "", "", both(count(""), params("'safe.directory'='"+theirs+"'")), true},
		{"git -c lists it and another", theirs, "", "", params("'core.bare'='false' 'safe.directory'='" + mine + "' 'safe.directory'='" + theirs + "'"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(global, []byte(tc.safe), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("SUDO_UID", tc.sudo)
			for _, k := range []string{"GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0", "GIT_CONFIG_KEY_1", "GIT_CONFIG_VALUE_1"} {
				t.Setenv(k, tc.env[k])
				if _, set := tc.env[k]; !set {
					os.Unsetenv(k)
				}
			}
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
