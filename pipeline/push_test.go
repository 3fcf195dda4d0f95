package pipeline

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinehq/spine/artifacts"
)

// bareGit runs git against a bare repository.
func bareGit(t *testing.T, bare string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", bare}, args...)...)
	cmd.Env = gitEnv("Operator", "op@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// newRemote makes a bare repository whose main holds files, and returns it.
func newRemote(t *testing.T, files map[string]string) string {
	t.Helper()
	seed := newRepo(t)
	seed.commit("seed", files)
	bare := filepath.Join(t.TempDir(), "ops.git")
	seed.git("init", "-q", "--bare", "-b", "main", bare)
	seed.git("push", "-q", bare, "main")
	return bare
}

// cloneOf clones the bare repository into a new test repository.
func cloneOf(t *testing.T, bare string) *testRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	r := &testRepo{t: t, root: dir}
	cmd := exec.Command("git", "clone", "-q", bare, dir)
	cmd.Env = gitEnv("Operator", "op@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	return r
}

// pushOpts returns push options for the clone.
func (r *testRepo) pushOpts() PushOptions {
	o := NewPushOptions(r.runOpts(nil), "origin", "main")
	o.Backoff = 10 * time.Millisecond
	return o
}

func (r *testRepo) head() string { return strings.TrimSpace(r.git("rev-parse", "HEAD")) }

const twoStages = "## Stage 1: Check\n\n```sh {name=one}\necho one\n```\n\n## Stage 2: Act\n\n```sh {name=two}\necho two\n```\n"

func TestPushReplaysSpineCommitsOnARemoteThatMovedOn(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages), "README.md": "ops\n"})
	spine, op := cloneOf(t, bare), cloneOf(t, bare)
	op.commit("docs", map[string]string{"README.md": "ops, edited\n"})
	op.git("push", "-q")
	opHead := op.head()

	out := spine.run(nil)
	if len(out.Commits) != 2 {
		t.Fatalf("commits = %d, want one per stage", len(out.Commits))
	}
	res, err := Push(context.Background(), spine.pushOpts())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pushed || len(res.Replayed) != 2 || res.Attempts != 2 {
		t.Fatalf("result = %+v, want pushed after replaying 2 commits on the 2nd attempt", res)
	}
	if got := bareGit(t, bare, "rev-parse", "main"); got != spine.head() || got != res.Head {
		t.Fatalf("bare main %s, clone %s, result %s", got, spine.head(), res.Head)
	}
	if merges := bareGit(t, bare, "rev-list", "--merges", "main"); merges != "" {
		t.Fatalf("merges in the history: %s", merges)
	}
	// The operator's commit is still there: nothing was forced.
	bareGit(t, bare, "merge-base", "--is-ancestor", opHead, "main")
	doc := bareGit(t, bare, "show", "main:loops/a.md")
	for _, rc := range out.Receipts {
		if !strings.Contains(doc, rc.RunKey) {
			t.Fatalf("evidence lacks %s:\n%s", rc.RunKey, doc)
		}
		dir, _ := (&artifacts.Store{Root: spine.root}).RelDir(rc.RunKey)
		bareGit(t, bare, "cat-file", "-e", "main:"+dir+"/receipt.json")
	}
	if got := bareGit(t, bare, "show", "main:README.md"); got != "ops, edited" {
		t.Fatalf("README = %q", got)
	}
	msg := bareGit(t, bare, "log", "-1", "--format=%B", "main")
	if !strings.Contains(msg, "Spine-Run: ") || !strings.Contains(msg, "Spine-Replayed-From: ") {
		t.Fatalf("replayed commit message:\n%s", msg)
	}
	spine.clean()
	// Evidence regenerated on the new head: a second regeneration is a no-op.
	if again := spine.run(nil); len(again.Commits) != 0 {
		t.Fatalf("a second run committed %d times", len(again.Commits))
	}
}

