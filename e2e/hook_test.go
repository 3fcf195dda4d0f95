package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// installHook installs spine's post-receive hook in bare.
func installHook(t *testing.T, bare string, extra ...string) string {
	t.Helper()
	out := mustSpine(t, filepath.Dir(bare), 0, append([]string{"hook", "install", "--repo", bare}, extra...)...)
	t.Cleanup(func() { waitHookIdle(t, bare) })
	return out
}

// pushTimed pushes from the clone and returns how long git push took.
func pushTimed(t *testing.T, clone string) time.Duration {
	t.Helper()
	start := time.Now()
	git(t, clone, "push", "-q")
	return time.Since(start)
}

// waitSpineCommit waits until main's head is a spine commit whose tree
// holds at least n receipts, and returns when that was seen.
func waitSpineCommit(t *testing.T, bare string, n int) time.Time {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("spine's commit with %d receipt(s) in the bare repository", n), func() bool {
		return headIsSpines(t, bare) && len(receiptFiles(t, bare)) >= n
	})
	return time.Now()
}

// TestHookRunsSpineOnPushAndReturnsAtOnce: a git push from a client clone
// returns before the (slow) step finishes, and spine's commit with the
// receipts arrives in the bare repository within seconds. It measures both
// times over a few pushes (not in parallel with other tests, so the numbers
// mean something).
func TestHookRunsSpineOnPushAndReturnsAtOnce(t *testing.T) {
	bare := newBare(t, map[string]string{"README.md": "ops\n"})
	out := installHook(t, bare)
	if !strings.Contains(out, "installed") || !strings.Contains(out, spineBin()) {
		t.Fatalf("install output:\n%s", out)
	}
	hook := readFile(t, filepath.Join(bare, "hooks", "post-receive"))
	if !strings.Contains(hook, "SPINE='"+spineBin()+"'\n") {
		t.Fatalf("the hook does not embed the binary's absolute path:\n%s", hook)
	}
	client := cloneOf(t, bare)

	// A step that takes 3 s: the push must not wait for it.
	commit(t, client, "slow loop", map[string]string{"loops/slow.md": loopDoc("LOOP-SLOW", "## Stage 1: Slow\n\n"+step("name=slow", "sleep 3\necho done"))})
	start := time.Now()
	took := pushTimed(t, client)
	if took >= 3*time.Second {
		t.Fatalf("git push took %s: it waited for the run", took)
	}
	arrived := waitSpineCommit(t, bare, 1).Sub(start)
	t.Logf("slow step: push returned in %s, spine's commit arrived after %s", took, arrived)

	// Measure a few quick pushes.
	var pushes, arrivals []time.Duration
	for i := 1; i <= 3; i++ {
		git(t, client, "pull", "-q", "--ff-only")
		id := fmt.Sprintf("LOOP-Q%d", i)
		commit(t, client, "loop "+id, map[string]string{"loops/" + id + ".md": loopDoc(id, "## Stage 1: Quick\n\n"+step("name=quick", "echo quick"))})
		start := time.Now()
		pushes = append(pushes, pushTimed(t, client))
		arrivals = append(arrivals, waitSpineCommit(t, bare, 1+i).Sub(start))
		waitHookIdle(t, bare)
	}
	t.Logf("git push with the hook: %v (median %s); push to spine's commit in the bare repository: %v (median %s)", pushes, median(pushes), arrivals, median(arrivals))
	// A baseline: the same push without spine's hook.
	plain := newBare(t, map[string]string{"README.md": "ops\n"})
	pc := cloneOf(t, plain)
	var base []time.Duration
	for i := 0; i < 3; i++ {
		commit(t, pc, "x", map[string]string{"x": fmt.Sprint(i)})
		base = append(base, pushTimed(t, pc))
	}
	t.Logf("git push without a hook: %v (median %s)", base, median(base))

	assertLinear(t, bare)
	// The clone the hook made and alone works in has a split index: a
	// commit rewrites a small .git/index, not every file's entry. git
	// reads it: the clone is clean.
	wt := filepath.Join(bare, "spine", "worktree")
	if v := strings.TrimSpace(git(t, wt, "config", "core.splitIndex")); v != "true" {
		t.Errorf("the hook's clone has core.splitIndex %q, want true", v)
	}
	if shared, _ := filepath.Glob(filepath.Join(wt, ".git", "sharedindex.*")); len(shared) == 0 {
		t.Error("the hook's clone has no shared index: its index is not split")
	}
	if st := git(t, wt, "status", "--porcelain"); st != "" {
		t.Errorf("git status in the hook's clone:\n%s", st)
	}
	log := readFile(t, filepath.Join(bare, "spine", "hook.log"))
	if !strings.Contains(log, "pushed") {
		t.Fatalf("hook.log does not record the push:\n%s", log)
	}
	// spine's own pushes trigger the hook too; those runs do nothing.
	if !strings.Contains(log, "nothing to do: HEAD is spine's own commit") && !strings.Contains(log, "another worker is running") {
		t.Fatalf("hook.log shows no self-triggered no-op:\n%s", log)
	}
}

