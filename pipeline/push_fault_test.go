package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// remoteRepo is a bare repository with r as a clone pushing to it, and a
// second clone standing for another operator.
func remoteRepo(t *testing.T, r *testRepo) (other *testRepo) {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v\n%s", err, out)
	}
	r.git("remote", "add", "origin", bare)
	r.git("push", "-q", "-u", "origin", "main")
	other = &testRepo{t: t, root: filepath.Join(t.TempDir(), "other")}
	cmd := exec.Command("git", "clone", "-q", bare, other.root)
	cmd.Env = gitEnv("Other", "other@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	return other
}

// TestFaultMidPush kills spine in the middle of a push that found the
// remote moved on: the local branch is already at the remote's head and
// spine's commits are not replayed yet. The next run must lose no receipt,
// run nothing twice, and push everything.
func TestFaultMidPush(t *testing.T) {
	// The run makes two commits (one per stage): the push dies after moving
	// the branch (@1), after replaying the first (@2) or both (@3).
	for nth := 1; nth <= 3; nth++ {
		t.Run(fmt.Sprintf("%s@%d", FaultMidPush, nth), func(t *testing.T) {
			t.Parallel()
			midPushTrial(t, nth)
		})
	}
}

func midPushTrial(t *testing.T, nth int) {
	if !pushFaultTrial(t, fmt.Sprintf("%s@%d", FaultMidPush, nth)) {
		t.Fatalf("spine was not killed at %s@%d", FaultMidPush, nth)
	}
}

// TestFaultWhileAPushHoldsALock kills spine at every moment a lock file is
// in place (index.lock, a reference's .lock) in a run --push whose push
// finds the remote moved on: in the run's own commits, and in the push's
// switch of the branch and its replayed commits. The next runs must clear
// the lock, undo or finish the replay (what the replay wrote and did not
// commit included), lose no receipt, run nothing twice and push
// everything. Before the push's locks were journaled, a kill there left a
// lock every later commit stopped on, or files recovery refused as an
// operator's edit.
func TestFaultWhileAPushHoldsALock(t *testing.T) {
	if testing.Short() {
		t.Skip("many runs")
	}
	for _, point := range []string{FaultIndexLocked, FaultRefLocked} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			for nth := 1; nth <= 16; nth++ {
				killed := false
				t.Run(fmt.Sprint(nth), func(t *testing.T) {
					killed = pushFaultTrial(t, fmt.Sprintf("%s@%d", point, nth))
				})
				if !killed {
					if nth < 4 {
						t.Errorf("only %d kill point(s) at %s: the push's locks are not reached", nth-1, point)
					}
					return
				}
			}
			t.Errorf("more than 16 kill points at %s", point)
		})
	}
}

// pushFaultTrial runs a loop with run --push under SPINE_FAULT=spec while
// another clone pushes, and checks that the runs after the kill lose
// nothing; it reports whether spine was killed (false: spec is never
// reached, and nothing is checked).
func pushFaultTrial(t *testing.T, spec string) bool {
	r := newRepo(t)
	fl := newFaultLoop(t)
	r.commit("loop", map[string]string{"loops/f.md": fl.doc})
	other := remoteRepo(t, r)
	// Pushed by the loop's first step: while spine runs (run --push
	// first follows the remote).
	other.commitAs("Other", "other@example.com", "unrelated work", map[string]string{"notes/other.md": "someone else's work\n"})

	key, keys := signingKey(t)
	env := []string{"SPINE_SIGNING_KEY=" + key}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, code := r.spine(ctx, append(env, "SPINE_FAULT="+spec, "SPINE_TEST_MEANWHILE="+other.root), "run", "--push")
	if code != -1 {
		if code != 0 {
			t.Fatalf("run --push without a kill at %s: exit %d\n%s", spec, code, out)
		}
		return false
	}
	for i := 1; i <= 2; i++ {
		if out, code := r.spine(ctx, env, "run", "--push"); code != 0 {
			t.Fatalf("run --push %d after the crash: exit %d\n%s", i, code, out)
		}
	}
	for _, s := range faultSteps {
		if n := countLines(t, fl.counters[s.name]); n != 1 {
			t.Errorf("step %s executed %d times, want 1", s.name, n)
		}
		if got := r.stepReceipts(s.name); !cmp.Equal(got, []string{"pass"}) {
			t.Errorf("step %s receipts %v, want [pass]", s.name, got)
		}
	}
	r.assertConsistent(keys)
	// The remote has everything: the other operator's work and every
	// receipt.
	remote := strings.TrimSpace(r.git("rev-parse", "origin/main"))
	if head := strings.TrimSpace(r.git("rev-parse", "HEAD")); head != remote {
		t.Errorf("HEAD %s is not pushed (origin/main %s)", head, remote)
	}
	files := r.git("ls-tree", "-r", "--name-only", "origin/main")
	if !strings.Contains(files, "notes/other.md") {
		t.Error("the other operator's commit was lost")
	}
	if n := strings.Count(files, "/receipt.json"); n != len(faultSteps) {
		t.Errorf("origin/main has %d receipts, want %d:\n%s", n, len(faultSteps), files)
	}
	if n := strings.Count(files, "/receipt.dsse.json"); n != len(faultSteps) {
		t.Errorf("origin/main has %d signed receipts, want %d", n, len(faultSteps))
	}
	return true
}