func TestPushRefusesToOverwriteUncommittedChanges(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages), "README.md": "ops\n"})
	spine, op := cloneOf(t, bare), cloneOf(t, bare)
	op.commit("docs", map[string]string{"README.md": "ops, edited upstream\n"})
	op.git("push", "-q")
	spine.run(nil)
	spineHead := spine.head()
	spine.write("README.md", "half-written local edit\n")

	_, err := Push(context.Background(), spine.pushOpts())
	if !errors.Is(err, ErrReplayRefused) || !strings.Contains(err.Error(), "README.md") {
		t.Fatalf("err = %v, want a refusal naming README.md", err)
	}
	if spine.head() != spineHead || spine.read("README.md") != "half-written local edit\n" {
		t.Fatal("a refused replay changed the clone")
	}
	if bareGit(t, bare, "rev-parse", "main") != op.head() {
		t.Fatal("the remote changed")
	}
	// Once the edit is gone, the next push sends spine's commits.
	spine.write("README.md", "ops\n")
	if res, err := Push(context.Background(), spine.pushOpts()); err != nil || !res.Pushed {
		t.Fatalf("push after cleaning up: %+v %v", res, err)
	}
}

func TestPushRefusesToReplayOperatorCommits(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages)})
	spine, op := cloneOf(t, bare), cloneOf(t, bare)
	op.commit("upstream", map[string]string{"x": "1\n"})
	op.git("push", "-q")
	spine.commit("local operator work", map[string]string{"y": "1\n"})
	spine.run(nil)
	_, err := Push(context.Background(), spine.pushOpts())
	if !errors.Is(err, ErrReplayRefused) || !strings.Contains(err.Error(), "not spine's") {
		t.Fatalf("err = %v, want a refusal for a commit that is not spine's", err)
	}
}

func TestPushWithNothingOfItsOwnLeavesTheCloneAlone(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages)})
	spine, op := cloneOf(t, bare), cloneOf(t, bare)
	before := spine.head()
	op.commit("upstream", map[string]string{"x": "1\n"})
	op.git("push", "-q")
	res, err := Push(context.Background(), spine.pushOpts())
	if err != nil || res.Pushed || len(res.Notes) == 0 || !strings.Contains(res.Notes[0], "nothing to push") {
		t.Fatalf("push = %+v, %v", res, err)
	}
	if spine.head() != before {
		t.Fatal("Push moved a clone that had nothing to push")
	}
	// Sync follows.
	s, err := Sync(context.Background(), spine.pushOpts(), true)
	if err != nil || !s.Moved() || spine.head() != op.head() || spine.read("x") != "1\n" {
		t.Fatalf("sync = %+v, %v", s, err)
	}
}

func TestSyncRefusesToOverwriteAnEdit(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages), "x": "0\n"})
	spine, op := cloneOf(t, bare), cloneOf(t, bare)
	op.commit("upstream", map[string]string{"x": "1\n"})
	op.git("push", "-q")
	spine.write("x", "mine\n")
	if _, err := Sync(context.Background(), spine.pushOpts(), true); err == nil || !strings.Contains(err.Error(), "x") {
		t.Fatalf("sync over an edit: %v", err)
	}
	if spine.read("x") != "mine\n" {
		t.Fatal("the edit was overwritten")
	}
	o := spine.pushOpts()
	o.DiscardLocalChanges = true // spine's own clone
	if _, err := Sync(context.Background(), o, true); err != nil || spine.read("x") != "1\n" {
		t.Fatalf("forced sync: %v", err)
	}
}