// TestHookTwoQuickPushesLoseNothing: a second push lands while the first
// push's run is going; a follow-up run picks it up. One or two runs, every
// step exactly once, history linear.
func TestHookTwoQuickPushesLoseNothing(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"README.md": "ops\n"})
	installHook(t, bare)
	client := cloneOf(t, bare)
	counts := t.TempDir()
	c1, c2 := filepath.Join(counts, "one"), filepath.Join(counts, "two")
	commit(t, client, "first", map[string]string{"loops/one.md": loopDoc("LOOP-ONE", "## Stage 1: One\n\n"+step("name=one", "sleep 1\necho x >> "+c1))})
	git(t, client, "push", "-q")
	commit(t, client, "second", map[string]string{"loops/two.md": loopDoc("LOOP-TWO", "## Stage 1: Two\n\n"+step("name=two", "echo x >> "+c2))})
	git(t, client, "push", "-q")
	waitSpineCommit(t, bare, 2)
	waitHookIdle(t, bare)
	if countLines(t, c1) != 1 || countLines(t, c2) != 1 {
		t.Fatalf("steps ran %d and %d times, want once each", countLines(t, c1), countLines(t, c2))
	}
	runs := map[string]bool{}
	for _, c := range spineCommits(t, bare) {
		runs[c[0]] = true
	}
	if len(runs) < 1 || len(runs) > 2 {
		t.Fatalf("%d runs committed, want 1 or 2", len(runs))
	}
	t.Logf("two quick pushes: %d run(s)", len(runs))
	assertLinear(t, bare)
	subjects := bareGit(t, bare, "log", "--format=%s", "main")
	for _, want := range []string{"first", "second", "spine(LOOP-ONE)", "spine(LOOP-TWO)"} {
		if !strings.Contains(subjects, want) {
			t.Fatalf("history lacks %q:\n%s", want, subjects)
		}
	}
}