// TestInterruptedSwitchIsUndone simulates a push that died inside the
// working-tree switch, before the branch moved: receipts of spine's
// unpushed commits are gone from the working tree and the remote's files
// are half written. The next run must put the tree back and run nothing
// twice.
func TestInterruptedSwitchIsUndone(t *testing.T) {
	r := newRepo(t)
	fl := newFaultLoop(t)
	r.commit("loop", map[string]string{"loops/f.md": fl.doc})
	other := remoteRepo(t, r)
	other.commitAs("Other", "other@example.com", "unrelated work", map[string]string{"notes/other.md": "someone else's work\n"})
	other.gitAs("Other", "other@example.com", "push", "-q", "origin", "main")
	ctx := context.Background()
	if out, code := r.spine(ctx, nil, "run"); code != 0 {
		t.Fatalf("run: %d\n%s", code, out)
	}
	r.git("fetch", "-q", "origin")
	// What replay does before the switch, then half of the switch.
	r.git("update-ref", "refs/spine/replay-backup", "HEAD")
	r.write("notes/other.md", "someone else's work\n")
	if err := os.RemoveAll(filepath.Join(r.root, "receipts")); err != nil {
		t.Fatal(err)
	}
	if out, code := r.spine(ctx, nil, "run"); code != 0 {
		t.Fatalf("run after the interrupted switch: %d\n%s", code, out)
	}
	for _, s := range faultSteps {
		if n := countLines(t, fl.counters[s.name]); n != 1 {
			t.Errorf("step %s executed %d times, want 1", s.name, n)
		}
	}
	r.assertConsistent("")
	if out := r.git("for-each-ref", "refs/spine/"); strings.TrimSpace(out) != "" {
		t.Errorf("backup ref left: %s", out)
	}
}

