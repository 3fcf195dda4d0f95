package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const twoStages = "## Stage 1: Check\n\n```sh {name=check}\necho checked\n```\n\n## Stage 2: Act\n\n```sh {name=act}\necho acted\n```\n"

// meanwhileStages is twoStages whose first step pushes, from the clone
// $SPINE_E2E_MEANWHILE names, what was committed there: the remote moves
// on while spine runs. (A run --push first follows the remote, so a move
// before it starts is no race.)
const meanwhileStages = "## Stage 1: Check\n\n```sh {name=check}\necho checked\ngit -C \"$SPINE_E2E_MEANWHILE\" push -q\n```\n\n## Stage 2: Act\n\n```sh {name=act}\necho acted\n```\n"

// runPushMeanwhile runs spine run --push in host while op's commits are
// pushed by the loop's first step (meanwhileStages), and wants exit 0.
func runPushMeanwhile(t *testing.T, host, op string) string {
	t.Helper()
	out, code := spine(t, host, []string{"SPINE_E2E_MEANWHILE=" + op}, "run", "--push", "--host", "h1")
	if code != 0 {
		t.Fatalf("run --push: exit %d\n%s", code, out)
	}
	return out
}

// TestRunPushReplaysWhenTheRemoteMovedOn: another commit lands on the
// remote while spine runs; spine's push is rejected, it replays its
// commits on the new head and pushes again: receipts in the bare repository,
// evidence regenerated, history linear, nothing forced.
func TestRunPushReplaysWhenTheRemoteMovedOn(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", meanwhileStages), "README.md": "ops\n"})
	host, op := cloneOf(t, bare), cloneOf(t, bare)
	commit(t, op, "docs: meanwhile", map[string]string{"README.md": "ops, edited meanwhile\n"})
	opHead := git(t, op, "rev-parse", "HEAD")

	out := runPushMeanwhile(t, host, op)
	if !strings.Contains(out, "moved on") || !strings.Contains(out, "pushed to origin/main after replaying 2 commit(s)") {
		t.Fatalf("output does not tell about the replay:\n%s", out)
	}
	assertLinear(t, bare)
	bareGit(t, bare, "merge-base", "--is-ancestor", opHead, "main")
	if got := bareGit(t, bare, "rev-parse", "main"); got != git(t, host, "rev-parse", "HEAD") {
		t.Fatalf("bare main %s is not the host's head", got)
	}
	rcs := receiptFiles(t, bare)
	if len(rcs) != 2 {
		t.Fatalf("receipts on main: %v", rcs)
	}
	doc := bareGit(t, bare, "show", "main:loops/a.md")
	for _, p := range rcs {
		key := filepath.Base(filepath.Dir(p))
		if !strings.Contains(doc, key) {
			t.Fatalf("evidence block lacks %s:\n%s", key, doc)
		}
	}
	if !strings.Contains(doc, "last_heartbeat_utc:") {
		t.Fatalf("no heartbeat:\n%s", doc)
	}
	if st := git(t, host, "status", "--porcelain"); st != "" {
		t.Fatalf("host clone not clean:\n%s", st)
	}
	subjects := bareGit(t, bare, "log", "--format=%s", "main")
	if !strings.Contains(subjects, "docs: meanwhile") || strings.Count(subjects, "spine(LOOP-A)") != 2 {
		t.Fatalf("history:\n%s", subjects)
	}
	// The host's reflog tells it as git would have: the two commits, the
	// move to the remote's head, the two replays, the push.
	moves := git(t, host, "reflog", "--format=%gs", "HEAD")
	want := "commit: spine(LOOP-A): stage 2 Act — 1 pass\ncommit: spine(LOOP-A): stage 1 Check — 1 pass\nspine: moving to " + opHead +
		"\ncommit: spine(LOOP-A): stage 2 Act — 1 pass\ncommit: spine(LOOP-A): stage 1 Check — 1 pass\nclone: from "
	if !strings.HasPrefix(moves, want) {
		t.Errorf("host's reflog:\n%s\nwant it to start:\n%s", moves, want)
	}
	if got := git(t, host, "log", "-g", "-1", "--format=%H %gs", "origin/main"); got != git(t, host, "rev-parse", "HEAD")+" update by push" {
		t.Errorf("origin/main's last move: %s", got)
	}
}