func TestDrainPicksUpRequestsThatArriveDuringACycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := RequestRun(dir); err != nil {
		t.Fatal(err)
	}
	var cycles atomic.Int32
	inCycle := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Drain(context.Background(), dir, 10, func(context.Context) error {
			if cycles.Add(1) == 1 {
				close(inCycle)
				<-release
			}
			return nil
		}, nil)
	}()
	<-inCycle
	// A push during the cycle: a second worker finds the lock taken and
	// returns at once, leaving the request to the first.
	if err := RequestRun(dir); err != nil {
		t.Fatal(err)
	}
	if err := Drain(context.Background(), dir, 10, func(context.Context) error {
		t.Error("a second worker ran a cycle while the first held the lock")
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := cycles.Load(); n != 2 {
		t.Fatalf("cycles = %d, want 2 (the request made during the first)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, RequestFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a request is left over")
	}
}

func TestWatcherCycleRecordsAStoppedStepAsInterruptedAndPushesIt(t *testing.T) {
	t.Parallel()
	started := filepath.Join(t.TempDir(), "started")
	body := "## Stage 1: Slow\n\n```sh {name=slow}\ntouch " + started + "\nsleep 30\n```\n"
	bare := newRemote(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", body)})
	spine := cloneOf(t, bare)
	w := &Watcher{
		Root: spine.root, Remote: "origin", Branch: "main", Push: true,
		Load: func() (Options, error) { return spine.runOpts(nil), nil },
	}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		res *CycleResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := w.Cycle(ctx)
		done <- result{res, err}
	}()
	waitFor(t, 20*time.Second, func() bool { _, err := os.Stat(started); return err == nil })
	stopAt := time.Now()
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the cycle did not end after cancellation")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if d := time.Since(stopAt); d > 10*time.Second {
		t.Fatalf("stopping took %s", d)
	}
	if got := spine.stepReceipts("slow"); len(got) != 1 || got[0] != artifacts.StatusInterrupted {
		t.Fatalf("receipts = %v, want one interrupted", got)
	}
	if r.res.Push == nil || !r.res.Push.Pushed || bareGit(t, bare, "rev-parse", "main") != spine.head() {
		t.Fatalf("the interrupted receipt was not pushed: %+v", r.res.Push)
	}
}

func TestPendingSeesReadyStepsAndOnlyThem(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages)})
	if o, err := Look(r.runOpts(nil)); err != nil || !o.Work || !strings.Contains(o.Reason, "LOOP-A/one") || len(o.Invalid) != 0 {
		t.Fatalf("look = %+v %v", o, err)
	}
	r.run(nil)
	if o, err := Look(r.runOpts(nil)); err != nil || o.Work {
		t.Fatalf("after the run: look = %+v %v", o, err)
	}
	if OwnCommit(r.runOpts(nil).Git) == "" {
		t.Fatal("HEAD is spine's commit but OwnCommit says it is not")
	}
}

// TestWatcherCycleKeepsHouseAfterItFetched: a clone that spine only
// fetches into (operators push, nothing is pending) gets a pack per fetch;
// as after git fetch, git's housekeeping tidies them once it is due (here:
// more packs than gc.autoPackLimit), and not when the operator turned it
// off.
func TestWatcherCycleKeepsHouseAfterItFetched(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		off  bool
	}{
		{name: "due"},
		{name: "turned off", off: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bare := newRemote(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", "Nothing to run.\n")})
			spine, op := cloneOf(t, bare), cloneOf(t, bare)
			spine.git("config", "gc.autoDetach", "false")
			spine.git("config", "gc.autoPackLimit", "2")
			if tt.off {
				spine.git("config", "gc.auto", "0")
			}
			w := &Watcher{
				Root: spine.root, Remote: "origin", Branch: "main", Push: true,
				Load: func() (Options, error) { return spine.runOpts(nil), nil },
			}
			packs := func() int {
				m, _ := filepath.Glob(filepath.Join(spine.root, ".git", "objects", "pack", "pack-*.pack"))
				return len(m)
			}
			start := packs()
			for i := range 3 {
				op.commit(fmt.Sprint("docs ", i), map[string]string{"README.md": fmt.Sprintf("edit %d\n", i)})
				op.git("push", "-q")
				res, err := w.Cycle(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if res.Ran || !res.Sync.Moved() {
					t.Fatalf("cycle %d: ran %v, followed %v; want a fetch and no run", i, res.Ran, res.Sync.Moved())
				}
			}
			if spine.head() != op.head() {
				t.Fatalf("the clone is at %s, the remote at %s", spine.head(), op.head())
			}
			got := packs()
			switch {
			case !tt.off && got != 1:
				t.Errorf("%d packs after three fetches (%d to start with), want 1: housekeeping did not run", got, start)
			case tt.off && got != start+3:
				t.Errorf("%d packs after three fetches, want %d (one per fetch, %d to start with)", got, start+3, start)
			}
			spine.git("fsck", "--no-dangling")
		})
	}
}