// TestInterruptedReplayWriteIsCleared: a push killed while it wrote a
// replayed file left that file's temporary beside it; the next run's
// recovery removes it with the replay's list, so the working tree is
// clean again, and leaves no list behind.
func TestInterruptedReplayWriteIsCleared(t *testing.T) {
	r := newRepo(t)
	fl := newFaultLoop(t)
	r.commit("loop", map[string]string{"loops/f.md": fl.doc})
	ctx := context.Background()
	if out, code := r.spine(ctx, nil, "run"); code != 0 {
		t.Fatalf("run: %d\n%s", code, out)
	}
	// What a replay leaves when killed inside a write: its backup, its
	// list, and the write's temporary file.
	r.git("update-ref", "refs/spine/replay-backup", "HEAD")
	list := filepath.Join(r.root, ".git", "spine", replayWritesFile)
	if err := os.WriteFile(list, []byte(`{"loops/f.md":"`+strings.Repeat("0", 40)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(r.root, "loops", ".f.md.tmp-123456")
	if err := os.WriteFile(tmp, []byte("half a document"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := r.spine(ctx, nil, "run"); code != 0 {
		t.Fatalf("run after the interrupted replay: %d\n%s", code, out)
	}
	r.assertConsistent("")
	for _, p := range []string{tmp, list} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
	if out := r.git("for-each-ref", "refs/spine/"); strings.TrimSpace(out) != "" {
		t.Errorf("backup ref left: %s", out)
	}
}

// TestLeftoverDoesNotStopTheFollow: a clone whose stage commit failed
// (index.lock held) keeps spine's own edit of a loop document; the remote
// meanwhile has an operator's change of that document and another host's
// pass of a destructive step. The next run --push must follow the remote
// (spine's own edit is regenerated from the receipts), not run the
// destructive step again on the clone as it was.
func TestLeftoverDoesNotStopTheFollow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, wiped := remoteRanWipe(t, ctx, func(r *testRepo) {
		lock := filepath.Join(r.root, ".git", "index.lock")
		if err := os.WriteFile(lock, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, code := r.spine(ctx, nil, "run", "--loop", "LOOP-L1"); code == 0 {
			t.Fatal("the run with index.lock held committed")
		}
		os.Remove(lock)
	})
	if out, code := r.spine(ctx, nil, "run", "--push"); code != 0 {
		t.Fatalf("run --push after the failed commit: exit %d\n%s", code, out)
	}
	if n := countLines(t, wiped); n != 1 {
		t.Errorf("wipe ran %d times, want 1: the clone ran on what it had", n)
	}
	r.clean()
	if !strings.Contains(r.read("loops/l1.md"), `owner: "@y"`) {
		t.Error("the operator's change was lost")
	}
	files := r.git("ls-tree", "-r", "--name-only", "origin/main")
	if n := strings.Count(files, "/receipt.json"); n != 2 {
		t.Errorf("origin/main has %d receipts, want 2 (s1, wipe):\n%s", n, files)
	}
}

// TestUnfollowedRemoteRunsHoldTheLoop: a clone that fetched but could not
// follow the remote (an operator's uncommitted edit of a document the
// remote changed too) runs what it can, but not a loop the remote has runs
// of that the clone lacks: another host's pass of a destructive step is
// not run again here.
func TestUnfollowedRemoteRunsHoldTheLoop(t *testing.T) {
	for _, cmd := range [][]string{{"run", "--push"}, {"watch", "--once", "--remote", "origin"}} {
		t.Run(cmd[0], func(t *testing.T) { unfollowedTrial(t, cmd) })
	}
}

// remoteRanWipe makes a clone r of LOOP-L1 (owner "@x") and LOOP-L2, whose
// destructive step wipe counts its runs in the file wiped, with a remote;
// after local (when not nil) has been done in r, another clone of the
// remote changes LOOP-L1's owner to "@y", runs wipe and pushes both.
func remoteRanWipe(t *testing.T, ctx context.Context, local func(r *testRepo)) (r *testRepo, wiped string) {
	t.Helper()
	r = newRepo(t)
	wiped = counter(t)
	r.commit("loops", map[string]string{
		"loops/l1.md": strings.Replace(loopDoc("LOOP-L1", "## Stage 1: A\n\n```sh {name=s1}\ntrue\n```\n"), "status: active\n", "status: active\nowner: \"@x\"\n", 1),
		"loops/l2.md": loopDoc("LOOP-L2", fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\necho wiped >> %s\n```\n", wiped)),
	})
	other := remoteRepo(t, r)
	if local != nil {
		local(r)
	}
	other.commitAs("Other", "other@example.com", "owner", map[string]string{"loops/l1.md": strings.Replace(other.read("loops/l1.md"), `owner: "@x"`, `owner: "@y"`, 1)})
	if out, code := other.spine(ctx, nil, "run", "--push", "--loop", "LOOP-L2"); code != 0 {
		t.Fatalf("the other clone's run: exit %d\n%s", code, out)
	}
	if n := countLines(t, wiped); n != 1 {
		t.Fatalf("wipe ran %d times on the other clone", n)
	}
	return r, wiped
}

func unfollowedTrial(t *testing.T, cmd []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, wiped := remoteRanWipe(t, ctx, nil)
	// An operator's half-edit of the document the remote changed.
	r.write("loops/l1.md", strings.Replace(r.read("loops/l1.md"), `owner: "@x"`, `owner: "@z"`, 1))
	out, code := r.spine(ctx, nil, cmd...)
	if n := countLines(t, wiped); n != 1 {
		t.Errorf("wipe ran %d times, want 1: the clone ran a loop the remote had runs of\n%s", n, out)
	}
	if cmd[0] == "run" && (code != 3 || !strings.Contains(out, "could not follow origin") || !strings.Contains(out, "but for LOOP-L2, which origin has runs of that this clone has not followed: they wait")) {
		t.Errorf("run --push: exit %d, want 3 naming the loop that waits\n%s", code, out)
	}
	// Once the edit is gone, the clone follows, and nothing runs again.
	r.git("checkout", "--", "loops/l1.md")
	if out, code := r.spine(ctx, nil, "run", "--push"); code != 0 {
		t.Fatalf("run --push after the edit went: exit %d\n%s", code, out)
	}
	if n := countLines(t, wiped); n != 1 {
		t.Errorf("wipe ran %d times, want 1", n)
	}
	r.clean()
}

// TestUnreachableRemoteHoldsHostlessDestructiveSteps: a clone that cannot
// fetch at all (the remote unreachable) knows nothing of what other hosts
// ran since: its destructive steps that no host= binds to a host wait
// (another host may have run them and pushed), while the rest runs. Once
// the remote is back, the clone follows it and nothing runs twice.
func TestUnreachableRemoteHoldsHostlessDestructiveSteps(t *testing.T) {
	for _, cmd := range [][]string{{"run", "--push"}, {"watch", "--once", "--remote", "origin"}} {
		t.Run(cmd[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r, wiped := remoteRanWipe(t, ctx, nil)
			url := strings.TrimSpace(r.git("remote", "get-url", "origin"))
			r.git("remote", "set-url", "origin", filepath.Join(t.TempDir(), "gone"))
			out, _ := r.spine(ctx, nil, cmd...)
			if n := countLines(t, wiped); n != 1 {
				t.Fatalf("wipe ran %d times, want 1: the clone ran a destructive step another host may have run\n%s", n, out)
			}
			if got := r.stepReceipts("s1"); !cmp.Equal(got, []string{"pass"}) {
				t.Errorf("s1 receipts %v: what is not destructive still runs\n%s", got, out)
			}
			if it := r.plan(nil, "LOOP-L2", "wipe"); it.State != StatePending {
				t.Errorf("wipe after the run: %s (%s)", it.State, it.Reason)
			}
			if cmd[0] == "run" && !strings.Contains(out, "destructive steps bound to no host (host=) wait") {
				t.Errorf("run --push does not say why wipe waits:\n%s", out)
			}
			r.git("remote", "set-url", "origin", url)
			if out, code := r.spine(ctx, nil, "run", "--push"); code != 0 {
				t.Fatalf("run --push with the remote back: exit %d\n%s", code, out)
			}
			if n := countLines(t, wiped); n != 1 {
				t.Errorf("wipe ran %d times, want 1", n)
			}
			r.clean()
		})
	}
}

// TestFirstPushToAnEmptyRemoteHoldsNothing: a remote nobody pushed to yet
// is no unreachable one: nothing can have run elsewhere, and a destructive
// step runs on the first run --push.
func TestFirstPushToAnEmptyRemoteHoldsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newRepo(t)
	wiped := counter(t)
	r.commit("loops", map[string]string{"loops/l.md": loopDoc("LOOP-L", fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\necho wiped >> %s\n```\n", wiped))})
	bare := filepath.Join(t.TempDir(), "empty.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v %s", err, out)
	}
	r.git("remote", "add", "origin", bare)
	out, code := r.spine(ctx, nil, "run", "--push")
	if code != 0 || countLines(t, wiped) != 1 || strings.Contains(out, "could not follow") {
		t.Fatalf("run --push to an empty remote: exit %d, wipe ran %d time(s)\n%s", code, countLines(t, wiped), out)
	}
	r.clean()
}