// TestRunPushKeepsReceiptsWhenTheOperatorEditedTheSameLoop: the operator
// changed the loop (its text and a step spine just ran) while spine ran.
// spine keeps its receipts, regenerates the evidence on the operator's
// version, says so, and the plan then shows the edited step.
func TestRunPushKeepsReceiptsWhenTheOperatorEditedTheSameLoop(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", meanwhileStages)})
	host, op := cloneOf(t, bare), cloneOf(t, bare)
	edited := strings.Replace(loopDoc("LOOP-A", meanwhileStages), "echo checked", "echo checked twice", 1)
	edited = strings.Replace(edited, "## Stage 1: Check", "Operator note: checked by hand too.\n\n## Stage 1: Check", 1)
	commit(t, op, "operator edits LOOP-A", map[string]string{"loops/a.md": edited})

	out := runPushMeanwhile(t, host, op)
	if !strings.Contains(out, "LOOP-A: loops/a.md was changed (steps check)") || !strings.Contains(out, "receipts are kept") {
		t.Fatalf("output does not say the operator changed the loop:\n%s", out)
	}
	assertLinear(t, bare)
	doc := bareGit(t, bare, "show", "main:loops/a.md")
	if !strings.Contains(doc, "Operator note: checked by hand too.") || !strings.Contains(doc, "echo checked twice") {
		t.Fatalf("the operator's edit is lost:\n%s", doc)
	}
	rcs := receiptFiles(t, bare)
	if len(rcs) != 2 {
		t.Fatalf("receipts: %v", rcs)
	}
	for _, p := range rcs {
		if key := filepath.Base(filepath.Dir(p)); !strings.Contains(doc, key) {
			t.Fatalf("evidence lacks %s:\n%s", key, doc)
		}
	}
	// Regenerating again changes nothing; the plan tells about the step.
	fresh := cloneOf(t, bare)
	plan := mustSpine(t, fresh, 0, "plan", "--host", "h1")
	if !strings.Contains(plan, "edited") {
		t.Fatalf("plan does not show the edited step:\n%s", plan)
	}
}

// TestPushFailureIsSentByTheNextRun: the remote refuses the push; the
// commits stay local; the next run, with nothing to run, pushes them. A run
// on spine's own commit says so in one line and exits 0 quickly.
func TestPushFailureIsSentByTheNextRun(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages)})
	host := cloneOf(t, bare)
	hook := filepath.Join(bare, "hooks", "pre-receive")
	writeFile(t, hook, "#!/bin/sh\necho 'closed for maintenance' >&2\nexit 1\n")
	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	out, code := spine(t, host, nil, "run", "--push", "--host", "h1")
	if code != 1 || !strings.Contains(out, "committed locally") {
		t.Fatalf("exit %d, want 1 with the commits kept:\n%s", code, out)
	}
	if n := strings.Count(git(t, host, "log", "--format=%s", "origin/main..HEAD"), "spine("); n != 2 {
		t.Fatalf("%d unpushed spine commits, want 2", n)
	}
	if len(receiptFiles(t, bare)) != 0 {
		t.Fatal("the refused push landed")
	}
	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out = mustSpine(t, host, 0, "run", "--push", "--host", "h1")
	took := time.Since(start)
	// It pushes the kept commits first (following the remote), then
	// finds nothing to do.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || lines[0] != "pushed to origin/main" || !strings.HasPrefix(lines[1], "nothing to do: HEAD is spine's own commit (Spine-Run: ") {
		t.Fatalf("second run:\n%s", out)
	}
	t.Logf("self-triggered run with a push took %s", took)
	if len(receiptFiles(t, bare)) != 2 || bareGit(t, bare, "rev-parse", "main") != git(t, host, "rev-parse", "HEAD") {
		t.Fatal("the next run did not push the kept commits")
	}
	// Triggered by its own commit with nothing to push: one line, exit 0.
	start = time.Now()
	out = mustSpine(t, host, 0, "run", "--host", "h1")
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 1 {
		t.Fatalf("self-triggered run printed %d lines:\n%s", n, out)
	}
	t.Logf("self-triggered run took %s", time.Since(start))
}