// TestPushLeavesOutAnOperatorCommitTheRemoteHasAsAnother: the operator
// amended a commit and force-pushed it while spine ran on the first one:
// the remote has the same change under another hash. spine leaves the
// local commit out, replays its own on the remote's, and nothing is lost
// or run again; a commit whose change the remote lacks is still refused.
func TestPushLeavesOutAnOperatorCommitTheRemoteHasAsAnother(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, map[string]string{"README.md": "ops\n"})
	spine, op := cloneOf(t, bare), cloneOf(t, bare)
	op.commit("loop A, with a typo in the message", map[string]string{"loops/a.md": loopDoc("LOOP-A", twoStages)})
	op.git("push", "-q")
	spine.git("pull", "-q")
	out := spine.run(nil)
	if len(out.Commits) != 2 {
		t.Fatalf("commits = %d, want 2", len(out.Commits))
	}
	op.git("commit", "-q", "--amend", "-m", "loop A")
	op.git("push", "-q", "-f")
	amended := op.head()

	res, err := Push(context.Background(), spine.pushOpts())
	if err != nil {
		t.Fatalf("push after the force-push: %v", err)
	}
	if !res.Pushed || len(res.Replayed) != 2 || !strings.Contains(strings.Join(res.Notes, "\n"), "(the same change): left out of the replay") {
		t.Fatalf("result = %+v, want 2 commits replayed on the amended one, saying what was left out", res)
	}
	bareGit(t, bare, "merge-base", "--is-ancestor", amended, "main")
	for _, rc := range out.Receipts {
		dir, _ := (&artifacts.Store{Root: spine.root}).RelDir(rc.RunKey)
		bareGit(t, bare, "cat-file", "-e", "main:"+dir+"/receipt.json")
	}
	if again := spine.run(nil); len(again.Receipts) != 0 {
		t.Fatalf("a later run ran %d steps again", len(again.Receipts))
	}

	// An amend that changed the content is another change: refused.
	op.git("pull", "-q")
	op.commit("loop B", map[string]string{"loops/b.md": loopDoc("LOOP-B", twoStages)})
	op.git("push", "-q")
	spine.git("pull", "-q")
	spine.run(nil)
	op.commit("loop B, changed", map[string]string{"loops/b.md": loopDoc("LOOP-B", twoStages+"\nmore\n")})
	op.git("reset", "-q", "--soft", "HEAD~2")
	op.git("commit", "-q", "-m", "loop B, squashed")
	op.git("push", "-q", "-f")
	if _, err := Push(context.Background(), spine.pushOpts()); !errors.Is(err, ErrReplayRefused) || !strings.Contains(err.Error(), "not spine's") {
		t.Fatalf("push over a changed amend: %v, want a refusal", err)
	}
}