// TestHookChainsAndUninstallRestoresTheOperatorsHook: an operator's own
// post-receive hook is kept, called with the same input while spine's is
// installed, and restored byte for byte by uninstall.
func TestHookChainsAndUninstallRestoresTheOperatorsHook(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"README.md": "ops\n"})
	received := filepath.Join(t.TempDir(), "received")
	own := "#!/bin/sh\n# the operator's notifier\ncat >> " + received + "\n"
	hookPath := filepath.Join(bare, "hooks", "post-receive")
	writeFile(t, hookPath, own)
	if err := os.Chmod(hookPath, 0o750); err != nil {
		t.Fatal(err)
	}
	out := installHook(t, bare)
	if !strings.Contains(out, "post-receive.spine-chained") {
		t.Fatalf("install does not mention the chained hook:\n%s", out)
	}
	if readFile(t, filepath.Join(bare, "hooks", "post-receive.spine-chained")) != own {
		t.Fatal("the operator's hook was not kept as it was")
	}
	client := cloneOf(t, bare)
	gated := "## Stage 1: One\n\n" + step("name=one", "echo one") + "\n## Stage 2: Gated\n\n" + step("name=gated gate=ALLOW_G", "echo opened")
	commit(t, client, "loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", gated)})
	pushed := git(t, client, "rev-parse", "HEAD")
	// The pusher's environment does not reach the run: ALLOW_G=yes there
	// opens no gate.
	push := exec.Command("git", "push", "-q")
	push.Dir = client
	push.Env = append(gitEnv("Operator", "op@example.com"), "ALLOW_G=yes")
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	waitSpineCommit(t, bare, 2)
	waitHookIdle(t, bare)
	if subjects := bareGit(t, bare, "log", "--format=%s", "main"); !strings.Contains(subjects, "stage 2 Gated — 1 blocked") {
		t.Fatalf("the gate was opened by the pusher's environment:\n%s", subjects)
	}
	if got := readFile(t, received); !strings.Contains(got, " "+pushed+" refs/heads/main") {
		t.Fatalf("the chained hook did not get the push's input:\n%s", got)
	}
	// A push to another branch reaches the chained hook and starts no run.
	git(t, client, "push", "-q", "origin", "HEAD:refs/heads/feature")
	if got := readFile(t, received); !strings.Contains(got, " refs/heads/feature") {
		t.Fatalf("the chained hook did not get the feature push:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(bare, "spine", "rerun")); !os.IsNotExist(err) {
		t.Fatal("a push to another branch requested a run")
	}

	out = mustSpine(t, filepath.Dir(bare), 0, "hook", "uninstall", "--repo", bare)
	if !strings.Contains(out, "restored") {
		t.Fatalf("uninstall output:\n%s", out)
	}
	if readFile(t, hookPath) != own {
		t.Fatal("uninstall did not restore the operator's hook")
	}
	if fi, err := os.Stat(hookPath); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("restored hook mode: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(bare, "hooks", "post-receive.spine-chained")); !os.IsNotExist(err) {
		t.Fatal("the chained copy is left behind")
	}
	// The operator's hook still works; spine no longer runs.
	git(t, client, "pull", "-q", "--ff-only")
	commit(t, client, "loop b", map[string]string{"loops/b.md": loopDoc("LOOP-B", "## Stage 1: One\n\n"+step("name=one", "echo one"))})
	pushed = git(t, client, "rev-parse", "HEAD")
	git(t, client, "push", "-q")
	if got := readFile(t, received); !strings.Contains(got, " "+pushed+" refs/heads/main") {
		t.Fatalf("the restored hook did not run:\n%s", got)
	}
	time.Sleep(time.Second)
	if bareGit(t, bare, "rev-parse", "main") != pushed {
		t.Fatal("spine ran after uninstall")
	}
	// Uninstalling a hook that is not spine's refuses.
	if out, code := spine(t, filepath.Dir(bare), nil, "hook", "uninstall", "--repo", bare); code != 2 || !strings.Contains(out, "not spine's") {
		t.Fatalf("uninstall of a foreign hook: exit %d\n%s", code, out)
	}
}

// TestHookLogsAnInvalidLoop: a push whose only loop has lint errors leaves
// nothing to run; the hook's log names the loop and its findings (file and
// line), not just "nothing pending".
func TestHookLogsAnInvalidLoop(t *testing.T) {
	bare := newBare(t, map[string]string{"README.md": "ops\n"})
	installHook(t, bare)
	client := cloneOf(t, bare)
	commit(t, client, "bad loop", map[string]string{"loops/bad.md": loopDoc("LOOP-BAD", "## Stage 1: One\n\n```python {name=py}\nprint(1)\n```\n")})
	pushTimed(t, client)
	logPath := filepath.Join(bare, "spine", "hook.log")
	want := []string{"nothing pending", "loop skipped: its document is invalid", "loop=LOOP-BAD", `loops/bad.md:11: error: step language \"python\" is not runnable`}
	waitFor(t, 60*time.Second, "hook.log names the invalid loop", func() bool {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return false
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				return false
			}
		}
		return true
	})
	waitHookIdle(t, bare)
}