// TestRunPushKeepsHouseAfterAReplay: the fetch and the replay of a push
// whose remote moved on leave packs and objects the run's own housekeeping
// (done before the push) did not see; as after git fetch, git's
// housekeeping tidies them when it is due (here: more packs than
// gc.autoPackLimit 1 once the fetch added one).
func TestRunPushKeepsHouseAfterAReplay(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", meanwhileStages), "README.md": "ops\n"})
	host, op := cloneOf(t, bare), cloneOf(t, bare)
	// One pack: the run's own housekeeping finds nothing due (its
	// commits are loose objects); the push's fetch makes it two.
	onePackDueAtTwo(t, host)
	commit(t, op, "docs: meanwhile", map[string]string{"README.md": "ops, edited meanwhile\n"})

	out := runPushMeanwhile(t, host, op)
	if !strings.Contains(out, "after replaying 2 commit(s)") {
		t.Fatalf("no replay:\n%s", out)
	}
	assertOnePack(t, host, "after the replay")
}

// onePackDueAtTwo repacks repo into one pack and makes git's housekeeping
// due (and run in the foreground) as soon as there are two.
func onePackDueAtTwo(t *testing.T, repo string) {
	t.Helper()
	git(t, repo, "config", "gc.autoDetach", "false")
	git(t, repo, "config", "gc.autoPackLimit", "1")
	git(t, repo, "repack", "-q", "-a", "-d")
}

// assertOnePack checks that repo has one pack (housekeeping ran after
// what added one, as onePackDueAtTwo arranged) and that git finds it
// sound.
func assertOnePack(t *testing.T, repo, after string) {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(repo, ".git", "objects", "pack", "pack-*.pack"))
	if err != nil || len(packs) != 1 {
		t.Errorf("%d packs %s (%v), want 1: housekeeping did not run", len(packs), after, err)
	}
	git(t, repo, "fsck", "--no-dangling")
}

// A run --push first follows the remote: when this clone was only behind
// (no commit of its own to push or replay), the fetch still leaves a
// pack, and the run keeps house after it as after a replay.
func TestRunPushKeepsHouseAfterAFetchWithNothingToReplay(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages), "README.md": "ops\n"})
	host, op := cloneOf(t, bare), cloneOf(t, bare)
	mustSpine(t, host, 0, "run", "--push", "--host", "h1")
	onePackDueAtTwo(t, host)
	git(t, op, "pull", "-q")
	commit(t, op, "docs: meanwhile", map[string]string{"README.md": "ops, edited meanwhile\n"})
	git(t, op, "push", "-q")

	// Nothing is pending: the run follows the remote (a fetch and a
	// fast-forward), commits nothing, and has nothing to push.
	out := mustSpine(t, host, 0, "run", "--push", "--host", "h1")
	if !strings.Contains(out, "followed origin: ") || !strings.Contains(out, "origin/main is up to date") {
		t.Fatalf("want the remote followed and nothing to push:\n%s", out)
	}
	assertOnePack(t, host, "after the fetch")
}

// TestRunPushFollowsTheRemoteBeforeRunning: two clones of one repository
// (a hook's and an operator's, say) run its steps in turn. The second
// run --push first takes the receipts the first pushed, so a destructive
// step that passed there is not run again here; a clone with commits of
// its own pushes them first.
func TestRunPushFollowsTheRemoteBeforeRunning(t *testing.T) {
	t.Parallel()
	count := filepath.Join(t.TempDir(), "count")
	doc := loopDoc("LOOP-D", "## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\necho wipe >> "+count+"\n```\n")
	bare := newBare(t, map[string]string{"loops/d.md": doc})
	first, second := cloneOf(t, bare), cloneOf(t, bare)
	mustSpine(t, first, 0, "run", "--push", "--host", "h1")
	out := mustSpine(t, second, 0, "run", "--push", "--host", "h1")
	if data, _ := os.ReadFile(count); string(data) != "wipe\n" {
		t.Fatalf("wipe ran %q, want once; second clone's run:\n%s", data, out)
	}
	if !strings.Contains(out, "followed origin: ") {
		t.Errorf("the second run does not say it followed the remote:\n%s", out)
	}
	if got, want := git(t, second, "rev-parse", "HEAD"), bareGit(t, bare, "rev-parse", "main"); got != want {
		t.Errorf("second clone at %s, remote at %s", got, want)
	}
	if n := len(receiptFiles(t, bare)); n != 1 {
		t.Errorf("%d receipts on the remote, want 1", n)
	}
}