// TestPushChainsAnewReceiptsOfALoopTwoClonesRan: two runners (two hosts,
// or a hook's clone and a workflow's) run the pending steps of one loop
// from two clones, each chaining its receipts to the tip it saw. The
// second push replays its commit on the first's and chains its receipts
// after the first's, signing them again: the loop's chain stays linear
// (spine verify passes, every signature verifies), and the next receipt
// chains to the new tip, not the one the receipt index remembered.
func TestPushChainsAnewReceiptsOfALoopTwoClonesRan(t *testing.T) {
	t.Parallel()
	signer, keysFile := testSigner(t)
	cloneA, cloneB, onB := twoRunnersOneLoop(t, signer)
	res, err := pushAs(cloneB, onB)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pushed || len(res.Replayed) == 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "LOOP-A: origin/main has receipts of it") {
		t.Fatalf("push %+v, want a replay that chains LOOP-A's receipts anew", res)
	}
	cloneB.clean()
	verified := func(r *testRepo, want int) {
		t.Helper()
		verifiedChains(t, r, want)
		sigs, err := artifacts.VerifySignatures(&artifacts.Store{Root: r.root}, receiptKeys(t, keysFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range sigs.Problems {
			if !strings.Contains(p.Problem, "unsigned") {
				t.Fatalf("signature problem: %v", p)
			}
		}
	}
	verified(cloneB, 5)
	// The next receipt B writes follows the new tip, not the one B's
	// receipt index remembered.
	doc, err := os.ReadFile(filepath.Join(cloneB.root, "loops", "a.md"))
	if err != nil {
		t.Fatal(err)
	}
	cloneB.commit("one more step", map[string]string{"loops/a.md": string(doc) + "\n## Stage 2: More\n\n```sh {name=d}\necho d\n```\n"})
	if out := cloneB.run(nil, onB); len(out.Receipts) != 1 {
		t.Fatalf("clone B ran %d steps, want d", len(out.Receipts))
	}
	verified(cloneB, 6)
	if _, err := pushAs(cloneB, onB); err != nil {
		t.Fatal(err)
	}
	cloneA.git("pull", "-q")
	verified(cloneA, 6)
}

// twoRunnersOneLoop makes a remote whose loop LOOP-A has run its base
// step, and two clones of it that each ran the loop's next two steps from
// there, A's pushed, B's (signed by signer) not yet. onB sets B's options.
func twoRunnersOneLoop(t *testing.T, signer *artifacts.Signer) (cloneA, cloneB *testRepo, onB func(*Options)) {
	t.Helper()
	const body = "## Stage 1: Work\n\n```sh {name=s1}\necho s1\n```\n\n```sh {name=s2}\necho s2\n```\n"
	const base = "## Stage 0: Base\n\n```sh {name=base}\necho base\n```\n\n"
	bare := newRemote(t, map[string]string{"loops/a.md": loopDoc("LOOP-A", base)})
	cloneA, cloneB = cloneOf(t, bare), cloneOf(t, bare)
	// The receipt both clones' chains start from: base's; then the steps
	// both run.
	onA := func(o *Options) { o.Host = "hosta" }
	cloneA.run(nil, onA)
	if _, err := Push(context.Background(), cloneA.pushOpts()); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(cloneA.root, "loops", "a.md"))
	if err != nil {
		t.Fatal(err)
	}
	cloneA.commit("the hosts' steps", map[string]string{"loops/a.md": strings.Replace(string(doc), base, base+body, 1)})
	cloneA.git("push", "-q")
	cloneB.git("pull", "-q")
	onB = func(o *Options) { o.Host, o.Signer = "hostb", signer }
	// Both run s1 and s2, from the same tip; B first. B's receipts are
	// then chained after A's all the same: they are the chain's tip,
	// though not the receipts that started last.
	if out := cloneB.run(nil, onB); len(out.Receipts) != 2 {
		t.Fatalf("clone B ran %d steps, want s1 and s2", len(out.Receipts))
	}
	// The receipt index now holds B's receipts as they were written (a
	// spine plan between the run and the push).
	if _, err := LoadHistory(cloneB.root, "receipts", filepath.Join(cloneB.root, ".git", "spine")); err != nil {
		t.Fatal(err)
	}
	if out := cloneA.run(nil, onA); len(out.Receipts) != 2 {
		t.Fatalf("clone A ran %d steps, want s1 and s2", len(out.Receipts))
	}
	if _, err := Push(context.Background(), cloneA.pushOpts()); err != nil {
		t.Fatal(err)
	}
	return cloneA, cloneB, onB
}

