package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// TestSudoRunGivesTheRepositoryBack runs spine as root through sudo (as
// sudo leaves it: SUDO_UID and SUDO_GID) in a repository of another
// user, whose destructive steps need root. The steps run as root; what
// spine and the steps made in the repository (objects, refs, index,
// state folder, lock, receipts, artifacts, the rewritten loop document)
// is the user's afterwards, so that the user's own git and spine can go
// on: before, git said "insufficient permission for adding an object to
// repository database" and spine "permission denied" on its lock. A run
// through sudo killed before it ends leaves root's files, which the user's
// next command names, and the next run through sudo gives back.
func TestSudoRunGivesTheRepositoryBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run as root for another user")
	}
	const uid, gid = 4242, 4243
	bare := newBare(t, map[string]string{
		"loops/LOOP-SUDO.md": loopDoc("LOOP-SUDO", "### Stage 1: Wipe\n\n"+
			step("name=wipe destructive=true artifact=id.txt", "id -u")+"\n"+
			step("name=scratch", "mkdir -p scratch && id -u > scratch/by-step")+"\n"),
	})
	clone := cloneOf(t, bare)
	// The user's home and the way to the clone and to a copy of spine.
	home := t.TempDir()
	bin := filepath.Join(home, "spine")
	writeFile(t, bin, readFile(t, spineBin()))
	for _, p := range []string{home, bin, filepath.Dir(clone), filepath.Dir(filepath.Dir(clone))} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	chownTree(t, clone, uid, uid)
	chownTree(t, home, uid, uid)

	sudo := []string{"SUDO_UID=" + strconv.Itoa(uid), "SUDO_GID=" + strconv.Itoa(gid), "SUDO_USER=op"}
	// The user's commands, as the user.
	asUser := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = clone
		cmd.Env = append(gitEnv("Operator", "op@example.com"), "HOME="+home)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// A run through sudo killed before it ends (after the destructive
	// step's result is journaled) leaves root's files; the user's next
	// command says so, and how to mend it.
	if out, code := spine(t, clone, append(sudo, "SPINE_FAULT=after-result"), "run"); code == 0 {
		t.Fatalf("the run was not killed at after-result:\n%s", out)
	}
	out, _ := asUser(bin, "plan")
	if !strings.Contains(out, "spine: warning: root owns ") || !strings.Contains(out, "sudo chown -R "+strconv.Itoa(uid)+":"+strconv.Itoa(uid)+" "+clone) {
		t.Fatalf("the user's plan after a killed run through sudo does not name root's files:\n%s", out)
	}

	out, code := spine(t, clone, sudo, "run")
	if code != 0 {
		t.Fatalf("spine run through sudo: exit %d\n%s", code, out)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(clone, "scratch", "by-step"))); got != "0" {
		t.Fatalf("the step ran as uid %s, want root", got)
	}
	var rootOwned []string
	made := 0
	err := filepath.WalkDir(clone, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid == 0 || st.Gid == 0 {
			rootOwned = append(rootOwned, p)
		}
		if st.Gid == gid {
			made++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rootOwned) > 0 {
		t.Fatalf("%d paths are still root's after spine ran through sudo, e.g. %v", len(rootOwned), rootOwned[:min(5, len(rootOwned))])
	}
	if made < 10 {
		t.Fatalf("only %d paths have SUDO_GID's group: spine's files (receipts, objects, state) should", made)
	}

	// The user goes on in the repository: git commits, spine plans,
	// verifies and runs.
	as := func(name string, args ...string) string {
		t.Helper()
		out, err := asUser(name, args...)
		if err != nil {
			t.Fatalf("%s %v as uid %d: %v\n%s", name, args, uid, err, out)
		}
		if strings.Contains(out, "spine: warning: root owns ") {
			t.Fatalf("%s %v as uid %d after the run through sudo:\n%s", name, args, uid, out)
		}
		return out
	}
	as("git", "commit", "-q", "--allow-empty", "-m", "the user's own commit")
	as(bin, "verify")
	if out := as(bin, "plan"); strings.Contains(out, "wipe") {
		t.Fatalf("the destructive step is planned again:\n%s", out)
	}
	as(bin, "run")
}

// chownTree gives every path under dir to uid:gid.
func chownTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}