// TestRunPushRunsAfterALeftoverAndALoopOnlyOnTheRemote: run --push runs a
// loop that is only on the remote (--loop), after following it; and when
// it cannot follow (spine's own evidence edit left uncommitted, the
// remote changed the same document) it runs on the clone as it is, commits
// the leftover and replays, as before it followed the remote.
func TestRunPushRunsAfterALeftoverAndALoopOnlyOnTheRemote(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages)})
	host, op := cloneOf(t, bare), cloneOf(t, bare)
	commit(t, op, "another loop", map[string]string{"loops/b.md": loopDoc("LOOP-B", "## Stage 1: Go\n\n```sh {name=go}\necho go\n```\n")})
	git(t, op, "push", "-q")
	out := mustSpine(t, host, 0, "run", "--push", "--host", "h1", "--loop", "LOOP-B")
	if !strings.Contains(out, "followed origin: ") || len(receiptFiles(t, bare)) != 1 {
		t.Fatalf("run --push --loop LOOP-B (only on the remote):\n%s", out)
	}

	// A leftover: the stage's commit failed (a foreign index.lock).
	lock := filepath.Join(host, ".git", "index.lock")
	writeFile(t, lock, "")
	if out, code := spine(t, host, nil, "run", "--host", "h1", "--loop", "LOOP-A"); code != 1 {
		t.Fatalf("run with a foreign index.lock: exit %d\n%s", code, out)
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	git(t, op, "pull", "-q")
	commit(t, op, "operator edits LOOP-A", map[string]string{"loops/a.md": strings.Replace(git(t, op, "show", "HEAD:loops/a.md"), "# Loop Scope: LOOP-A", "# Loop Scope: LOOP-A\n\nAn operator's note.", 1)})
	git(t, op, "push", "-q")
	// spine's own leftover does not stop the follow: it is regenerated
	// from the receipts on the remote's version.
	out, code := spine(t, host, nil, "run", "--push", "--host", "h1")
	if code != 0 || !strings.Contains(out, "followed origin: ") || strings.Contains(out, "could not follow origin") {
		t.Fatalf("run --push with spine's leftover: exit %d\n%s", code, out)
	}
	assertLinear(t, bare)
	doc := bareGit(t, bare, "show", "main:loops/a.md")
	if !strings.Contains(doc, "An operator's note.") {
		t.Fatalf("the operator's edit is lost:\n%s", doc)
	}
	if n := len(receiptFiles(t, bare)); n != 3 {
		t.Errorf("%d receipts on the remote, want 3 (LOOP-B's and LOOP-A's two)", n)
	}
}

// TestWatchOnceAfterALeftoverExitsZero: spine watch --once in a clone
// whose own evidence edit was left uncommitted while the remote changed
// the same document follows the remote (the edit is regenerated from the
// receipts), runs, commits and pushes, and exits 0.
func TestWatchOnceAfterALeftoverExitsZero(t *testing.T) {
	t.Parallel()
	bare := newBare(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages)})
	host, op := cloneOf(t, bare), cloneOf(t, bare)
	lock := filepath.Join(host, ".git", "index.lock")
	writeFile(t, lock, "")
	if out, code := spine(t, host, nil, "run", "--host", "h1"); code != 1 {
		t.Fatalf("run with a foreign index.lock: exit %d\n%s", code, out)
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	commit(t, op, "operator edits LOOP-A", map[string]string{"loops/a.md": strings.Replace(git(t, op, "show", "HEAD:loops/a.md"), "# Loop Scope: LOOP-A", "# Loop Scope: LOOP-A\n\nAn operator's note.", 1)})
	git(t, op, "push", "-q")
	out, code := spine(t, host, nil, "watch", "--once", "--host", "h1")
	if code != 0 {
		t.Fatalf("watch --once: exit %d, want 0\n%s", code, out)
	}
	assertLinear(t, bare)
	if got, want := git(t, host, "rev-parse", "HEAD"), bareGit(t, bare, "rev-parse", "main"); got != want {
		t.Errorf("host at %s, remote at %s", got, want)
	}
	if !strings.Contains(bareGit(t, bare, "show", "main:loops/a.md"), "An operator's note.") {
		t.Error("the operator's edit is lost")
	}
}