// TestPushLeavesAForkItCannotSign: receipts signed by a key the pushing
// process does not have are replayed as they are, with a note that the
// loop's chain forks (spine verify reports it), not re-signed or dropped.
func TestPushLeavesAForkItCannotSign(t *testing.T) {
	t.Parallel()
	signer, _ := testSigner(t)
	_, cloneB, onB := twoRunnersOneLoop(t, signer)
	res, err := pushAs(cloneB, func(o *Options) { onB(o); o.Signer = nil })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pushed || !strings.Contains(strings.Join(res.Notes, "\n"), "this host has no signing key): the loop's chain forks") {
		t.Fatalf("push %+v, want pushed with a note that LOOP-A's chain forks", res)
	}
	rep, err := artifacts.Verify(cloneB.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Problem, "forks") {
		t.Fatalf("verify: %v, want the fork", rep.Problems)
	}
}

// TestPushChainsAnewAReceiptNotCommittedYet: a receipt a stopped run left
// in the working tree (written, its stage not committed; the next run's
// recovery commits it as it is) follows a receipt the replay chains anew:
// it is chained anew too, in place, and signed again, so that the chain
// the recovery commits is whole.
func TestPushChainsAnewAReceiptNotCommittedYet(t *testing.T) {
	t.Parallel()
	signer, keysFile := testSigner(t)
	_, cloneB, onB := twoRunnersOneLoop(t, signer)
	// What a run stopped after writing s3's receipt leaves.
	st := &artifacts.Store{Root: cloneB.root}
	entries, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	tip := artifacts.ChainTips(entries)["LOOP-A"]
	key, err := artifacts.NewRunKey(time.Now(), "step.s3", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	res, err := st.Write(&artifacts.Receipt{RunKey: key, LoopID: "LOOP-A", Stage: "Stage 1: Work", Step: "s3", Capability: "step.s3",
		Command: "echo s3", CommandSHA256: artifacts.CommandSHA256("echo s3"), Host: "hostb", StartedAt: now, FinishedAt: now,
		Status: artifacts.StatusPass, Prev: tip, SpineVersion: "test"}, strings.NewReader("s3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.WriteSignature(cloneB.root, res.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := pushAs(cloneB, onB); err != nil {
		t.Fatal(err)
	}
	verifiedChains(t, cloneB, 6)
	if state := artifacts.SignatureState(cloneB.root, res.Dir, receiptKeys(t, keysFile)); !strings.HasPrefix(state, "signed, verified") {
		t.Fatalf("the receipt chained anew in place: signature %q", state)
	}
	if s := cloneB.git("status", "--porcelain"); !strings.Contains(s, "?? receipts/") {
		t.Fatalf("the stopped run's receipt was committed or lost:\n%s", s)
	}
}

// pushAs pushes the clone's commits to origin/main with its run options
// as on sets them.
func pushAs(clone *testRepo, on func(*Options)) (*PushResult, error) {
	o := clone.runOpts(nil)
	on(&o)
	po := NewPushOptions(o, "origin", "main")
	po.Backoff = 10 * time.Millisecond
	return Push(context.Background(), po)
}

// verifiedChains checks that spine verify finds want receipts in the
// clone and no problem.
func verifiedChains(t *testing.T, r *testRepo, want int) {
	t.Helper()
	rep, err := artifacts.Verify(r.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Receipts != want {
		t.Fatalf("verify: %d receipts, problems %v; want %d and none", rep.Receipts, rep.Problems, want)
	}
}

// receiptKeys reads a published receipt keys file.
func receiptKeys(t *testing.T, file string) map[string]ed25519.PublicKey {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := artifacts.ParsePublicKeys(pem)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// testSigner returns a receipt signer with a key made for the test, and
// the file of its published public key.
func testSigner(t *testing.T) (*artifacts.Signer, string) {
	t.Helper()
	keyFile, keysFile := signingKey(t)
	signer, err := artifacts.LoadSigner(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return signer, keysFile
}
