package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spineUmask runs the binary as spine does, under the umask u.
func spineUmask(t *testing.T, dir string, u string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `umask ` + u + ` && exec "$0" "$@"`, spineBin()}, args...)...)
	cmd.Dir = dir
	cmd.Env = gitEnv("Operator", "op@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spine %v under umask %s: %v\n%s", args, u, err, out)
	}
	return string(out)
}

// pathsUnder returns every path under root (root itself excluded) with its
// mode.
func pathsUnder(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	m := map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFilesFollowTheUmask runs a loop, pushes and builds the site under a
// hardened host's umask (027) and a shared host's (002), and checks the
// mode of every file and folder spine made: what git would give it, the
// process's umask applied (0666 for a file, 0777 for a folder, 0444 for a
// git object), never a mode of spine's own choosing over it. A receipt's
// output and an artifact stay from other users where the umask says so;
// a clone several operators' pushes run in stays writable by their group.
// The loop document spine rewrites keeps the mode it had. The host's
// ledger of destructive runs follows the umask too: every operator of the
// group who runs spine in the clone reads it and appends to it.
func TestFilesFollowTheUmask(t *testing.T) {
	for _, u := range []fs.FileMode{0o027, 0o002} {
		t.Run(fmt.Sprintf("umask-%03o", uint32(u)), func(t *testing.T) {
			bare := newBare(t, map[string]string{
				"loops/LOOP-MODES.md": loopDoc("LOOP-MODES", "### Stage 1: Baseline\n\n"+
					step("name=look destructive=true", "echo looked")+"\n"+
					step("name=report artifact=report.txt", "echo 'disk report'")+"\n"),
			})
			clone := cloneOf(t, bare)
			doc := filepath.Join(clone, "loops", "LOOP-MODES.md")
			if err := os.Chmod(doc, 0o640); err != nil {
				t.Fatal(err)
			}
			before := pathsUnder(t, clone)
			us := fmt.Sprintf("%03o", uint32(u))
			spineUmask(t, clone, us, "run", "--push")
			site := filepath.Join(t.TempDir(), "public")
			spineUmask(t, clone, us, "site", "build", "--out", site)

			checkModes(t, clone, before, u, 0)
			checkModes(t, site, nil, u, 0)
			// The index spine's commits replaced is made as git makes it,
			// not carried over from the clone's.
			if fi, err := os.Lstat(filepath.Join(clone, ".git", "index")); err != nil || fi.Mode() != 0o666&^u {
				t.Errorf(".git/index: mode %v (%v), want %v", fi.Mode(), err, 0o666&^u)
			}
			if fi, err := os.Lstat(doc); err != nil || fi.Mode() != 0o640 {
				t.Errorf("the loop document spine rewrote: mode %v (%v), want the -rw-r----- it had", fi.Mode(), err)
			}
			if arts, _ := filepath.Glob(filepath.Join(clone, "artifacts", "*", "report.txt")); len(arts) != 1 || !strings.Contains(readFile(t, arts[0]), "disk report") {
				t.Errorf("the artifact was not written: %v", arts)
			}
		})
	}
}

// checkModes checks the mode of every path under root that is not in old:
// what git gives it under umask u, 0777 for a folder (with dirBits: the
// set-group-ID bit a shared repository's folders have), 0444 for a git
// object, 0666 for any other file.
func checkModes(t *testing.T, root string, old map[string]fs.FileMode, u, dirBits fs.FileMode) {
	t.Helper()
	n := 0
	for rel, mode := range pathsUnder(t, root) {
		if _, ok := old[rel]; ok {
			continue
		}
		n++
		want := 0o666 &^ u
		switch {
		case mode.IsDir():
			want = fs.ModeDir | dirBits | 0o777&^u
		case mode&fs.ModeType != 0:
			t.Errorf("%s: %v, not a file or folder", rel, mode)
			continue
		case strings.Contains("/"+rel, "/.git/objects/"):
			want = 0o444 &^ u
		}
		if mode != want {
			t.Errorf("%s: mode %v, want %v", rel, mode, want)
		}
	}
	if n == 0 {
		t.Errorf("%s: spine made nothing", root)
	}
}

// sharedStep is a step that records the umask it runs under and makes a
// file outside the repository.
func sharedStep(dir string) string {
	return step("name=mark", "umask > "+filepath.Join(dir, "step-umask")+"\ntouch "+filepath.Join(dir, "by-step"))
}

// checkStepUmask checks that the step of sharedStep ran under umask 022:
// the operator's, not the one spine's own process took.
func checkStepUmask(t *testing.T, dir string) {
	t.Helper()
	if got := strings.TrimSpace(readFile(t, filepath.Join(dir, "step-umask"))); got != "0022" {
		t.Errorf("the step ran under umask %s, want the operator's 0022", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "by-step")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the step's file: %v (%v), want -rw-r--r--", fi.Mode(), err)
	}
}

// TestSharedRepositoryFilesAreTheGroups: in a clone with
// core.sharedRepository=group (git init --shared), an operator whose umask
// is the usual 022 runs spine: every file and folder spine makes in the
// clone (objects, refs, its state folder, receipts) is writable by the
// group, as git makes them there, so the group's next operator can run git
// and spine in it; the step itself runs under the operator's own umask.
func TestSharedRepositoryFilesAreTheGroups(t *testing.T) {
	made := t.TempDir()
	bare := newBare(t, map[string]string{
		"loops/LOOP-SHARED.md": loopDoc("LOOP-SHARED", "### Stage 1: Mark\n\n"+sharedStep(made)+"\n"),
	})
	clone := cloneOf(t, bare)
	git(t, clone, "config", "core.sharedRepository", "group")
	before := pathsUnder(t, clone)
	spineUmask(t, clone, "022", "run", "--push")
	// The group's, as git makes them there: 0775 and 0664 (umask 002).
	checkModes(t, clone, before, 0o002, 0)
	checkStepUmask(t, made)
}

// TestSharedBareRepositoryHook: a bare repository made with git init
// --shared=group, spine's hook installed, and a push by an operator whose
// umask is 022. What the hook and its worker make (the state folder, the
// log, the locks, the clone the runs work in, its objects and receipts)
// is writable by the group, so that the next operator's push runs too
// (before, it failed: "cannot create .../spine/rerun: Permission
// denied"); the clone follows the bare repository's setting; the step
// runs under the pusher's own umask.
func TestSharedBareRepositoryHook(t *testing.T) {
	made := t.TempDir()
	bare := newBare(t, map[string]string{"README.md": "ops\n"})
	bareGit(t, bare, "config", "core.sharedRepository", "group")
	spineUmask(t, filepath.Dir(bare), "022", "hook", "install", "--repo", bare)
	t.Cleanup(func() { waitHookIdle(t, bare) })
	hook := readFile(t, filepath.Join(bare, "hooks", "post-receive"))
	if !strings.Contains(hook, "umask g+rwx\n") || !strings.Contains(hook, `--step-umask "$STEP_UMASK"`) {
		t.Fatalf("the hook of a shared repository does not share what it makes:\n%s", hook)
	}
	client := cloneOf(t, bare)
	commit(t, client, "loop", map[string]string{"loops/LOOP-SHARED.md": loopDoc("LOOP-SHARED", "### Stage 1: Mark\n\n"+sharedStep(made)+"\n")})
	push := exec.Command("sh", "-c", `umask 022 && exec git push -q`)
	push.Dir = client
	push.Env = gitEnv("Operator", "op@example.com")
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	waitSpineCommit(t, bare, 1)
	waitHookIdle(t, bare)
	after := pathsUnder(t, bare)
	for _, p := range []string{"spine", "spine/hook.log", "spine/worker.lock", "spine/worktree/.git/spine/receipts.idx"} {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: not made", p)
		}
	}
	// The hook's state folder and everything under it, whoever made it
	// (spine hook install, the hook script, the worker, go-git's clone);
	// what git made in the bare repository is git's business.
	notSpines := map[string]fs.FileMode{}
	for rel, mode := range after {
		if rel != "spine" && !strings.HasPrefix(rel, "spine/") {
			notSpines[rel] = mode
		}
	}
	// The group's (umask 002), every folder set-group-ID as git makes a
	// shared repository's (the hook's state folder is made so, and what
	// is made in it inherits the bit; the modes spine gives go-git's
	// clone keep it).
	checkModes(t, bare, notSpines, 0o002, fs.ModeSetgid)
	if got := strings.TrimSpace(git(t, filepath.Join(bare, "spine", "worktree"), "config", "core.sharedRepository")); got != "group" {
		t.Errorf("the clone's core.sharedRepository is %q, want the bare repository's group", got)
	}
	checkStepUmask(t, made)
}