// TestHookSaysHowToApproveFromAPush: a gate blocked in a hook's run is
// opened by a committed approval alone (a push cannot set NAME=yes): the
// log's hint says so, not NAME=yes.
func TestHookSaysHowToApproveFromAPush(t *testing.T) {
	bare := newBare(t, map[string]string{"README.md": "ops\n"})
	installHook(t, bare)
	client := cloneOf(t, bare)
	commit(t, client, "gated loop", map[string]string{"loops/g.md": loopDoc("LOOP-G", "## Stage 1: Change\n\n"+step("name=change gate=ALLOW_G", "echo changed"))})
	pushTimed(t, client)
	logPath := filepath.Join(bare, "spine", "hook.log")
	waitFor(t, 60*time.Second, "hook.log names the blocked gate", func() bool {
		b, err := os.ReadFile(logPath)
		return err == nil && strings.Contains(string(b), "approve: add ALLOW_G to approvals: in a commit by an approver, and push")
	})
	// spine's own push starts a cycle with nothing to run: its line says
	// that a step waits, not all clear.
	waitFor(t, 60*time.Second, "hook.log says a step waits", func() bool {
		b, err := os.ReadFile(logPath)
		return err == nil && strings.Contains(string(b), "1 step(s) wait for an operator (spine plan says why)")
	})
	waitHookIdle(t, bare)
	if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "ALLOW_G=yes") {
		t.Errorf("hook.log suggests ALLOW_G=yes, which a push cannot set:\n%s", b)
	}
}

// TestHookUninstallPurgeWaitsForTheRun: uninstall --purge while a hook
// run is executing a step removes the hook but not BARE/spine (its journal
// and ledger keep the step from running twice): it exits 75 and says to
// purge once the run ends; then the purge goes through.
func TestHookUninstallPurgeWaitsForTheRun(t *testing.T) {
	bare := newBare(t, map[string]string{"README.md": "ops\n"})
	installHook(t, bare)
	client := cloneOf(t, bare)
	started := filepath.Join(t.TempDir(), "started")
	commit(t, client, "slow loop", map[string]string{"loops/u.md": loopDoc("LOOP-U", "## Stage 1: Slow\n\n"+step("name=slow", "touch "+started+"\nsleep 3"))})
	pushTimed(t, client)
	waitFor(t, 60*time.Second, "the step to start", func() bool { _, err := os.Stat(started); return err == nil })
	out, code := spine(t, filepath.Dir(bare), nil, "hook", "uninstall", "--repo", bare, "--purge")
	if code != 75 || !strings.Contains(out, "a hook run is in progress") {
		t.Fatalf("uninstall --purge during a run: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(bare, "hooks", "post-receive")); !os.IsNotExist(err) {
		t.Errorf("the hook is still installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bare, "spine", "worktree")); err != nil {
		t.Fatalf("BARE/spine was removed under the run: %v", err)
	}
	waitHookIdle(t, bare)
	if out, code := spine(t, filepath.Dir(bare), nil, "hook", "uninstall", "--repo", bare, "--purge"); code != 0 || !strings.Contains(out, "removed "+filepath.Join(bare, "spine")) {
		t.Fatalf("uninstall --purge once the run ended: exit %d\n%s", code, out)
	}
}

// TestHookFollowsTheBaresDefaultBranch: without --branch, the hook runs on
// pushes to the bare repository's own default branch (master in one made
// so), not on a main it does not have.
func TestHookFollowsTheBaresDefaultBranch(t *testing.T) {
	tmp := t.TempDir()
	seed := filepath.Join(tmp, "seed")
	git(t, tmp, "init", "-q", "-b", "master", seed)
	commit(t, seed, "seed", map[string]string{"README.md": "ops\n"})
	bare := filepath.Join(tmp, "ops.git")
	git(t, tmp, "init", "-q", "--bare", "-b", "master", bare)
	git(t, seed, "push", "-q", bare, "master")
	out := installHook(t, bare)
	if !strings.Contains(out, "branch:   master") {
		t.Fatalf("install output:\n%s", out)
	}
	client := cloneOf(t, bare)
	commit(t, client, "loop", map[string]string{"loops/m.md": loopDoc("LOOP-M", "## Stage 1: Go\n\n"+step("name=go", "echo go"))})
	pushTimed(t, client)
	waitFor(t, 60*time.Second, "spine's commit on master", func() bool {
		return strings.Contains(bareGit(t, bare, "log", "-1", "--format=%B", "master"), "Spine-Run: ")
	})
	waitHookIdle(t, bare)
}
