package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/caps"
	"github.com/spinehq/spine/loops"
)

func TestGateBlockedThenApprovedByEnv(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(`## Stage 1: Provision

`+"```sh {name=provision gate=ALLOW_PROVISION destructive=true}\necho run >> %s\n```\n", count))})

	out := r.run(nil)
	if len(out.Held) != 1 || out.Held[0].State != StateBlocked {
		t.Fatalf("held = %+v, want provision blocked", out.Held)
	}
	if got := r.stepReceipts("provision"); !cmp.Equal(got, []string{"blocked"}) {
		t.Fatalf("receipts = %v, want one blocked", got)
	}
	// Blocked once, not on every trigger.
	r.run(nil)
	if got := r.stepReceipts("provision"); !cmp.Equal(got, []string{"blocked"}) {
		t.Fatalf("second run: receipts = %v, want still one blocked", got)
	}
	if n := countLines(t, count); n != 0 {
		t.Fatalf("gated step ran %d times unapproved", n)
	}
	// "no" is not approval.
	r.run(map[string]string{"ALLOW_PROVISION": "no"})
	if n := countLines(t, count); n != 0 {
		t.Fatal("ALLOW_PROVISION=no approved the gate")
	}
	out = r.run(map[string]string{"ALLOW_PROVISION": "yes"})
	if n := countLines(t, count); n != 1 {
		t.Fatalf("approved step ran %d times, want 1", n)
	}
	rc := out.Receipts[0]
	if rc.Status != "pass" || rc.Gate != "ALLOW_PROVISION" || rc.Approval == nil || rc.Approval.Source != "env" {
		t.Fatalf("receipt = status %s gate %q approval %+v", rc.Status, rc.Gate, rc.Approval)
	}
	r.clean()
}

// TestCheckoutDuringTheRunCommitsNothingElsewhere: when HEAD moves to
// another branch while a stage runs (here a step checks one out, standing
// for an operator), the stage is not committed there and the loop
// document is not touched; the run says so and fails. Once the original
// branch is checked out again, the next run commits the stage's receipts
// there and runs nothing again.
func TestCheckoutDuringTheRunCommitsNothingElsewhere(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(
		"## Stage 1: Go\n\n```sh {name=move}\ngit checkout -q -b feature\n```\n\n```sh {name=after}\necho after >> %[1]s\n```\n\n"+
			"## Stage 2: Later\n\n```sh {name=later}\necho later >> %[1]s\n```\n", count))})
	start := strings.TrimSpace(r.git("rev-parse", "HEAD"))
	_, err := NewRunner(r.runOpts(nil)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HEAD moved from branch main to branch feature") {
		t.Fatalf("run: %v; want it to refuse to commit on feature", err)
	}
	for _, b := range []string{"main", "feature"} {
		if got := strings.TrimSpace(r.git("rev-parse", b)); got != start {
			t.Errorf("%s is at %s, want %s: spine committed during the checkout", b, got, start)
		}
	}
	if st := r.git("status", "--porcelain", "--", "loops"); strings.TrimSpace(st) != "" {
		t.Errorf("the loop document was touched on feature:\n%s", st)
	}
	// A run on feature leaves the loop alone: the receipts are main's.
	r.run(nil)
	if got := strings.TrimSpace(r.git("rev-parse", "feature")); got != start {
		t.Errorf("a run on feature committed main's receipts there (%s)", got)
	}
	if it := r.plan(nil, "LOOP-A", "later"); it.State != StateWaiting || !strings.Contains(it.Reason, "check out main") {
		t.Errorf("later on feature: %s %q, want waiting for main to be checked out", it.State, it.Reason)
	}
	r.git("checkout", "-q", "main")
	r.run(nil)
	if data, _ := os.ReadFile(count); string(data) != "after\nlater\n" {
		t.Fatalf("ran %q, want after (once), then later on main", data)
	}
	if got := r.stepReceipts("move"); len(got) != 1 {
		t.Fatalf("move's receipts %v, want its one pass", got)
	}
	if tracked := r.git("ls-files", "receipts"); strings.Count(tracked, "receipt.json") != 3 {
		t.Errorf("receipts committed on main:\n%s", tracked)
	}
	r.clean()
}

// TestBranchRenamedDuringTheRun: a branch renamed while a run works (git
// branch -m) stops the stage's commit, as a checkout does; the old name
// is gone, so the next run, on the new name, commits the stage there.
func TestBranchRenamedDuringTheRun(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(
		"## Stage 1: Go\n\n```sh {name=rename}\ngit branch -m main ops\n```\n\n```sh {name=after}\necho after >> %s\n```\n", count))})
	if _, err := NewRunner(r.runOpts(nil)).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "branch main, which is gone (renamed or deleted), to branch ops") {
		t.Fatalf("run: %v; want the stage's commit refused", err)
	}
	r.run(nil)
	if n := countLines(t, count); n != 1 {
		t.Fatalf("after ran %d times, want 1", n)
	}
	if tracked := r.git("ls-files", "receipts"); strings.Count(tracked, "receipt.json") != 2 {
		t.Errorf("receipts committed on ops:\n%s", tracked)
	}
	r.clean()
}

// TestDetachedHeadMovedDuringTheRunCommitsNothing: a run on a detached
// HEAD (a CI checkout) whose HEAD is moved to another commit while a
// step runs commits nothing there; checked out again, the next run
// commits the stage.
func TestDetachedHeadMovedDuringTheRunCommitsNothing(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(
		"## Stage 1: Go\n\n```sh {name=move}\ngit checkout -q --detach HEAD~1\n```\n\n```sh {name=after}\necho after >> %s\n```\n", count))})
	r.commit("more", map[string]string{"notes.md": "x\n"})
	start := strings.TrimSpace(r.git("rev-parse", "HEAD"))
	r.git("checkout", "-q", "--detach")
	_, err := NewRunner(r.runOpts(nil)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the detached HEAD moved from "+start[:12]) {
		t.Fatalf("run: %v; want it to refuse to commit on the other commit", err)
	}
	if got := strings.TrimSpace(r.git("rev-parse", "HEAD")); got == start || strings.Contains(r.git("log", "--format=%s", "-1"), "spine(") {
		t.Fatalf("HEAD %s: spine committed on the commit HEAD moved to", got)
	}
	r.git("checkout", "-q", start)
	r.run(nil)
	if n := countLines(t, count); n != 1 {
		t.Fatalf("after ran %d times, want 1", n)
	}
	if strings.Count(r.git("ls-files", "receipts"), "receipt.json") != 2 {
		t.Errorf("receipts committed:\n%s", r.git("ls-files", "receipts"))
	}
}

// TestReceiptsGoneBeforeTheCommitAreNotClaimed: the stage's receipts are
// moved out of the working tree while its last step runs (standing for a
// git stash -u): the stage is not committed (a commit would claim runs
// without their receipts) and the run fails, naming a file. Once they are
// back, the next run commits them and runs nothing again.
func TestReceiptsGoneBeforeTheCommitAreNotClaimed(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	stash := filepath.Join(t.TempDir(), "stash")
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(
		"## Stage 1: Go\n\n```sh {name=one}\necho one >> %[1]s\n```\n\n```sh {name=two}\necho two >> %[1]s\n```\n\n"+
			"```sh {name=hide}\nsleep 1\nmv receipts %[2]s\n```\n", count, stash))})
	head := strings.TrimSpace(r.git("rev-parse", "HEAD"))
	_, err := NewRunner(r.runOpts(nil)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gone from the working tree before its commit") {
		t.Fatalf("run: %v; want the stage refused", err)
	}
	if got := strings.TrimSpace(r.git("rev-parse", "HEAD")); got != head {
		t.Fatalf("a commit was made (%s) without the receipts", got)
	}
	// A run before they are back (a timer's) writes nothing of theirs
	// again: the steps are held, saying where the receipts went.
	r.run(nil)
	for _, step := range []string{"one", "two"} {
		if it := r.plan(nil, "LOOP-A", step); it.State != StateFailed || !strings.Contains(it.Reason, "is gone from the working tree") {
			t.Errorf("%s while its receipt is away: %s %q, want held, saying so", step, it.State, it.Reason)
		}
	}
	if n := strings.Count(r.git("ls-files", "receipts"), "receipt.json"); n != 1 {
		t.Fatalf("%d receipts committed while two are away, want only hide's", n)
	}
	// Back, beside the last step's receipt, as git stash pop puts them.
	if out, err := exec.Command("cp", "-a", stash+"/.", filepath.Join(r.root, "receipts")).CombinedOutput(); err != nil {
		t.Fatalf("put the receipts back: %v %s", err, out)
	}
	r.run(nil)
	if data, _ := os.ReadFile(count); string(data) != "one\ntwo\n" {
		t.Fatalf("steps ran %q, want each once", data)
	}
	if tracked := r.git("ls-files", "receipts"); strings.Count(tracked, "receipt.json") != 3 {
		t.Errorf("receipts committed:\n%s", tracked)
	}
	if out, code := r.spine(context.Background(), nil, "verify"); code != 0 {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
	r.clean()
}

// TestReceiptLostForGoodIsRetried: a receipt a git clean removed before
// its stage's commit is lost: its step is held until --retry, which runs
// it again; the journal then forgets the lost run. Verify still names the
// gap the loss left in the chain: evidence was destroyed.
func TestReceiptLostForGoodIsRetried(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(
		"## Stage 1: Go\n\n```sh {name=one}\necho one >> %s\n```\n\n```sh {name=clean}\nsleep 1\ngit clean -fdq receipts\n```\n", count))})
	if _, err := NewRunner(r.runOpts(nil)).Run(context.Background()); err == nil {
		t.Fatal("the stage was committed without one's receipt")
	}
	r.run(nil)
	if it := r.plan(nil, "LOOP-A", "one"); it.State != StateFailed {
		t.Fatalf("one after its receipt was lost: %s %q, want held", it.State, it.Reason)
	}
	r.run(nil, func(o *Options) { o.Retry = map[string]bool{"one": true} })
	r.run(nil)
	if data, _ := os.ReadFile(count); string(data) != "one\none\n" {
		t.Fatalf("one ran %q, want twice (the lost run, then the retry)", data)
	}
	if it := r.plan(nil, "LOOP-A", "one"); it.State != StateDone {
		t.Errorf("one after the retry: %s %q, want done", it.State, it.Reason)
	}
	if out, code := r.spine(context.Background(), nil, "verify"); code != 1 || !strings.Contains(out, "step.clean") || !strings.Contains(out, "matches no receipt") || strings.Count(out, "receipt.json:") != 1 {
		t.Errorf("verify: exit %d, want 1 naming only the lost link before clean's receipt\n%s", code, out)
	}
	r.clean()
}

// TestPolicyChangedDuringTheRunStopsAGatedStep: a commit made while a run
// works that changes spine.yaml (here an approver removed, by a step of
// the loop itself, standing for an operator's commit) stops the loop
// before its next gated step, which the gate approved by the old policy
// would have let run; the next run decides the gate by the new policy.
func TestPolicyChangedDuringTheRunStopsAGatedStep(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	body := fmt.Sprintf("## Stage 1: Go\n\n```sh {name=revoke}\nprintf 'policy:\\n  approvers: [\"Other <other@example.com>\"]\\n' > spine.yaml\n"+
		"git -c user.name=Sec -c user.email=sec@example.com commit -q -m revoke spine.yaml\n```\n\n"+
		"```sh {name=provision gate=ALLOW_X destructive=true}\necho provision >> %s\n```\n", count)
	r.commit("setup", map[string]string{
		"spine.yaml": "policy:\n  approvers: [\"Lead <lead@example.com>\"]\n",
		"loops/a.md": loopDoc("LOOP-A", body),
	})
	r.commitAs("Lead", "lead@example.com", "approve", map[string]string{
		"loops/a.md": strings.Replace(loopDoc("LOOP-A", body), "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)})
	if it := r.plan(nil, "LOOP-A", "provision"); it.State != StatePending && it.State != StateWaiting {
		t.Fatalf("provision before the run: %s %q, want approved", it.State, it.Reason)
	}
	out := r.run(nil)
	if len(out.Skipped) != 1 || out.Skipped[0].What != "LOOP-A" || !strings.Contains(out.Skipped[0].Why, "stops before gated step provision") {
		t.Errorf("the run's skipped loops %+v, want LOOP-A, saying it stopped before provision", out.Skipped)
	}
	if got := strings.TrimSpace(r.git("log", "-1", "--format=%s", "--", "spine.yaml")); got != "revoke" {
		t.Fatalf("the step did not commit the new policy: last spine.yaml commit %q", got)
	}
	if data, err := os.ReadFile(count); err == nil {
		t.Fatalf("the gated step ran (%q) after its approver was removed", data)
	}
	if it := r.plan(nil, "LOOP-A", "provision"); it.State != StateBlocked || !strings.Contains(it.Reason, "not in policy.approvers") {
		t.Errorf("provision after the run: %s %q, want blocked by the new policy", it.State, it.Reason)
	}
	r.clean()
}

func TestGateApprovedByGitCommitOfApprover(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	step := fmt.Sprintf("## Stage 1: Provision\n\n```sh {name=provision gate=ALLOW_X}\necho run >> %s\n```\n", count)
	r.commit("setup", map[string]string{
		"spine.yaml":  "policy:\n  approvers: [\"Lead <lead@example.com>\"]\n",
		"loops/a.md":  loopDoc("LOOP-A", step),
		"loops/b.md":  loopDoc("LOOP-B", strings.ReplaceAll(step, "provision", "provision-b")),
		"loops/.keep": "",
	})
	// An operator who is not an approver adds the approval to LOOP-A.
	withApproval := func(id, body string) string {
		return strings.Replace(loopDoc(id, body), "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)
	}
	r.commit("approve A", map[string]string{"loops/a.md": withApproval("LOOP-A", step)})
	it := r.plan(nil, "LOOP-A", "provision")
	if it.State != StateBlocked || !strings.Contains(it.Reason, "not in policy.approvers") {
		t.Fatalf("non-approver approval: state %s reason %q", it.State, it.Reason)
	}
	r.run(nil)
	if n := countLines(t, count); n != 0 {
		t.Fatal("a non-approver's approval opened the gate")
	}
	// The lead approves LOOP-B.
	r.commitAs("Lead", "lead@example.com", "approve B", map[string]string{"loops/b.md": withApproval("LOOP-B", strings.ReplaceAll(step, "provision", "provision-b"))})
	out := r.run(nil)
	if n := countLines(t, count); n != 1 {
		t.Fatalf("approved step ran %d times, want 1", n)
	}
	var rc *artifacts.Receipt
	for _, x := range out.Receipts {
		if x.Step == "provision-b" {
			rc = x
		}
	}
	if rc == nil || rc.Approval == nil || rc.Approval.Source != "git" || rc.Approval.Author != "Lead <lead@example.com>" || len(rc.Approval.Commit) != 40 {
		t.Fatalf("receipt approval = %+v", rc)
	}
	// The run keeps what its approval lookups learnt for the next one.
	if _, err := os.Stat(filepath.Join(r.root, ".git", "spine", approvalsIndexName)); err != nil {
		t.Errorf("approval cache after a run: %v", err)
	}
	r.clean()
}

func TestPlainCodeBlockNeverRuns(t *testing.T) {
	r := newRepo(t)
	marker := filepath.Join(t.TempDir(), "ran")
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Docs\n\n```sh\ntouch %s\n```\n\n```bash\ntouch %s\n```\n\n```sh {name=real}\ntrue\n```\n", marker, marker))})
	out := r.run(nil)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a code block without attributes ran")
	}
	if len(out.Receipts) != 1 || out.Receipts[0].Step != "real" {
		t.Fatalf("receipts = %d, want only the attributed step", len(out.Receipts))
	}
}

func TestExactlyOnceOverThreeRuns(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=once destructive=true}\necho x >> %s\n```\n\n## Stage 2: Then\n\n```sh {name=twice}\necho y >> %s\n```\n", count, count))})
	for i := 0; i < 3; i++ {
		r.run(nil)
		r.clean()
	}
	if n := countLines(t, count); n != 2 {
		t.Fatalf("steps executed %d times over three runs, want 2 (each once)", n)
	}
	if got := len(r.receipts()); got != 2 {
		t.Fatalf("%d receipts, want 2", got)
	}
	// One commit per stage, with the contract's message and trailers.
	log := r.git("log", "--format=%s%n%b---")
	for _, want := range []string{"spine(LOOP-A): stage 1 Do — 1 pass", "spine(LOOP-A): stage 2 Then — 1 pass", "Spine-Run: ", "Spine-Host: testhost"} {
		if !strings.Contains(log, want) {
			t.Errorf("git log lacks %q:\n%s", want, log)
		}
	}
}

func TestFailedStepNotRerunUntilEditedOrRetried(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	doc := func(extra string) string {
		return loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=flaky}\necho x >> %s\n%sexit 4\n```\n\n```sh {name=after}\ntrue\n```\n", count, extra))
	}
	r.commit("loop", map[string]string{"loops/a.md": doc("")})
	out := r.run(nil)
	if !out.Failed || countLines(t, count) != 1 {
		t.Fatalf("first run: failed=%v count=%d", out.Failed, countLines(t, count))
	}
	if got := r.stepReceipts("after"); len(got) != 0 {
		t.Fatal("a step after a blocking failure ran")
	}
	it := r.plan(nil, "LOOP-A", "flaky")
	if it.State != StateFailed || !strings.Contains(it.Reason, "exit 4") || !strings.Contains(it.Reason, "--retry flaky") {
		t.Fatalf("plan: %s %q", it.State, it.Reason)
	}
	out = r.run(nil)
	if countLines(t, count) != 1 || len(out.Held) != 1 {
		t.Fatalf("failed step re-ran without edit or retry (count %d, held %v)", countLines(t, count), out.Held)
	}
	r.run(nil, func(o *Options) { o.Retry = map[string]bool{"flaky": true} })
	if countLines(t, count) != 2 {
		t.Fatal("--retry did not re-run the failed step")
	}
	r.commit("edit", map[string]string{"loops/a.md": doc("echo edited\n")})
	r.run(nil)
	if countLines(t, count) != 3 {
		t.Fatal("an edited failed step was not re-run")
	}
	r.clean()
}

func TestAllowFailureContinues(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Do\n\n```sh {name=soft allow_failure=true}\nexit 3\n```\n\n```sh {name=next}\ntrue\n```\n")})
	out := r.run(nil)
	if out.Failed {
		t.Fatal("an allowed failure failed the run")
	}
	if got := r.stepReceipts("next"); !cmp.Equal(got, []string{"pass"}) {
		t.Fatalf("next = %v", got)
	}
	if it := r.plan(nil, "LOOP-A", "soft"); it.State != StateDone {
		t.Fatalf("allowed failure state = %s", it.State)
	}
}

func TestEditedAfterPassIsReportedNotRerun(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=wipe destructive=true}\necho x >> %s\n```\n", count))})
	r.run(nil)
	src := r.read("loops/a.md")
	r.commit("edit", map[string]string{"loops/a.md": strings.Replace(src, "echo x", "echo changed", 1)})
	it := r.plan(nil, "LOOP-A", "wipe")
	if it.State != StateEdited {
		t.Fatalf("state = %s, want edited", it.State)
	}
	r.run(nil)
	if n := countLines(t, count); n != 1 {
		t.Fatalf("passed step re-ran after an edit (%d runs)", n)
	}
}

func TestLintErrorsSkipLoopOthersRun(t *testing.T) {
	r := newRepo(t)
	r.commit("loops", map[string]string{
		"loops/bad.md":  loopDoc("LOOP-BAD", "## Stage 1: X\n\n```sh {name=x colour=red}\ntrue\n```\n"),
		"loops/good.md": loopDoc("LOOP-GOOD", "## Stage 1: X\n\n```sh {name=y}\ntrue\n```\n"),
	})
	out := r.run(nil)
	if got := r.stepReceipts("x"); len(got) != 0 {
		t.Fatal("a loop with lint errors ran")
	}
	// Skipped with its findings named, file:line (the issue's "skipped
	// with its findings printed"), and the run says a document is invalid.
	if len(out.Skipped) != 1 || !strings.Contains(out.Skipped[0].String(), `loops/bad.md:11: error: unknown step attribute "colour"`) || !out.Invalid {
		t.Fatalf("skipped %q, invalid %v", out.Skipped, out.Invalid)
	}
	if got := r.stepReceipts("y"); !cmp.Equal(got, []string{"pass"}) {
		t.Fatalf("the good loop did not run: %v", got)
	}
	if it := r.plan(nil, "LOOP-BAD", "x"); it.State != StateWaiting || !strings.Contains(it.Reason, "unknown step attribute") {
		t.Fatalf("plan of bad loop: %s %q", it.State, it.Reason)
	}
}

func TestUncommittedDocumentRefused(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	doc := loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: X\n\n```sh {name=x}\necho x >> %s\n```\n", count))
	r.commit("loop", map[string]string{"loops/a.md": doc})
	r.write("loops/a.md", doc+"\nhalf an edit\n")
	out := r.run(nil)
	if countLines(t, count) != 0 || len(out.Skipped) != 1 {
		t.Fatalf("ran a loop with uncommitted changes (count %d, skipped %v)", countLines(t, count), out.Skipped)
	}
	if r.read("loops/a.md") != doc+"\nhalf an edit\n" {
		t.Fatal("the operator's half-edit was touched")
	}
}

// TestUncommittedLeftoverOfFailedCommit: a run whose commit failed (here
// a stale index.lock; a crash or a full disk leave the same) has rewritten
// the loop document's evidence block and heartbeat without committing
// them. That is spine's own edit, not someone's half-edit: the next run
// commits it with the recovered receipt and goes on with the loop, rather
// than skipping the loop until an operator commits spine's bytes by hand.
// A real half-edit beside it is still refused.
func TestUncommittedLeftoverOfFailedCommit(t *testing.T) {
	body := func(count string) string {
		return fmt.Sprintf("## Stage 1: One\n\n```sh {name=one}\necho one >> %s\n```\n\n## Stage 2: Two\n\n```sh {name=two}\necho two >> %s\n```\n", count, count)
	}
	// failedCommit makes a repository with the loop and runs stage 1
	// while index.lock exists: the step runs, its receipt and the
	// rewritten document stay uncommitted. It returns the repository and
	// the steps' counter file.
	failedCommit := func(t *testing.T) (*testRepo, string) {
		t.Helper()
		r := newRepo(t)
		count := counter(t)
		r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", body(count))})
		lock := filepath.Join(r.root, ".git", "index.lock")
		if err := os.WriteFile(lock, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := NewRunner(r.runOpts(nil)).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "index.lock exists") {
			t.Fatalf("run with index.lock held: %v", err)
		}
		if err := os.Remove(lock); err != nil {
			t.Fatal(err)
		}
		if st := r.git("status", "--porcelain", "loops"); !strings.Contains(st, "loops/a.md") {
			t.Fatalf("the failed commit left the document as committed: %q", st)
		}
		return r, count
	}

	t.Run("recovered with its receipt", func(t *testing.T) {
		r, count := failedCommit(t)
		out := r.run(nil)
		if got := countLines(t, count); got != 2 || len(out.Skipped) != 0 {
			t.Fatalf("next run: steps ran %d times in all, want 2 (one, two); skipped %v", got, out.Skipped)
		}
		r.clean()
		// The recovery commit holds the receipt and the document.
		files := r.git("show", "--name-only", "--format=", "HEAD~1")
		if !strings.Contains(files, "loops/a.md") || !strings.Contains(files, "receipt.json") {
			t.Fatalf("recovery commit:\n%s", files)
		}
		if ev := loops.ParseEvidence([]byte(r.read("loops/a.md"))); len(ev) != 2 {
			t.Fatalf("evidence after the recovery: %+v", ev)
		}
	})

	t.Run("receipt committed before, document left", func(t *testing.T) {
		// What an earlier spine's recovery left: it committed the receipt
		// and not the document.
		r, count := failedCommit(t)
		r.git("add", "receipts")
		r.git("commit", "-q", "-m", "receipts only")
		out := r.run(nil)
		if got := countLines(t, count); got != 2 || len(out.Skipped) != 0 {
			t.Fatalf("next run: steps ran %d times in all, want 2; skipped %v", got, out.Skipped)
		}
		r.clean()
	})

	t.Run("a half-edit beside it is refused", func(t *testing.T) {
		r, count := failedCommit(t)
		edited := strings.Replace(r.read("loops/a.md"), "## Stage 2: Two", "## Stage 2: Two (half an edit)", 1)
		r.write("loops/a.md", edited)
		out := r.run(nil)
		if got := countLines(t, count); got != 1 || len(out.Skipped) != 1 {
			t.Fatalf("next run: steps ran %d times in all, want 1; skipped %v", got, out.Skipped)
		}
		if r.read("loops/a.md") != edited {
			t.Fatal("the operator's half-edit was touched")
		}
		// The receipt is committed all the same (it is not the operator's).
		if st := r.git("status", "--porcelain"); strings.TrimSpace(st) != "M loops/a.md" {
			t.Fatalf("status after the run:\n%s", st)
		}
	})
}

// TestPlanShowsUncommittedLoopWaiting: spine plan says what spine run
// would do. A loop whose document has uncommitted changes is skipped by
// the run, so its steps that would run wait, with the reason, and count
// as waiting for an operator; a document loaded without its bytes (as
// plan and status load them) is judged by its blob id the same way.
// The watcher's look finds no work in it.
func TestPlanShowsUncommittedLoopWaiting(t *testing.T) {
	r := newRepo(t)
	doc := loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=x}\ntrue\n```\n\n```sh {name=g gate=ALLOW_G}\ntrue\n```\n")
	r.commit("loop", map[string]string{"loops/a.md": doc})
	planOf := func(noSource bool) []Item {
		t.Helper()
		opts := r.runOpts(nil)
		if noSource {
			opts.Set = loops.LoadWith(r.root, []string{"loops/a.md"}, loops.LoadOptions{NoSource: true})
		}
		p, err := Plan(opts)
		if err != nil {
			t.Fatal(err)
		}
		look, err := Look(opts)
		if err != nil {
			t.Fatal(err)
		}
		items := p.PlanLoop(opts.Set.Docs[0])
		if wantWork := items[0].State == StatePending; look.Work != wantWork {
			t.Fatalf("Look: work %v (%s), want %v", look.Work, look.Reason, wantWork)
		}
		return items
	}
	for _, noSource := range []bool{false, true} {
		if items := planOf(noSource); items[0].State != StatePending || items[0].Uncommitted || OperatorHold(items[0]) {
			t.Fatalf("committed (no source %v): %s %q", noSource, items[0].State, items[0].Reason)
		}
	}
	r.write("loops/a.md", doc+"\nhalf an edit\n")
	for _, noSource := range []bool{false, true} {
		items := planOf(noSource)
		x, g := items[0], items[1]
		if x.State != StateWaiting || !x.Uncommitted || !strings.Contains(x.Reason, "loops/a.md has uncommitted changes") || !OperatorHold(x) {
			t.Fatalf("uncommitted (no source %v): %s %q", noSource, x.State, x.Reason)
		}
		// A gate keeps its own reason; the run would not mark it.
		if g.State != StateBlocked || !g.Uncommitted || !strings.Contains(g.Reason, "ALLOW_G") {
			t.Fatalf("uncommitted gate (no source %v): %s %q", noSource, g.State, g.Reason)
		}
	}
	out := r.run(nil)
	if len(out.Skipped) != 1 || len(out.Receipts) != 0 || len(out.Held) != 0 {
		t.Fatalf("run: skipped %v, %d receipts, held %v", out.Skipped, len(out.Receipts), out.Held)
	}
}

func TestEvidenceBlockAndHeartbeat(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Baseline\n\n```sh {name=base artifact=01-base.txt}\necho baseline\n```\n\n## Notes\n\nkeep me\n")})
	out := r.run(nil)
	doc := r.read("loops/a.md")
	key := out.Receipts[0].RunKey
	for _, want := range []string{"last_heartbeat_utc: \"", "## Execution Evidence", "<!-- spine:evidence:begin -->", "#### Stage 1: Baseline", "- `" + key + "` (pass, step base)", "keep me"} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
	if got := r.read("artifacts/loop-a/01-base.txt"); got != "baseline\n" {
		t.Errorf("artifact = %q", got)
	}
	rc := out.Receipts[0]
	if len(rc.Artifacts) != 1 || rc.Artifacts[0].Path != "artifacts/loop-a/01-base.txt" || rc.Artifacts[0].Size != 9 {
		t.Errorf("receipt artifacts = %+v", rc.Artifacts)
	}
	// The parsed document still has exactly its one stage.
	opts := r.runOpts(nil)
	if n := len(opts.Set.ByID("LOOP-A").Stages); n != 1 {
		t.Errorf("document has %d stages after the evidence block was written, want 1", n)
	}
	r.clean()
}

func TestRedactsSecretsEverywhere(t *testing.T) {
	r := newRepo(t)
	secret := "s3cr3t-Value-9876"
	// The token is assembled at run time so the document itself holds no
	// token-shaped string.
	r.commit("loop", map[string]string{
		"spine.yaml": "policy:\n  secret_env: [DB_PASSWORD]\n",
		"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Leak\n\n```sh {name=leak artifact=leak.txt}\necho \"password is $DB_PASSWORD\"\necho \"err $DB_PASSWORD\" >&2\nT=ghp_; T=${T}abcdefghijklmnopqrstuvwxyz0123456789; echo \"token $T\"\n```\n"),
	})
	out := r.run(map[string]string{"DB_PASSWORD": secret})
	rc := out.Receipts[0]
	if rc.Redactions < 3 {
		t.Errorf("redactions = %d, want >= 3", rc.Redactions)
	}
	token := "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	err := filepath.Walk(r.root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), secret) || strings.Contains(string(b), token) {
			t.Errorf("%s holds a secret", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	objs := r.git("cat-file", "--batch-all-objects", "--batch")
	if strings.Contains(objs, secret) || strings.Contains(objs, token) {
		t.Error("a git object holds a secret")
	}
	if !strings.Contains(r.read("artifacts/loop-a/leak.txt"), "[REDACTED]") {
		t.Error("artifact not redacted")
	}
}

func TestVerifyCatchesTampering(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=one}\necho 1\n```\n\n```sh {name=two}\necho 2\n```\n\n```sh {name=three}\necho 3\n```\n")})
	out := r.run(nil)
	if len(out.Receipts) != 3 {
		t.Fatalf("%d receipts", len(out.Receipts))
	}
	verify := func() []string {
		rep, err := artifacts.Verify(r.root, nil)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, p := range rep.Problems {
			keys = append(keys, p.RunKey+": "+p.Problem)
		}
		return keys
	}
	if p := verify(); len(p) != 0 {
		t.Fatalf("fresh run does not verify: %v", p)
	}
	store := &artifacts.Store{Root: r.root}
	dir := func(i int) string {
		d, _ := store.RelDir(out.Receipts[i].RunKey)
		return filepath.Join(r.root, d)
	}
	// A changed output.log.
	logPath := filepath.Join(dir(0), "output.log")
	orig, _ := os.ReadFile(logPath)
	os.WriteFile(logPath, append(orig, "forged\n"...), 0o644)
	if p := verify(); len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), out.Receipts[0].RunKey) {
		t.Errorf("changed output.log not caught: %v", p)
	}
	os.WriteFile(logPath, orig, 0o644)
	// A changed receipt breaks the chain at the next one.
	rcPath := filepath.Join(dir(1), "receipt.json")
	origRC, _ := os.ReadFile(rcPath)
	os.WriteFile(rcPath, []byte(strings.Replace(string(origRC), `"exit_code": 0`, `"exit_code": 0 `, 1)), 0o644)
	if p := verify(); len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), out.Receipts[2].RunKey) {
		t.Errorf("changed receipt not caught: %v", p)
	}
	os.WriteFile(rcPath, origRC, 0o644)
	if p := verify(); len(p) != 0 {
		t.Fatalf("restored receipts do not verify: %v", p)
	}
	// The last receipt of the chain removed: the chain cannot show it,
	// the evidence block (CheckEvidence, which spine verify adds) does.
	evidence := func() []string {
		var keys []string
		for _, p := range CheckEvidence(r.runOpts(nil).Set.Docs, store) {
			keys = append(keys, p.Path+" "+p.RunKey)
		}
		return keys
	}
	if p := evidence(); len(p) != 0 {
		t.Fatalf("evidence of a fresh run: %v", p)
	}
	aside := filepath.Join(t.TempDir(), "tip")
	if err := os.Rename(dir(2), aside); err != nil {
		t.Fatal(err)
	}
	if p := verify(); len(p) != 0 {
		t.Fatalf("the chain alone should not see the removed tip, got %v", p)
	}
	if p := evidence(); len(p) != 1 || !strings.HasPrefix(p[0], "loops/a.md:") || !strings.HasSuffix(p[0], out.Receipts[2].RunKey) {
		t.Errorf("removed last receipt not caught: %v", p)
	}
	if err := os.Rename(aside, dir(2)); err != nil {
		t.Fatal(err)
	}
	if p := verify(); len(p) != 0 {
		t.Fatalf("restored receipts do not verify: %v", p)
	}
	// A receipt removed from the middle of the chain.
	os.RemoveAll(dir(1))
	if p := verify(); len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), out.Receipts[2].RunKey) {
		t.Errorf("removed receipt not caught: %v", p)
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=stubborn timeout=1s}\ntrap '' TERM\nsleep 60 &\nsleep 60\n```\n")})
	start := time.Now()
	out := r.run(nil)
	if el := time.Since(start); el > killGrace+pipeGrace+5*time.Second {
		t.Fatalf("run took %s", el)
	}
	rc := out.Receipts[0]
	if rc.Status != "fail" || !strings.Contains(rc.Note, "timed out after 1s") {
		t.Fatalf("receipt: %s %q", rc.Status, rc.Note)
	}
	// The plan's reason says why the step failed, not only its exit.
	plan, _ := r.spine(context.Background(), nil, "plan")
	if !regexp.MustCompile(`failed at \S+, exit \d+ \(timed out after 1s[^)]*\); change its command`).MatchString(plan) {
		t.Errorf("plan does not say the step timed out:\n%s", plan)
	}
}

// TestOutputUnderTheLimitIsKeptWhole: the limit counts the step's output,
// not the log's timestamps: 4 MB of output in 400,000 lines (a log of
// 18 MB, over 16 MiB) is kept whole, its last line too.
func TestOutputUnderTheLimitIsKeptWhole(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=talk}\nyes 012345678 | head -c 4000000\necho LAST\n```\n")})
	out := r.run(nil)
	rc := out.Receipts[0]
	if rc.OutputTruncated || rc.Note != "" || rc.OutputBytes != 4000005 {
		t.Fatalf("receipt: truncated=%v bytes=%d note=%q", rc.OutputTruncated, rc.OutputBytes, rc.Note)
	}
	logs, _ := filepath.Glob(filepath.Join(r.root, "receipts", "*", "*", "*", rc.RunKey, "output.log"))
	if len(logs) != 1 {
		t.Fatalf("output.log of %s: %v", rc.RunKey, logs)
	}
	data, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	if log := string(data); !strings.HasSuffix(log, " [out+err] LAST\n") {
		t.Fatalf("output.log ends %q", log[max(0, len(log)-200):])
	}
}

// TestOutputOverTheLimitIsCutAndSaysWhere: the note says how much of the
// output the log kept.
func TestOutputOverTheLimitIsCutAndSaysWhere(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=talk}\nyes 012345678901234567890123456789012345678 | head -c 4000000\n```\n")})
	out := r.run(nil, func(o *Options) { o.OutputLimit = 1 << 20 })
	rc := out.Receipts[0]
	if !rc.OutputTruncated || rc.OutputBytes != 4000000 || rc.Note != "output cut at 1048560 bytes of 4000000" {
		t.Fatalf("receipt: truncated=%v bytes=%d note=%q", rc.OutputTruncated, rc.OutputBytes, rc.Note)
	}
}

func TestHugeBinaryOutputAndDaemons(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=flood artifact=flood.bin}\nhead -c 50000000 /dev/urandom\nprintf 'a\\000b\\n'\n```\n\n```sh {name=daemon}\nsleep 300 &\necho started\n```\n")})
	start := time.Now()
	out := r.run(nil, func(o *Options) { o.OutputLimit = 1 << 20 })
	if el := time.Since(start); el > 60*time.Second {
		t.Fatalf("run took %s", el)
	}
	flood := out.Receipts[0]
	if !flood.OutputTruncated || flood.OutputBytes < 50000000 || !strings.Contains(flood.Note, "output cut") {
		t.Fatalf("flood receipt: truncated=%v bytes=%d note=%q", flood.OutputTruncated, flood.OutputBytes, flood.Note)
	}
	fi, err := os.Stat(filepath.Join(r.root, "artifacts/loop-a/flood.bin"))
	if err != nil || fi.Size() > 2<<20 {
		t.Fatalf("artifact size %v, err %v", fi, err)
	}
	if out.Receipts[1].Status != "pass" {
		t.Fatalf("daemon step: %s", out.Receipts[1].Status)
	}
	if rep, _ := artifacts.Verify(r.root, nil); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}

func TestArtifactEscapeRefusedBeforeRunning(t *testing.T) {
	for _, name := range []string{"../../etc/x", "/etc/passwd", "a/b"} {
		if err := artifacts.ValidateFileName(name); err == nil {
			t.Errorf("artifact name %q accepted", name)
		}
	}
}

func TestKilledMidStepIsHeldAsInterrupted(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\necho started >> %s\necho wiping\nsleep 30\n```\n\n```sh {name=check idempotent=true}\ntrue\n```\n", count))})
	r.killRunOnce(count)

	out, code := r.spine(context.Background(), nil, "run")
	if code != 3 {
		t.Fatalf("run after crash: exit %d, want 3 (held)\n%s", code, out)
	}
	if n := countLines(t, count); n != 1 {
		t.Fatalf("the interrupted destructive step ran %d times", n)
	}
	if got := r.stepReceipts("wipe"); !cmp.Equal(got, []string{"interrupted"}) {
		t.Fatalf("wipe receipts = %v", got)
	}
	plan, _ := r.spine(context.Background(), nil, "plan", "--json")
	if !strings.Contains(plan, `"state": "interrupted"`) {
		t.Fatalf("plan does not hold the step:\n%s", plan)
	}
	// A third run does not run it either; resolving it lets the loop go on.
	r.spine(context.Background(), nil, "run")
	if n := countLines(t, count); n != 1 {
		t.Fatalf("the interrupted step ran again (%d)", n)
	}
	if out, code := r.spine(context.Background(), nil, "resolve", "wipe", "--as", "pass", "--note", "checked by hand: disks wiped"); code != 0 {
		t.Fatalf("resolve: %d %s", code, out)
	}
	if out, code := r.spine(context.Background(), nil, "run"); code != 0 {
		t.Fatalf("run after resolve: %d %s", code, out)
	}
	if got := r.stepReceipts("check"); !cmp.Equal(got, []string{"pass"}) {
		t.Fatalf("check = %v", got)
	}
	if out, code := r.spine(context.Background(), nil, "verify"); code != 0 {
		t.Fatalf("verify after crash: %d %s", code, out)
	}
	r.clean()
}

// TestResolveNotCommittedIsRecovered: a resolve whose commit fails (the
// index locked by another git process; a kill mid-commit is the same)
// leaves its receipt in the working tree; the next run commits it with
// the loop's evidence, so that a clone verifies and does not hold the
// step for a receipt that never reached git.
func TestResolveNotCommittedIsRecovered(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\nfalse\n```\n\n## Stage 2: Next\n\n```sh {name=next}\ntrue\n```\n")})
	ctx := context.Background()
	if out, code := r.spine(ctx, nil, "run"); code != 1 {
		t.Fatalf("run: exit %d, want 1 (wipe fails)\n%s", code, out)
	}
	lock := filepath.Join(r.root, ".git", "index.lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := r.spine(ctx, nil, "resolve", "wipe", "--as", "pass", "--note", "wiped by hand"); code != 1 || !strings.Contains(out, "the next spine command commits it") {
		t.Fatalf("resolve with the index locked: exit %d, want 1 (not stored), saying the next command commits it\n%s", code, out)
	}
	os.Remove(lock)
	if out, code := r.spine(ctx, nil, "run"); code != 0 {
		t.Fatalf("run after the failed resolve: exit %d, want 0\n%s", code, out)
	}
	if st := r.git("status", "--porcelain"); st != "" {
		t.Fatalf("left uncommitted after the run:\n%s", st)
	}
	if got := r.stepReceipts("next"); !cmp.Equal(got, []string{"pass"}) {
		t.Errorf("next = %v, want [pass]", got)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", r.root, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v %s", err, out)
	}
	c := &testRepo{t: t, root: clone}
	if out, code := c.spine(ctx, nil, "verify"); code != 0 {
		t.Errorf("verify in a clone: exit %d\n%s", code, out)
	}
	if out, code := c.spine(ctx, nil, "plan"); code != 0 || strings.Contains(out, "wipe") {
		t.Errorf("plan in a clone: exit %d, want 0 and nothing about wipe\n%s", code, out)
	}
}

// TestConcurrentRunsExecuteOnce: runs started together on one checkout
// take turns, and the step runs once; so they do when some were given a
// state folder of their own (SPINE_STATE_DIR: another journal and ledger),
// as the repository's own lock is taken too.
func TestConcurrentRunsExecuteOnce(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprintf("own state folders=%v", own), func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: X\n\n```sh {name=once destructive=true}\necho x >> %s\nsleep 0.3\n```\n", count))})
			var wg sync.WaitGroup
			codes := make([]int, 4)
			for i := range codes {
				var env []string
				if own && i%2 == 1 {
					env = []string{"SPINE_STATE_DIR=" + t.TempDir()}
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, codes[i] = r.spine(context.Background(), env, "run", "--wait", "30s")
				}()
			}
			wg.Wait()
			if n := countLines(t, count); n != 1 {
				t.Fatalf("step executed %d times by 4 concurrent runs", n)
			}
			for _, c := range codes {
				if c != 0 {
					t.Fatalf("exit codes %v", codes)
				}
			}
			r.clean()
		})
	}
}

func TestLockedRunExits75(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=slow}\nsleep 3\n```\n")})
	cmd := exec.Command(spineBin(), "--repo", r.root, "run")
	cmd.Env = gitEnv("Operator", "op@example.com")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lockFile := filepath.Join(r.root, ".git", "spine", "lock")
	waitFor(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(lockFile)
		return strings.TrimSpace(string(b)) != ""
	})
	out, code := r.spine(context.Background(), nil, "run")
	if code != 75 || !strings.Contains(out, fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Fatalf("second run: exit %d, output %q", code, out)
	}
}

func TestExitCodes(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=bad}\nexit 2\n```\n")})
	if _, code := r.spine(context.Background(), nil, "plan"); code != 0 {
		t.Errorf("plan with pending work: exit %d, want 0", code)
	}
	if _, code := r.spine(context.Background(), nil, "run"); code != 1 {
		t.Errorf("run with a failing step: exit %d, want 1", code)
	}
	if _, code := r.spine(context.Background(), nil, "run"); code != 3 {
		t.Errorf("run with a held failure: exit %d, want 3", code)
	}
	if _, code := r.spine(context.Background(), nil, "plan"); code != 3 {
		t.Errorf("plan with a held failure: exit %d, want 3", code)
	}
	if _, code := r.spine(context.Background(), nil, "run", "--no-such-flag"); code != 2 {
		t.Errorf("bad usage: exit %d, want 2", code)
	}
	// An active loop whose document is invalid: skipped with its finding
	// named, exit 2 ("an invalid document"), also when another loop
	// waits; a draft with the same error does not count.
	r.commit("invalid", map[string]string{
		"loops/b.md":     loopDoc("LOOP-B", "## Stage 1: X\n\n```sh {name=y colour=red}\ntrue\n```\n"),
		"loops/draft.md": strings.Replace(loopDoc("LOOP-D", "## Stage 1: X\n\n```sh {name=z colour=red}\ntrue\n```\n"), "status: active", "status: draft", 1),
	})
	for _, cmd := range []string{"plan", "run"} {
		out, code := r.spine(context.Background(), nil, cmd)
		if code != 2 || !strings.Contains(out, `loops/b.md:11: error: unknown step attribute "colour"`) {
			t.Errorf("%s with an invalid active loop: exit %d, want 2\n%s", cmd, code, out)
		}
	}
	r.git("rm", "-q", "loops/b.md")
	r.commit("valid again", nil)
	if _, code := r.spine(context.Background(), nil, "run"); code != 3 {
		t.Errorf("run with only an invalid draft: exit %d, want 3 (the held failure)", code)
	}
}

// TestDamagedReceiptNotRerun checks that a step whose passing receipt can
// no longer be read (a broken receipt.json) is not run again as if it had
// never run: the plan holds it, naming the receipt, unless --retry says
// run it anyway.
func TestDamagedReceiptNotRerun(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=drop destructive=true}\necho x >> %s\n```\n", count))})
	r.run(nil)
	paths, _ := filepath.Glob(filepath.Join(r.root, "receipts", "*", "*", "*", "*", artifacts.ReceiptFile))
	if len(paths) != 1 || countLines(t, count) != 1 {
		t.Fatalf("first run: %d receipts, ran %d times", len(paths), countLines(t, count))
	}
	dir, err := filepath.Rel(r.root, filepath.Dir(paths[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths[0], []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.commit("receipt damaged", nil)
	it := r.plan(nil, "LOOP-A", "drop")
	if it.State != StateFailed || !strings.Contains(it.Reason, filepath.ToSlash(dir)) || !strings.Contains(it.Reason, "--retry drop") {
		t.Fatalf("plan with the receipt damaged: %s %q", it.State, it.Reason)
	}
	opts := r.runOpts(nil)
	opts.Retry = map[string]bool{"drop": true}
	p, err := Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range p.PlanLoop(opts.Set.ByID("LOOP-A")) {
		if it.Name == "drop" && it.State != StatePending {
			t.Fatalf("plan with --retry drop: %s %q, want pending", it.State, it.Reason)
		}
	}
	r.run(nil)
	if n := countLines(t, count); n != 1 {
		t.Fatalf("a step whose receipt is damaged ran again (%d times in all)", n)
	}
}

// TestLostReceiptNotRerun: a passed step whose receipt folder is gone (from
// the working tree, or deleted in a commit) is not run again, because the
// loop's evidence block in git still records the run; --retry runs it, and
// the regenerated block keeps the record of the lost run.
func TestLostReceiptNotRerun(t *testing.T) {
	tests := []struct {
		name string
		lose func(r *testRepo, dir string)
	}{
		{"run folder deleted", func(r *testRepo, dir string) {
			if err := os.RemoveAll(filepath.Join(r.root, dir)); err != nil {
				t.Fatal(err)
			}
		}},
		{"receipts folder deleted", func(r *testRepo, dir string) {
			if err := os.RemoveAll(filepath.Join(r.root, "receipts")); err != nil {
				t.Fatal(err)
			}
		}},
		{"deletion committed", func(r *testRepo, dir string) {
			r.git("rm", "-q", "-r", dir)
			r.commit("drop a receipt", nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=drop destructive=true}\necho x >> %s\n```\n", count))})
			r.run(nil)
			rcs := r.receipts()
			if len(rcs) != 1 || countLines(t, count) != 1 {
				t.Fatalf("first run: %d receipts, ran %d times", len(rcs), countLines(t, count))
			}
			lostKey := rcs[0].RunKey
			dir, err := (&artifacts.Store{Root: r.root}).RelDir(lostKey)
			if err != nil {
				t.Fatal(err)
			}
			tt.lose(r, dir)

			it := r.plan(nil, "LOOP-A", "drop")
			if it.State != StateFailed || !strings.Contains(it.Reason, "loops/a.md:") || !strings.Contains(it.Reason, dir) || !strings.Contains(it.Reason, "--retry drop") {
				t.Fatalf("plan with the receipt lost: %s %q", it.State, it.Reason)
			}
			out := r.run(nil)
			if n := countLines(t, count); n != 1 {
				t.Fatalf("a step whose receipt was lost ran again (%d times in all)", n)
			}
			if len(out.Receipts) != 0 || len(out.Held) != 1 || out.Held[0].Name != "drop" {
				t.Fatalf("run with the receipt lost: %d receipts written, held %+v", len(out.Receipts), out.Held)
			}
			opts := r.runOpts(nil)
			probs := CheckEvidence(opts.Set.Docs, &artifacts.Store{Root: r.root})
			if len(probs) != 1 || probs[0].RunKey != lostKey || !strings.HasPrefix(probs[0].Path, "loops/a.md:") {
				t.Fatalf("CheckEvidence: %+v", probs)
			}

			r.run(nil, func(o *Options) { o.Retry = map[string]bool{"drop": true} })
			if n := countLines(t, count); n != 2 {
				t.Fatalf("--retry drop: ran %d times in all, want 2", n)
			}
			doc := r.read("loops/a.md")
			keys := loops.ParseEvidence([]byte(doc))
			if len(keys) != 2 || keys[0].RunKey != lostKey || keys[1].RunKey == lostKey || keys[1].Status != artifacts.StatusPass {
				t.Fatalf("evidence after the retry: %+v\n%s", keys, doc)
			}
			if it := r.plan(nil, "LOOP-A", "drop"); it.State != StateDone {
				t.Fatalf("plan after the retry: %s %q", it.State, it.Reason)
			}
		})
	}
}

// TestUndoneDestructiveRunNotRerun: an operator undoes spine's commit
// (git reset --hard, git revert). The receipt and the evidence bullet
// that said a destructive step ran are both gone, but the host that ran
// it remembers (its ledger in the state folder): the step is held, named,
// not run again, until --retry or spine resolve. A step that is not
// destructive runs again, as a new step would.
func TestUndoneDestructiveRunNotRerun(t *testing.T) {
	for _, undo := range []struct {
		name string
		args []string
	}{
		{"git reset --hard", []string{"reset", "-q", "--hard", "HEAD~1"}},
		{"git revert", []string{"revert", "--no-edit", "HEAD"}},
	} {
		t.Run(undo.name, func(t *testing.T) {
			r := newRepo(t)
			wipes, looks := counter(t), counter(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 0: Look\n\n```sh {name=look}\necho x >> %s\n```\n\n## Stage 1: Do\n\n```sh {name=wipe destructive=true}\necho x >> %s\n```\n", looks, wipes))})
			r.run(nil)
			rcs := r.receipts()
			if len(rcs) != 2 || countLines(t, wipes) != 1 {
				t.Fatalf("first run: %d receipts, wiped %d times", len(rcs), countLines(t, wipes))
			}
			r.gitAs("Operator", "op@example.com", undo.args...)
			if undo.name == "git reset --hard" {
				r.gitAs("Operator", "op@example.com", "reset", "-q", "--hard", "HEAD~1") // both stages' commits
			} else {
				r.gitAs("Operator", "op@example.com", "revert", "--no-edit", "HEAD~2")
			}
			if len(r.receipts()) != 0 || len(loops.ParseEvidence([]byte(r.read("loops/a.md")))) != 0 {
				t.Fatal("the undo left a receipt or an evidence bullet")
			}

			wipeKey := rcs[0].RunKey
			if rcs[0].Step != "wipe" {
				wipeKey = rcs[1].RunKey
			}
			checkLedger := func(want string) {
				t.Helper()
				probs := ledgerProblems(t, r)
				var got []string
				for _, p := range probs {
					got = append(got, p.RunKey)
				}
				if (want == "") != (len(got) == 0) || want != "" && (len(got) != 1 || got[0] != want) {
					t.Fatalf("CheckLedger: %v, want %q", probs, want)
				}
			}
			checkLedger(wipeKey)
			it := r.plan(nil, "LOOP-A", "wipe")
			if it.State != StateFailed || !strings.Contains(it.Reason, "this host ran it as "+wipeKey) || !strings.Contains(it.Reason, "--retry wipe") {
				t.Fatalf("plan of the undone destructive step: %s %q", it.State, it.Reason)
			}
			if it := r.plan(nil, "LOOP-A", "look"); it.State != StatePending {
				t.Fatalf("plan of the undone read-only step: %s %q", it.State, it.Reason)
			}
			out := r.run(nil)
			if n := countLines(t, wipes); n != 1 {
				t.Fatalf("an undone destructive step ran again (%d times in all)", n)
			}
			if countLines(t, looks) != 2 || len(out.Held) != 1 || out.Held[0].Name != "wipe" {
				t.Fatalf("run after the undo: looked %d times, held %+v", countLines(t, looks), out.Held)
			}

			if undo.name == "git revert" {
				// spine resolve records the operator's word: done.
				if _, err := NewRunner(r.runOpts(nil)).Resolve(context.Background(), "LOOP-A", "wipe", artifacts.StatusPass, "restored by hand"); err != nil {
					t.Fatal(err)
				}
				if it := r.plan(nil, "LOOP-A", "wipe"); it.State != StateDone {
					t.Fatalf("plan after resolve: %s %q", it.State, it.Reason)
				}
				checkLedger("")
				return
			}
			r.run(nil, func(o *Options) { o.Retry = map[string]bool{"wipe": true} })
			if n := countLines(t, wipes); n != 2 {
				t.Fatalf("--retry wipe: wiped %d times in all, want 2", n)
			}
			if it := r.plan(nil, "LOOP-A", "wipe"); it.State != StateDone {
				t.Fatalf("plan after the retry: %s %q", it.State, it.Reason)
			}
			checkLedger("")
		})
	}
}

// ledgerProblems returns what spine verify says of the ledger of r's
// state folder (CheckLedger, with r's loop documents).
func ledgerProblems(t *testing.T, r *testRepo) []artifacts.Problem {
	t.Helper()
	opts := r.runOpts(nil)
	h, err := LoadHistory(r.root, opts.Config.Receipts, opts.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	probs, err := CheckLedger([]string{opts.StateDir}, "ledger", h, &artifacts.Store{Root: r.root}, opts.Set.Docs)
	if err != nil {
		t.Fatal(err)
	}
	return probs
}

// TestUndoneDestructiveRunNotRerunAfterIDChange: spine's commit is
// undone and the loop's id changed (in either order), with the document
// kept or also renamed: the ledger finds the destructive run by the
// loop's document, or when that is renamed too, by the step's name and
// command in no document now; it holds the step and names the old id. A
// destructive step of the same name but another command in another loop
// document is not held.
func TestUndoneDestructiveRunNotRerunAfterIDChange(t *testing.T) {
	for _, tc := range []struct{ idFirst, move bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		t.Run(fmt.Sprintf("id changed first=%v, file renamed=%v", tc.idFirst, tc.move), func(t *testing.T) {
			r := newRepo(t)
			wipes, others := counter(t), counter(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=wipe destructive=true}\necho x >> %s\n```\n", wipes))})
			r.run(nil)
			if countLines(t, wipes) != 1 || len(r.receipts()) != 1 {
				t.Fatalf("first run: wiped %d times, %d receipts", countLines(t, wipes), len(r.receipts()))
			}
			doc := "loops/a.md"
			rename := func() {
				text := strings.Replace(r.read(doc), "loop_id: LOOP-A", "loop_id: LOOP-B", 1)
				if tc.move {
					r.gitAs("Operator", "op@example.com", "mv", doc, "loops/b.md")
					doc = "loops/b.md"
				}
				r.commit("rename the loop", map[string]string{
					doc:          text,
					"loops/c.md": loopDoc("LOOP-C", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=wipe destructive=true}\necho x >> %s\n```\n", others)),
				})
			}
			if tc.idFirst {
				rename()
				r.gitAs("Operator", "op@example.com", "revert", "--no-edit", "HEAD~1")
			} else {
				r.gitAs("Operator", "op@example.com", "revert", "--no-edit", "HEAD")
				rename()
			}
			if len(r.receipts()) != 0 || len(loops.ParseEvidence([]byte(r.read(doc)))) != 0 || !strings.Contains(r.read(doc), "LOOP-B") {
				t.Fatal("the undo left a receipt or an evidence bullet, or the id is not changed")
			}
			it := r.plan(nil, "LOOP-B", "wipe")
			if it.State != StateFailed || !strings.Contains(it.Reason, "this host ran it (as loop LOOP-A) as CAP-") {
				t.Fatalf("plan of the undone destructive step under its new id: %s %q", it.State, it.Reason)
			}
			if it := r.plan(nil, "LOOP-C", "wipe"); it.State != StatePending {
				t.Fatalf("plan of another loop's step of the same name: %s %q", it.State, it.Reason)
			}
			out := r.run(nil)
			if n := countLines(t, wipes); n != 1 {
				t.Fatalf("an undone destructive step ran again under its new id (%d times in all)", n)
			}
			if countLines(t, others) != 1 || len(out.Held) != 1 || out.Held[0].LoopID != "LOOP-B" {
				t.Fatalf("run: other loop's wipe ran %d times, held %+v", countLines(t, others), out.Held)
			}
			// spine verify names the run until spine resolve answers it
			// under the loop's new id.
			if n := len(ledgerProblems(t, r)); n != 1 {
				t.Fatalf("CheckLedger before the resolve: %d problems, want 1", n)
			}
			if _, err := NewRunner(r.runOpts(nil)).Resolve(context.Background(), "LOOP-B", "wipe", artifacts.StatusPass, "checked by hand"); err != nil {
				t.Fatal(err)
			}
			if it := r.plan(nil, "LOOP-B", "wipe"); it.State != StateDone {
				t.Fatalf("plan after resolve: %s %q", it.State, it.Reason)
			}
			if n := len(ledgerProblems(t, r)); n != 0 {
				t.Fatalf("CheckLedger after the resolve under the new id: %d problems, want 0", n)
			}
		})
	}
}

// TestLedgerMatchesACommandOnlyOfAVanishedLoop: the ledger's match by a
// step's name and command holds a step only for a run whose loop id and
// document are both gone from the repository. While the loop that ran
// is still a document, another loop's step with the same command is not
// its run; once that document is gone, it may be (the loop renamed), and
// it is held.
func TestLedgerMatchesACommandOnlyOfAVanishedLoop(t *testing.T) {
	r := newRepo(t)
	wipes := counter(t)
	body := fmt.Sprintf("## Stage 1: Do\n\n```sh {name=wipe destructive=true}\necho x >> %s\n```\n", wipes)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", body)})
	r.run(nil)
	r.gitAs("Operator", "op@example.com", "revert", "--no-edit", "HEAD")
	r.commit("another loop, same step", map[string]string{"loops/d.md": loopDoc("LOOP-D", body)})
	if it := r.plan(nil, "LOOP-A", "wipe"); it.State != StateFailed {
		t.Fatalf("plan of the undone step: %s %q", it.State, it.Reason)
	}
	if it := r.plan(nil, "LOOP-D", "wipe"); it.State != StatePending {
		t.Fatalf("plan of another loop's step with the same command, the first loop still there: %s %q", it.State, it.Reason)
	}
	r.gitAs("Operator", "op@example.com", "rm", "-q", "loops/a.md")
	r.gitAs("Operator", "op@example.com", "commit", "-q", "-m", "drop LOOP-A")
	if it := r.plan(nil, "LOOP-D", "wipe"); it.State != StateFailed || !strings.Contains(it.Reason, "(as loop LOOP-A)") {
		t.Fatalf("plan of the same command once LOOP-A is gone: %s %q", it.State, it.Reason)
	}
}

// TestLoopIDChangeKeepsRuns: when a loop's id changes after its steps ran
// (a typo fixed in loop_id), its passed steps stay done through the runs
// its evidence block records under the old id, and a later stage's run
// keeps those bullets in the regenerated block.
func TestLoopIDChangeKeepsRuns(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	body := fmt.Sprintf("## Stage 1: Drop\n\n```sh {name=drop destructive=true}\necho x >> %s\n```\n\n## Stage 2: Later\n\n```sh {name=later gate=ALLOW_LATER}\necho later >> %s\n```\n", count, count)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-OLD", body)})
	r.run(nil)
	if n := countLines(t, count); n != 1 {
		t.Fatalf("first run ran %d steps, want 1 (later is gated)", n)
	}
	doc := r.read("loops/a.md")
	r.commit("fix the loop id", map[string]string{"loops/a.md": strings.Replace(doc, "loop_id: LOOP-OLD", "loop_id: LOOP-NEW", 1)})

	it := r.plan(nil, "LOOP-NEW", "drop")
	if it.State != StateDone || !strings.Contains(it.Reason, "LOOP-OLD") {
		t.Fatalf("plan of drop after the id change: %s %q", it.State, it.Reason)
	}
	r.run(map[string]string{"ALLOW_LATER": "yes"})
	if n := countLines(t, count); n != 2 {
		t.Fatalf("after approving later: %d lines, want 2 (drop must not run again)", n)
	}
	var steps []string
	for _, e := range loops.ParseEvidence([]byte(r.read("loops/a.md"))) {
		steps = append(steps, e.Step+" "+e.Status)
	}
	if diff := cmp.Diff([]string{"drop pass", "later blocked", "later pass"}, steps); diff != "" {
		t.Fatalf("evidence after the id change (-want +got):\n%s", diff)
	}
	r.run(map[string]string{"ALLOW_LATER": "yes"})
	if n := countLines(t, count); n != 2 {
		t.Fatalf("third run: %d lines, want 2", n)
	}
	r.clean()
}

// TestEvidenceOfALiveLoopIsNotInherited: a bullet in a loop's evidence
// block that names the run of a step of the same name in another loop
// that still has its document (a copy, or an edit of the block by hand)
// does not make the step count as run: a gated step stays blocked and
// the destructive step after it does not run. Once the other loop's
// document is gone (its id was changed to this one's), its runs are
// inherited as TestLoopIDChangeKeepsRuns has them.
func TestEvidenceOfALiveLoopIsNotInherited(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loops", map[string]string{
		"loops/e.md": loopDoc("LOOP-E", "## Stage 1: Do\n\n```sh {name=destroy}\necho nothing destroyed\n```\n"),
		"loops/b.md": loopDoc("LOOP-B", fmt.Sprintf("## Stage 1: Destroy\n\n```sh {name=destroy gate=ALLOW_B destructive=true}\necho destroy >> %[1]s\n```\n\n```sh {name=after-b destructive=true}\necho after-b >> %[1]s\n```\n", count)),
	})
	r.run(nil)
	var eKey string
	for _, e := range loops.ParseEvidence([]byte(r.read("loops/e.md"))) {
		if e.Step == "destroy" {
			eKey = e.RunKey
		}
	}
	if eKey == "" {
		t.Fatal("LOOP-E's destroy did not run")
	}
	// The bullet goes after the blocked run's, which the first run wrote.
	src := r.read("loops/b.md")
	at := strings.Index(src, "- `CAP-")
	if at < 0 {
		t.Fatalf("no evidence bullet in LOOP-B:\n%s", src)
	}
	at += strings.IndexByte(src[at:], '\n') + 1
	r.commit("claim a pass", map[string]string{"loops/b.md": src[:at] + "- `" + eKey + "` (pass, step destroy)\n" + src[at:]})
	if got := loops.ParseEvidence([]byte(r.read("loops/b.md"))); len(got) != 2 || got[1].RunKey != eKey {
		t.Fatalf("the forged bullet is not in the evidence block: %+v", got)
	}
	if it := r.plan(nil, "LOOP-B", "destroy"); it.State != StateBlocked {
		t.Errorf("destroy with another live loop's run in its evidence: %s %q, want blocked", it.State, it.Reason)
	}
	r.run(nil)
	if data, err := os.ReadFile(count); err == nil {
		t.Fatalf("LOOP-B ran %q without its gate", data)
	}
}

// TestRenamedLoopKeepsItsRunsWhenItsOldIDIsTaken: after a loop's id
// changed, a new document that takes the old id (a draft, spine loop new)
// records none of the old runs, so the renamed loop keeps them: its
// passed destructive step does not run again. Nor when two loops swap ids.
func TestRenamedLoopKeepsItsRunsWhenItsOldIDIsTaken(t *testing.T) {
	for _, swap := range []bool{false, true} {
		t.Run(map[bool]string{false: "new document with the old id", true: "two loops swap ids"}[swap], func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			body := func(step string) string {
				return fmt.Sprintf("## Stage 1: Go\n\n```sh {name=%s destructive=true}\necho %s >> %s\n```\n", step, step, count)
			}
			files := map[string]string{"loops/a.md": loopDoc("LOOP-A", body("wipe"))}
			if swap {
				files["loops/b.md"] = loopDoc("LOOP-B", body("erase"))
			}
			r.commit("loops", files)
			r.run(nil)
			ran := countLines(t, count)
			renamed := map[string]string{"loops/a.md": strings.Replace(r.read("loops/a.md"), "loop_id: LOOP-A", "loop_id: LOOP-B", 1)}
			if swap {
				renamed["loops/b.md"] = strings.Replace(r.read("loops/b.md"), "loop_id: LOOP-B", "loop_id: LOOP-A", 1)
			} else {
				renamed["loops/new.md"] = strings.Replace(loopDoc("LOOP-A", "## Stage 1: Later\n\n- [ ] decide\n"), "status: active", "status: draft", 1)
			}
			r.commit("ids", renamed)
			for id, step := range map[string]string{"LOOP-B": "wipe", "LOOP-A": "erase"} {
				if !swap && id == "LOOP-A" {
					continue
				}
				if it := r.plan(nil, id, step); it.State != StateDone {
					t.Errorf("%s/%s after the ids changed: %s %q, want done", id, step, it.State, it.Reason)
				}
			}
			r.run(nil)
			if n := countLines(t, count); n != ran {
				t.Fatalf("%d destructive runs after the ids changed, want %d", n, ran)
			}
		})
	}
}

// TestRenamedDestructiveStepHeld: a destructive step renamed after it
// passed (same command, the old name gone from the document) is held, not
// run again as the new step its name makes it; --retry runs it. So it is
// when the loop's id changed too, before the rename or in the same commit:
// the old id's runs its evidence block records count. A step that is not
// destructive follows the contract: a new name is a new step.
func TestRenamedDestructiveStepHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		// newID, when set, replaces LOOP-A: in a commit of its own
		// before the rename (idFirst), else in the rename's.
		newID   string
		idFirst bool
	}{
		{name: "renamed"},
		{name: "id changed, then renamed", newID: "LOOP-B", idFirst: true},
		{name: "id changed and renamed at once", newID: "LOOP-B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			doc := func(wipe, note string) string {
				return loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=%s destructive=true}\necho wipe >> %s\n```\n\n```sh {name=%s}\necho note >> %s\n```\n", wipe, count, note, count))
			}
			r.commit("loop", map[string]string{"loops/a.md": doc("wipe", "note")})
			r.run(nil)
			if n := countLines(t, count); n != 2 {
				t.Fatalf("first run: %d lines, want 2", n)
			}
			id := "LOOP-A"
			src := r.read("loops/a.md")
			if tc.newID != "" {
				id = tc.newID
				src = strings.Replace(src, "loop_id: LOOP-A", "loop_id: "+id, 1)
				if tc.idFirst {
					r.commit("fix the id", map[string]string{"loops/a.md": src})
					if it := r.plan(nil, id, "wipe"); it.State != StateDone {
						t.Fatalf("wipe after the id change: %s %q, want done", it.State, it.Reason)
					}
				}
			}
			src = strings.Replace(src, "{name=wipe ", "{name=wipe-disks ", 1)
			src = strings.Replace(src, "{name=note}", "{name=note-again}", 1)
			r.commit("rename steps", map[string]string{"loops/a.md": src})

			it := r.plan(nil, id, "wipe-disks")
			if it.State != StateFailed || !strings.Contains(it.Reason, "step wipe,") || !strings.Contains(it.Reason, "--retry wipe-disks") {
				t.Fatalf("plan of the renamed destructive step: %s %q", it.State, it.Reason)
			}
			r.run(nil)
			if n := countLines(t, count); n != 2 {
				t.Fatalf("the renamed destructive step ran again (%d lines)", n)
			}
			r.run(nil, func(o *Options) { o.Retry = map[string]bool{"wipe-disks": true} })
			b, err := os.ReadFile(count)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(string(b), "wipe"); got != 2 {
				t.Fatalf("--retry wipe-disks: wipe ran %d times in all, want 2", got)
			}
			if it := r.plan(nil, id, "note-again"); it.State != StateDone {
				t.Fatalf("the renamed plain step: %s %q, want done (run as a new step)", it.State, it.Reason)
			}
		})
	}
}

// TestDamagedReceiptHoldsItsStepOnly: a damaged receipt holds the steps
// of its capability, except where an evidence block says whose run it
// was: then the same capability in another loop runs.
func TestDamagedReceiptHoldsItsStepOnly(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop a", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=zl destructive=true}\necho a >> %s\n```\n", count))})
	r.run(nil)
	rcs := r.receipts()
	if len(rcs) != 1 {
		t.Fatalf("%d receipts", len(rcs))
	}
	p, err := (&artifacts.Store{Root: r.root}).ReceiptPath(rcs[0].RunKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.commit("a receipt damaged, loop b added", map[string]string{"loops/b.md": loopDoc("LOOP-B", fmt.Sprintf("## Stage 1: Do\n\n```sh {name=twin cap=step.zl}\necho b >> %s\n```\n", count))})
	if it := r.plan(nil, "LOOP-A", "zl"); it.State != StateFailed || !strings.Contains(it.Reason, "cannot be read") {
		t.Fatalf("LOOP-A zl: %s %q, want held", it.State, it.Reason)
	}
	if it := r.plan(nil, "LOOP-B", "twin"); it.State != StatePending {
		t.Fatalf("LOOP-B twin: %s %q, want pending (the damaged run is LOOP-A's)", it.State, it.Reason)
	}
	// Without the record of whose run it was, every step of the
	// capability waits.
	doc := r.read("loops/a.md")
	r.commit("evidence removed", map[string]string{"loops/a.md": doc[:strings.Index(doc, "## Execution Evidence")]})
	if it := r.plan(nil, "LOOP-B", "twin"); it.State != StateFailed || !strings.Contains(it.Reason, "cannot be read") {
		t.Fatalf("LOOP-B twin without evidence: %s %q, want held", it.State, it.Reason)
	}
	r.run(nil)
	if n := countLines(t, count); n != 1 {
		t.Fatalf("%d lines, want 1: nothing may run", n)
	}
}

// TestRunCommitsAfterAStepRepacks: a step that runs git gc (or an
// operator's git, or git maintenance, while the run goes on) deletes the
// packs the run had read and packs the objects it wrote: the run still
// commits every stage, and git finds the history whole.
func TestRunCommitsAfterAStepRepacks(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-GC",
		"## Stage 1: Before\n\n```sh {name=before}\necho before\n```\n\n"+
			"## Stage 2: Repack\n\n```sh {name=repack}\ngit gc -q --prune=now\n```\n\n"+
			"## Stage 3: After\n\n```sh {name=after}\necho after\n```\n")})
	r.git("gc", "-q")
	out := r.run(nil)
	if len(out.Commits) != 3 || out.Failed {
		t.Fatalf("commits %v, failed %v, receipts %d", out.Commits, out.Failed, len(out.Receipts))
	}
	for _, rc := range out.Receipts {
		if rc.Status != artifacts.StatusPass {
			t.Errorf("%s: %s (%s)", rc.Step, rc.Status, rc.Note)
		}
	}
	r.git("fsck", "--no-dangling")
	r.clean()
	if log := r.git("log", "--format=%s"); strings.Count(log, "spine(LOOP-GC)") != 3 {
		t.Errorf("history:\n%s", log)
	}
}

// TestRunKeepsHouseAsGitCommitDoes: after a run that committed, git's
// automatic housekeeping runs when it is due (here: more packs than
// gc.autoPackLimit), as after git commit; not when the operator turned it
// off, and not after a run that committed nothing.
func TestRunKeepsHouseAsGitCommitDoes(t *testing.T) {
	for _, tt := range []struct {
		name string
		// offFor: the runs (0: the first, 1: the second) with gc.auto 0.
		offFor []int
		runs   int
		// repacked: the last run leaves one pack.
		repacked bool
		// command, when set, is what runs instead of spine run: its
		// outcome's Commits say whether it committed.
		command func(r *testRepo) (*Outcome, error)
	}{
		{name: "due", runs: 1, repacked: true},
		{name: "turned off", runs: 1, offFor: []int{0}},
		{name: "nothing committed", runs: 2, offFor: []int{0}},
		// The commands that commit once do it too.
		{name: "due after spine gap file", runs: 1, repacked: true, command: func(r *testRepo) (*Outcome, error) {
			ed, err := NewRunner(r.runOpts(nil)).FileGap(context.Background(), GapFiling{Loop: "LOOP-H", Title: "t", Severity: "low", Type: "runtime-bug", Command: "spine gap file"})
			if err != nil {
				return nil, err
			}
			return &Outcome{Commits: []string{ed.Commit}}, nil
		}},
		{name: "due after spine resolve", runs: 1, repacked: true, command: func(r *testRepo) (*Outcome, error) {
			rc, err := NewRunner(r.runOpts(nil)).Resolve(context.Background(), "LOOP-H", "two", artifacts.StatusFail, "not to be done")
			if err != nil {
				return nil, err
			}
			return &Outcome{Commits: []string{rc.RunKey}}, nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t)
			r.git("config", "gc.autoDetach", "false")
			r.git("config", "gc.autoPackLimit", "2")
			// Three packs, git's own commits not tidying them meanwhile.
			r.git("config", "gc.auto", "0")
			r.commit("loop", map[string]string{
				"loops/a.md": loopDoc("LOOP-H", "## Stage 1: One\n\n```sh {name=one}\necho one\n```\n\n## Stage 2: Two\n\n```sh {name=two gate=ALLOW_H}\necho two\n```\n"),
				"gaps.yaml":  "gaps: []\n",
			})
			r.git("repack", "-q")
			for i := range 2 {
				r.commit(fmt.Sprint("c", i), map[string]string{fmt.Sprintf("f%d", i): "x\n"})
				r.git("repack", "-q")
			}
			packs := func() int {
				m, _ := filepath.Glob(filepath.Join(r.root, ".git", "objects", "pack", "pack-*.pack"))
				return len(m)
			}
			if n := packs(); n != 3 {
				t.Fatalf("%d packs to start with, want 3", n)
			}
			var out *Outcome
			before := 0
			for run := range tt.runs {
				if slices.Contains(tt.offFor, run) {
					r.git("config", "gc.auto", "0")
				} else {
					r.git("config", "--unset", "gc.auto")
				}
				before = packs()
				if tt.command != nil {
					var err error
					if out, err = tt.command(r); err != nil {
						t.Fatal(err)
					}
					continue
				}
				out = r.run(nil)
			}
			if committed, want := len(out.Commits) > 0, tt.runs == 1; committed != want {
				t.Fatalf("the last run's commits: %v", out.Commits)
			}
			got := packs()
			switch {
			case tt.repacked && got != 1:
				t.Errorf("%d packs after the run, want 1", got)
			case !tt.repacked && got != before:
				t.Errorf("%d packs after the run, %d before: git's housekeeping ran", got, before)
			}
			r.git("fsck", "--no-dangling")
			r.clean()
		})
	}
}

// procsReporter records runtime.GOMAXPROCS as each step starts.
type procsReporter struct {
	nopReporter
	atStart []int
}

func (p *procsReporter) StepStart(*Item, string) io.Writer {
	p.atStart = append(p.atStart, runtime.GOMAXPROCS(0))
	return nil
}

// TestOneProcWhileStepsRun shows Options.OneProc: the steps run with
// spine's goroutines on one processor, and the setting the process had is
// back once Run returns, whether the loop passed or failed; without it,
// or in a dry run, nothing changes.
func TestOneProcWhileStepsRun(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	for _, tc := range []struct {
		name    string
		oneProc bool
		dryRun  bool
		body    string
		want    []int
	}{
		{"one proc", true, false, "```sh {name=a}\ntrue\n```\n\n```sh {name=b}\ntrue\n```\n", []int{1, 1}},
		{"one proc, failing step", true, false, "```sh {name=a}\nexit 3\n```\n", []int{1}},
		{"default", false, false, "```sh {name=a}\ntrue\n```\n", []int{3}},
		{"dry run", true, true, "```sh {name=a}\ntrue\n```\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Do\n\n"+tc.body)})
			rep := &procsReporter{}
			r.run(nil, func(o *Options) {
				o.OneProc, o.DryRun, o.Reporter = tc.oneProc, tc.dryRun, rep
			})
			if diff := cmp.Diff(tc.want, rep.atStart); diff != "" {
				t.Errorf("GOMAXPROCS as each step started (-want +got):\n%s", diff)
			}
			if got := runtime.GOMAXPROCS(0); got != 3 {
				t.Errorf("GOMAXPROCS after the run = %d, want 3 (restored)", got)
			}
		})
	}
}

// TestLongStepCodeRunsFromAFile: a step whose code is too long for a
// command line (Linux refuses an argument of 128 KiB: "argument list too
// long") runs from a script file beside its running log, which is gone
// afterwards; its interpreter's options still hold (bash's pipefail
// fails the second step), and the receipt records the code as written.
func TestLongStepCodeRunsFromAFile(t *testing.T) {
	r := newRepo(t)
	pad := strings.Repeat(": padding the step past what a command line carries\n", maxInlineScript/50+1)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A",
		"## Stage 1: Long\n\n```sh {name=long-sh}\n"+pad+"echo \"zero=$0\"\necho end\n```\n\n"+
			"```bash {name=long-bash allow_failure=true}\n"+pad+"false | true\necho not-reached\n```\n")})
	out := r.run(nil)
	if len(out.Receipts) != 2 {
		t.Fatalf("%d receipts, want 2", len(out.Receipts))
	}
	sh, bash := out.Receipts[0], out.Receipts[1]
	if sh.Status != artifacts.StatusPass || bash.Status != artifacts.StatusFail {
		t.Fatalf("statuses %s, %s; want pass, fail (pipefail)", sh.Status, bash.Status)
	}
	if len(sh.Command) <= maxInlineScript || !strings.HasSuffix(sh.Command, "echo end\n") {
		t.Errorf("receipt command: %d bytes, ends %q", len(sh.Command), sh.Command[max(0, len(sh.Command)-20):])
	}
	dir, _ := (&artifacts.Store{Root: r.root}).RelDir(sh.RunKey)
	log := r.read(dir + "/output.log")
	if !strings.Contains(log, "zero="+filepath.Join(r.root, ".git", "spine", "runs", sh.RunKey+".sh")) || !strings.Contains(log, "[out+err] end") {
		t.Errorf("output:\n%s", log)
	}
	dir, _ = (&artifacts.Store{Root: r.root}).RelDir(bash.RunKey)
	if log := r.read(dir + "/output.log"); strings.Contains(log, "not-reached") {
		t.Errorf("bash went on after a failed pipeline:\n%s", log)
	}
	left, _ := filepath.Glob(filepath.Join(r.root, ".git", "spine", "runs", "*.sh"))
	if len(left) != 0 {
		t.Errorf("script files left: %v", left)
	}
}

// A step whose artifact file cannot be made (its folder is immutable:
// chattr +i, which binds root too) is not run: once its intent is
// journaled it fails with a note saying why, stops its loop, and leaves
// nothing in the working tree or the runs folder; fixed, --retry runs it
// once.
func TestArtifactThatCannotBeMadeFailsTheStepUnrun(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{
		"loops/a.md":              loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Capture\n\n```sh {name=capture artifact=out.txt}\necho ran >> %s\necho data\n```\n\n```sh {name=after}\necho after >> %s\n```\n", count, count)),
		"artifacts/loop-a/README": "the loop's artifacts\n",
	})
	dir := filepath.Join(r.root, "artifacts", "loop-a")
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot make a folder immutable here (chattr +i: %v %s)", err, out)
	}
	mutable := func() {
		if out, err := exec.Command("chattr", "-i", dir).CombinedOutput(); err != nil {
			t.Fatalf("chattr -i: %v %s", err, out)
		}
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); err == nil {
		mutable()
		t.Skip("an immutable folder takes new files here")
	}

	ctx := context.Background()
	out, code := r.spine(ctx, nil, "run")
	if code != 1 {
		t.Fatalf("run: exit %d, want 1\n%s", code, out)
	}
	if n := countLines(t, count); n != 0 {
		t.Fatalf("%d step(s) ran; the step without its artifact file and the one after it must not", n)
	}
	var note string
	for _, rc := range r.receipts() {
		if rc.Step == "capture" {
			note = rc.Note
		}
	}
	if got := r.stepReceipts("capture"); !cmp.Equal(got, []string{"fail"}) || !strings.Contains(note, "could not run: artifact out.txt: ") {
		t.Fatalf("capture receipts %v, note %q", got, note)
	}
	if got := r.stepReceipts("after"); got != nil {
		t.Fatalf("after receipts %v: the failed step must stop its loop", got)
	}
	r.clean()
	if left, _ := os.ReadDir(filepath.Join(r.root, ".git", "spine", "runs")); len(left) > 0 {
		t.Errorf("runs folder holds %v", left)
	}

	mutable()
	if out, code := r.spine(ctx, nil, "run", "--retry", "capture"); code != 0 {
		t.Fatalf("run --retry: exit %d\n%s", code, out)
	}
	if got := r.read("artifacts/loop-a/out.txt"); got != "data\n" {
		t.Errorf("artifact = %q", got)
	}
	if n := countLines(t, count); n != 2 {
		t.Errorf("%d step(s) ran after the retry, want 2 (capture once, then after)", n)
	}
	r.clean()
}

// A destructive step whose line in this host's ledger cannot be written
// (the ledger is immutable: chattr +i, which binds root too; it can still
// be read) is not run: its intent is journaled, then its result (failed,
// saying why), and the run stops with the error; the next run records the
// receipt. Fixed, --retry runs it once.
// immutableLedger makes the repository's ledger of destructive runs an
// empty file nobody can append to (chattr +i, which binds root too) and
// returns its path; the test is skipped where that cannot be done.
func immutableLedger(t *testing.T, r *testRepo) string {
	t.Helper()
	ledger := filepath.Join(r.root, ".git", "spine", ledgerName)
	if err := os.MkdirAll(filepath.Dir(ledger), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ledger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", ledger).CombinedOutput(); err != nil {
		t.Skipf("cannot make a file immutable here (chattr +i: %v %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", ledger).Run() })
	if f, err := os.OpenFile(ledger, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		f.Close()
		exec.Command("chattr", "-i", ledger).Run()
		t.Skip("an immutable file takes appends here")
	}
	return ledger
}

// TestLedgerThatCannotBeWrittenFailsTheBackgroundStepUnrun: as in the
// foreground, a background destructive step whose ledger line cannot be
// written is not started; the run stops; the next run records it failed
// (not interrupted: it did not run), and it waits for --retry.
func TestLedgerThatCannotBeWrittenFailsTheBackgroundStepUnrun(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{
		"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Copy\n\n```sh {name=copy destructive=true background=true}\necho copied >> %s\n```\n", count)),
	})
	immutableLedger(t, r)
	ctx := context.Background()
	out, code := r.spine(ctx, nil, "run")
	if code != 1 || !strings.Contains(out, "step copy: not run: destructive-run ledger: ") || strings.Contains(out, "started in the background") {
		t.Fatalf("run: exit %d, want 1 naming the ledger, nothing started\n%s", code, out)
	}
	out, code = r.spine(ctx, nil, "run")
	if code == 0 {
		t.Fatalf("second run: exit 0\n%s", out)
	}
	var rcs []*artifacts.Receipt
	for _, rc := range r.receipts() {
		if rc.Step == "copy" {
			rcs = append(rcs, rc)
		}
	}
	if len(rcs) != 1 || rcs[0].Status != artifacts.StatusFail || !strings.Contains(rcs[0].Note, "could not run: destructive-run ledger: ") || len(rcs[0].Artifacts) != 0 {
		t.Fatalf("copy receipts %+v\n%s", rcs, out)
	}
	if it := r.plan(nil, "LOOP-A", "copy"); it.State != StateFailed {
		t.Errorf("plan: copy is %s (%s), want failed, waiting for --retry", it.State, it.Reason)
	}
	if n := countLines(t, count); n != 0 {
		t.Fatalf("the destructive step ran %d time(s) without its ledger line", n)
	}
	if left, _ := os.ReadDir(filepath.Join(r.root, ".git", "spine", "runs")); len(left) > 0 {
		t.Errorf("runs folder holds %v", left)
	}
	r.clean()
}

func TestLedgerThatCannotBeWrittenFailsTheStepUnrun(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{
		"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\necho wiped >> %s\n```\n", count)),
		"loops/b.md": loopDoc("LOOP-B", "## Stage 1: Look\n\n```sh {name=look}\necho looked\n```\n"),
	})
	ledger := immutableLedger(t, r)
	ctx := context.Background()
	out, code := r.spine(ctx, nil, "run")
	if code != 1 || !strings.Contains(out, "step wipe: not run: destructive-run ledger: ") {
		t.Fatalf("run: exit %d, want 1 naming the ledger\n%s", code, out)
	}
	if n := countLines(t, count); n != 0 {
		t.Fatalf("the destructive step ran %d time(s) without its ledger line", n)
	}
	if got := r.stepReceipts("look"); got != nil {
		t.Errorf("look receipts %v: the run must stop at the ledger's error", got)
	}

	// The next run writes the journaled result; the step waits for --retry.
	out, code = r.spine(ctx, nil, "run")
	if code == 0 {
		t.Fatalf("second run: exit 0\n%s", out)
	}
	var note string
	for _, rc := range r.receipts() {
		if rc.Step == "wipe" {
			note = rc.Note
		}
	}
	if got := r.stepReceipts("wipe"); !cmp.Equal(got, []string{"fail"}) || !strings.Contains(note, "could not run: destructive-run ledger: ") {
		t.Fatalf("wipe receipts %v, note %q\n%s", got, note, out)
	}
	if n := countLines(t, count); n != 0 {
		t.Fatalf("the destructive step ran %d time(s)", n)
	}

	if out, err := exec.Command("chattr", "-i", ledger).CombinedOutput(); err != nil {
		t.Fatalf("chattr -i: %v %s", err, out)
	}
	if out, code := r.spine(ctx, nil, "run", "--retry", "wipe"); code != 0 {
		t.Fatalf("run --retry: exit %d\n%s", code, out)
	}
	if n := countLines(t, count); n != 1 {
		t.Errorf("the destructive step ran %d time(s) after the retry, want 1", n)
	}
	if b, err := os.ReadFile(ledger); err != nil || !strings.Contains(string(b), `"step":"wipe"`) {
		t.Errorf("ledger after the retry: %q, %v", b, err)
	}
	r.clean()
}

// TestResolveTakesHeldStepsOnly: spine resolve records a verdict on a
// held step (failed, interrupted, blocked) only. A step that passed, or has
// not run, is refused with its state; a pass of a blocked gated step is
// refused (resolve is no way round a gate) while a fail is taken; with the
// gate approved, the pass records the approval. Nothing refused writes a
// receipt or runs a step.
func TestResolveTakesHeldStepsOnly(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(
		"## Stage 1: Read\n\n```sh {name=read}\necho read >> %[1]s\n```\n\n"+
			"## Stage 2: Change\n\n```sh {name=change gate=ALLOW_CHANGE destructive=true}\necho change >> %[1]s\n```\n\n"+
			"```sh {name=after}\necho after >> %[1]s\n```\n", count))})
	resolve := func(env map[string]string, step, status string) (*artifacts.Receipt, error) {
		return NewRunner(r.runOpts(env)).Resolve(context.Background(), "LOOP-A", step, status, "by hand")
	}
	// Not run yet: pending, and waiting behind it.
	for _, tc := range []struct{ step, state string }{{"read", "pending"}, {"after", "waiting"}} {
		if _, err := resolve(nil, tc.step, artifacts.StatusPass); err == nil || !strings.Contains(err.Error(), "is "+tc.state) || !strings.Contains(err.Error(), "not held") {
			t.Errorf("resolve %s before any run: %v; want it refused as %s", tc.step, err, tc.state)
		}
	}
	r.run(nil)
	if got := r.stepReceipts("change"); !cmp.Equal(got, []string{"blocked"}) {
		t.Fatalf("change's receipts %v, want blocked", got)
	}
	if _, err := resolve(nil, "read", artifacts.StatusFail); err == nil || !strings.Contains(err.Error(), "is done") {
		t.Errorf("resolve of a passed step: %v; want it refused as done", err)
	}
	if _, err := resolve(nil, "change", artifacts.StatusPass); err == nil || !strings.Contains(err.Error(), "gate ALLOW_CHANGE not approved") {
		t.Errorf("resolve --as pass of a blocked gated step: %v; want it refused, naming the gate", err)
	}
	if got := r.stepReceipts("change"); !cmp.Equal(got, []string{"blocked"}) {
		t.Fatalf("refusals wrote receipts: %v", got)
	}
	if it := r.plan(nil, "LOOP-A", "after"); it.State != StateWaiting {
		t.Fatalf("after: %s %q, want waiting", it.State, it.Reason)
	}
	// A fail is taken without the approval; a pass with it records it.
	if rc, err := resolve(nil, "change", artifacts.StatusFail); err != nil || rc.Status != artifacts.StatusFail {
		t.Fatalf("resolve --as fail of the blocked step: %+v, %v", rc, err)
	}
	if it := r.plan(nil, "LOOP-A", "change"); it.State != StateFailed || !strings.HasPrefix(it.Reason, "resolved by tester as fail: by hand") {
		t.Errorf("plan after resolve --as fail: %s %q; want failed, with the operator's verdict (no process ran)", it.State, it.Reason)
	}
	rc, err := resolve(map[string]string{"ALLOW_CHANGE": "yes"}, "change", artifacts.StatusPass)
	if err != nil {
		t.Fatalf("resolve --as pass with the gate approved: %v", err)
	}
	if rc.Approval == nil || rc.Approval.Source != "env" || rc.Gate != "ALLOW_CHANGE" {
		t.Errorf("the pass records approval %+v, gate %q", rc.Approval, rc.Gate)
	}
	r.run(nil)
	data, err := os.ReadFile(count)
	if err != nil || string(data) != "read\nafter\n" {
		t.Fatalf("ran %q (%v), want read, then after (change resolved, never run)", data, err)
	}
	r.clean()

	// A fail of a gated step allowed to fail lets the loop go on, as a
	// pass does: it needs the gate too.
	r.commit("loop b", map[string]string{"loops/b.md": loopDoc("LOOP-B", fmt.Sprintf(
		"## Stage 1: Change\n\n```sh {name=wipe gate=ALLOW_WIPE destructive=true allow_failure=true}\necho wipe >> %[1]s\n```\n\n"+
			"## Stage 2: After\n\n```sh {name=next}\necho next >> %[1]s\n```\n", count))})
	r.run(nil)
	_, err = NewRunner(r.runOpts(nil)).Resolve(context.Background(), "LOOP-B", "wipe", artifacts.StatusFail, "skip it")
	if err == nil || !strings.Contains(err.Error(), "--as fail needs its gate approved") || !strings.Contains(err.Error(), "gate ALLOW_WIPE not approved") {
		t.Errorf("resolve --as fail of a blocked allow_failure gated step: %v; want it refused, naming the gate", err)
	}
	r.run(nil)
	if data, _ := os.ReadFile(count); string(data) != "read\nafter\n" {
		t.Errorf("ran %q: the stage after the unapproved gate ran", data)
	}
	r.clean()
}

// TestWaitingStepNamesItsGate: a gated step held behind an earlier step
// (here a manual one) waits, and its reason also says what its gate needs,
// so that the approval can be given before the stage reaches it; once the
// gate is approved, only the wait is named. Nothing runs or is marked
// blocked while it waits.
func TestWaitingStepNamesItsGate(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/w.md": loopDoc("LOOP-W", fmt.Sprintf(
		"## Stage 1: Do\n\n- [ ] confirm the disks\n\n```sh {name=wipe gate=ALLOW_WIPE destructive=true}\necho wipe >> %s\n```\n", count))})
	wait := "waiting for manual step 'confirm the disks' to be checked in git"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unapproved", nil, wait + "; then: gate ALLOW_WIPE not approved (set ALLOW_WIPE=yes, or add it to approvals: in a commit by an approver)"},
		{"approved", map[string]string{"ALLOW_WIPE": "yes"}, wait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if it := r.plan(tc.env, "LOOP-W", "wipe"); it.State != StateWaiting || it.Reason != tc.want {
				t.Errorf("wipe: %s %q, want waiting %q", it.State, it.Reason, tc.want)
			}
			r.run(tc.env)
			if _, err := os.Stat(count); err == nil {
				t.Fatal("the gated step ran before the manual step was checked")
			}
			if got := r.stepReceipts("wipe"); len(got) != 0 {
				t.Fatalf("the waiting step got receipts %v", got)
			}
		})
	}
}

// TestManualStepWaitsForItsTick: an unchecked manual step holds its stage
// for an operator (spine plan and run exit 3) until it is checked in git;
// in a loop that does not run (a draft) it waits for the loop's status,
// and nobody is asked to tick it.
func TestManualStepWaitsForItsTick(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		held         bool
	}{
		{name: "active", status: "active", held: true},
		{name: "draft", status: "draft"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			doc := strings.Replace(loopDoc("LOOP-M", fmt.Sprintf(
				"## Stage 1: Do\n\n```sh {name=before}\necho before >> %[1]s\n```\n\n- [ ] look at the dashboard\n\n```sh {name=after}\necho after >> %[1]s\n```\n", count)),
				"status: active", "status: "+tc.status, 1)
			r.commit("loop", map[string]string{"loops/m.md": doc})
			out := r.run(nil)
			it := r.plan(nil, "LOOP-M", "look at the dashboard")
			wantReason := "waiting for manual step 'look at the dashboard' to be checked in git"
			if !tc.held {
				wantReason = `loop status is "draft"; only active loops run`
			}
			if it.State != StateWaiting || it.Reason != wantReason || OperatorHold(it) != tc.held {
				t.Fatalf("manual step: %s %q, operator hold %v; want waiting %q, hold %v", it.State, it.Reason, OperatorHold(it), wantReason, tc.held)
			}
			var held []string
			for _, h := range out.Held {
				held = append(held, h.Name)
			}
			var wantHeld []string
			if tc.held {
				wantHeld = []string{"look at the dashboard"}
			}
			if diff := cmp.Diff(wantHeld, held); diff != "" {
				t.Errorf("the run's held steps (-want +got):\n%s", diff)
			}
			if _, code := r.spine(context.Background(), nil, "plan"); (code == 3) != tc.held || (code != 0 && code != 3) {
				t.Errorf("spine plan exited %d, want 3 only while an operator is asked", code)
			}
			if !tc.held {
				if _, err := os.Stat(count); err == nil {
					t.Fatal("a draft loop ran a step")
				}
				return
			}
			r.commit("tick", map[string]string{"loops/m.md": strings.Replace(r.read("loops/m.md"), "- [ ] look", "- [x] look", 1)})
			r.run(nil)
			if data, err := os.ReadFile(count); err != nil || string(data) != "before\nafter\n" {
				t.Fatalf("ran %q (%v), want before, then after once ticked", data, err)
			}
			r.clean()
		})
	}
}

// TestPlanSaysWhatTheJournalHolds: while a run executes a step, plan calls
// it running, naming that run's pid (not interrupted); a background step
// that finished before the next run is waiting for that run to record it,
// not interrupted; once the runs are done, both are recorded.
func TestPlanSaysWhatTheJournalHolds(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	release := filepath.Join(t.TempDir(), "release")
	r.commit("loops", map[string]string{
		"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Slow\n\n```sh {name=slow}\necho x >> %s\nwhile [ ! -e %s ]; do sleep 0.05; done\n```\n", count, release)),
		"loops/b.md": loopDoc("LOOP-B", "## Stage 1: Copy\n\n```sh {name=copy background=true}\necho copied\n```\n"),
	})
	cmd := exec.Command(spineBin(), "--repo", r.root, "run", "--loop", "LOOP-A")
	cmd.Env = gitEnv("Operator", "op@example.com")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return countLines(t, count) == 1 })
	it := r.plan(nil, "LOOP-A", "slow")
	if it.State != StateRunning || !strings.Contains(it.Reason, fmt.Sprintf("in spine run pid %d", cmd.Process.Pid)) {
		t.Errorf("plan while slow runs: %s %q; want running in pid %d", it.State, it.Reason, cmd.Process.Pid)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the run: %v", err)
	}
	if it := r.plan(nil, "LOOP-A", "slow"); it.State != StateDone {
		t.Errorf("plan after the run: %s %q, want done", it.State, it.Reason)
	}

	if out, code := r.spine(context.Background(), nil, "run", "--loop", "LOOP-B"); code != 0 || !strings.Contains(out, "nothing finished: 1 step(s) started in the background") {
		t.Fatalf("run LOOP-B: exit %d; want 0, saying the step started in the background\n%s", code, out)
	}
	// Its supervisor writes the exit file, then ends.
	waitFor(t, 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(r.root, ".git", "spine", "runs", "*.exit"))
		return len(m) == 1 && r.plan(nil, "LOOP-B", "copy").State != StateRunning
	})
	it = r.plan(nil, "LOOP-B", "copy")
	if it.State != StateWaiting || !strings.Contains(it.Reason, "finished in the background") || !strings.Contains(it.Reason, "exit 0") || OperatorHold(it) {
		t.Errorf("plan of the finished background step: %s %q; want waiting for the next run", it.State, it.Reason)
	}
	if out, code := r.spine(context.Background(), nil, "run", "--loop", "LOOP-B"); code != 0 {
		t.Fatalf("second run LOOP-B: exit %d\n%s", code, out)
	}
	if got := r.stepReceipts("copy"); !cmp.Equal(got, []string{"pass"}) {
		t.Errorf("copy receipts %v, want pass", got)
	}
	r.clean()
}

// TestKilledRunsProcessGroupKilledBeforeTheRerun: spine killed while a
// step ran leaves what the step started in its process group running (the
// parent-death signal reaches its shell only); the next run kills that
// group, names it in the interrupted receipt, and only then runs the
// idempotent step again.
func TestKilledRunsProcessGroupKilledBeforeTheRerun(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(
		"## Stage 1: Copy\n\n```sh {name=copy idempotent=true}\necho start >> %s\nsleep 30 &\necho $! > %s\nwait\n```\n", count, pidFile))})
	cmd := exec.Command(spineBin(), "--repo", r.root, "run")
	cmd.Env = gitEnv("Operator", "op@example.com")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var orphan int
	waitFor(t, 30*time.Second, func() bool {
		b, _ := os.ReadFile(pidFile)
		orphan, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return orphan > 0
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	t.Cleanup(func() { _ = syscall.Kill(orphan, syscall.SIGKILL) })
	time.Sleep(200 * time.Millisecond)
	if syscall.Kill(orphan, 0) != nil {
		t.Fatal("the step's child died with spine: the premise of this test (and of the README's words on it) no longer holds")
	}
	_ = os.Remove(pidFile)
	// The re-run's own sleep is ended by hand: the test waits for the run.
	go func() {
		for i := 0; i < 600; i++ {
			if b, err := os.ReadFile(pidFile); err == nil {
				if p, _ := strconv.Atoi(strings.TrimSpace(string(b))); p > 0 {
					_ = syscall.Kill(p, syscall.SIGKILL)
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	out := r.run(nil)
	if err := syscall.Kill(orphan, 0); err == nil {
		t.Errorf("the killed run's sleep (pid %d) is still running", orphan)
	}
	var notes []string
	for _, rc := range out.Receipts {
		notes = append(notes, rc.Status+": "+rc.Note)
	}
	if len(out.Receipts) < 1 || out.Receipts[0].Status != artifacts.StatusInterrupted || !strings.Contains(out.Receipts[0].Note, "was still running and has been killed") {
		t.Errorf("receipts %q; want the interrupted one naming the killed group first", notes)
	}
	if n := countLines(t, count); n != 2 {
		t.Errorf("the idempotent step started %d times, want 2 (once again after the kill)", n)
	}
}

// TestCommitMessageSubject: the subject names the loop, the stage (its
// number, and its title when it has one, single-spaced) and the counts.
func TestCommitMessageSubject(t *testing.T) {
	counts := map[string]int{artifacts.StatusPass: 2, artifacts.StatusBlocked: 1}
	for _, tc := range []struct {
		st   loops.Stage
		want string
	}{
		{loops.Stage{Number: "4", Title: "Stage 4: Provision"}, "spine(LOOP-A): stage 4 Provision — 2 pass, 1 blocked"},
		{loops.Stage{Number: "4", Title: "Stage 4"}, "spine(LOOP-A): stage 4 — 2 pass, 1 blocked"},
	} {
		msg := commitMessage("LOOP-A", &tc.st, counts, "RUN", "h1")
		if got, _, _ := strings.Cut(msg, "\n"); got != tc.want {
			t.Errorf("subject %q, want %q", got, tc.want)
		}
	}
}

// TestVerifyNamesBulletsThatDisagree: an evidence bullet edited to say
// another status or step than its receipt, or one naming a run of another
// loop that has its own document, is named by spine verify (exit 1); the
// blocks a run writes agree with their receipts.
func TestVerifyNamesBulletsThatDisagree(t *testing.T) {
	r := newRepo(t)
	r.commit("loops", map[string]string{
		"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Go\n\n```sh {name=one}\necho one\n```\n\n```sh {name=two gate=ALLOW_TWO destructive=true}\necho two\n```\n"),
		"loops/e.md": loopDoc("LOOP-E", "## Stage 1: Go\n\n```sh {name=two}\necho harmless\n```\n"),
	})
	r.run(nil)
	check := func() []string {
		t.Helper()
		opts := r.runOpts(nil)
		h, err := LoadHistory(r.root, opts.Config.Receipts, opts.StateDir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range CheckEvidenceRuns(opts.Set.Docs, h) {
			got = append(got, p.Problem)
		}
		return got
	}
	if got := check(); len(got) != 0 {
		t.Fatalf("a run's own evidence disagrees with its receipts: %v", got)
	}
	if out, code := r.spine(context.Background(), nil, "verify"); code != 0 {
		t.Fatalf("verify after a run: exit %d\n%s", code, out)
	}
	doc := r.read("loops/a.md")
	var eKey string
	for _, e := range loops.ParseEvidence([]byte(r.read("loops/e.md"))) {
		eKey = e.RunKey
	}
	blocked := regexp.MustCompile(`\(blocked, step two[^\n]*`)
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"status", blocked.ReplaceAllString(doc, "(pass, step two)"), "the evidence block says pass, the receipt says blocked"},
		{"step", strings.Replace(doc, "(pass, step one)", "(pass, step two)", 1), "the evidence block says step two, the receipt is of step one"},
		{"another live loop's run", strings.Replace(doc, "(pass, step one)\n", "(pass, step one)\n- `"+eKey+"` (pass, step two)\n", 1), "records a run of loop LOOP-E, whose own document records it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.doc == doc {
				t.Fatalf("test bug: the edit changed nothing in\n%s", doc)
			}
			r.commit("edit the evidence", map[string]string{"loops/a.md": tc.doc})
			defer r.commit("put it back", map[string]string{"loops/a.md": doc})
			if got := check(); len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("problems %q, want one saying %q", got, tc.want)
			}
			if out, code := r.spine(context.Background(), nil, "verify"); code != 1 || !strings.Contains(out, tc.want) {
				t.Errorf("verify: exit %d, want 1 naming it\n%s", code, out)
			}
		})
	}
}

// TestOutputInTheOrderWritten: a step's stdout and stderr lines reach
// output.log in the order the step wrote them, on one pipe, tagged
// [out+err] (two pipes read by two goroutines put its errors before the
// lines that led to them); a step whose stdout is an artifact keeps the
// streams apart, and the artifact holds stdout alone.
func TestOutputInTheOrderWritten(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A",
		"## Stage 1: Talk\n\n```sh {name=talk}\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo out$i; echo err$i >&2; done\n```\n\n"+
			"```sh {name=dump artifact=dump.txt}\necho data; echo note >&2\n```\n")})
	out := r.run(nil)
	if len(out.Receipts) != 2 {
		t.Fatalf("%d receipts, want 2", len(out.Receipts))
	}
	dir, _ := (&artifacts.Store{Root: r.root}).RelDir(out.Receipts[0].RunKey)
	var got, want []string
	for _, line := range strings.Split(strings.TrimSuffix(r.read(dir+"/output.log"), "\n"), "\n") {
		_, text, ok := strings.Cut(line, " [out+err] ")
		if !ok {
			t.Fatalf("line %q is not tagged [out+err]", line)
		}
		got = append(got, text)
	}
	for i := 1; i <= 20; i++ {
		want = append(want, fmt.Sprintf("out%d", i), fmt.Sprintf("err%d", i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output.log lines out of order (-want +got):\n%s", diff)
	}
	dir, _ = (&artifacts.Store{Root: r.root}).RelDir(out.Receipts[1].RunKey)
	log := r.read(dir + "/output.log")
	if !strings.Contains(log, " [out] data\n") || !strings.Contains(log, " [err] note\n") {
		t.Errorf("artifact step's log:\n%s", log)
	}
	if art := r.read("artifacts/loop-a/dump.txt"); art != "data\n" {
		t.Errorf("artifact: %q, want stdout alone", art)
	}
}

// TestRefusedReceiptSurvivesALaterStoreFailure: a step spine refused to
// run (its artifact is a symbolic link) leaves a receipt without running
// anything. When a later step of the stage cannot store its output (it
// made a folder at its artifact's path while it ran) the run stops
// before the stage's commit; the next run
// commits every receipt the first wrote, not only those of steps that
// ran, so that a clone has the whole chain.
func TestRefusedReceiptSurvivesALaterStoreFailure(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A",
		"## Stage 1: Capture\n\n```sh {name=linked artifact=link.txt allow_failure=true}\necho a\n```\n\n"+
			"```sh {name=stored artifact=dir.txt}\nmkdir artifacts/loop-a/dir.txt\necho b\n```\n")})
	art := filepath.Join(r.root, "artifacts", "loop-a")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(art, "link.txt")); err != nil {
		t.Fatal(err)
	}
	r.git("add", "artifacts/loop-a/link.txt")
	r.git("commit", "-q", "-m", "link")

	ctx := context.Background()
	if out, code := r.spine(ctx, nil, "run"); code != 1 || !strings.Contains(out, "dir.txt") {
		t.Fatalf("first run: exit %d, want 1 (the artifact not stored)\n%s", code, out)
	}
	if out, code := r.spine(ctx, nil, "run"); code != 0 && code != 3 {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	if s := r.git("status", "--porcelain", "--untracked-files=all", "--", "receipts"); strings.TrimSpace(s) != "" {
		t.Fatalf("receipts left out of git:\n%s", s)
	}
	if got := r.stepReceipts("linked"); !cmp.Equal(got, []string{"fail"}) {
		t.Errorf("linked receipts = %v, want one fail", got)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", r.root, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v %s", err, out)
	}
	if out, code := (&testRepo{t: t, root: clone}).spine(ctx, nil, "verify"); code != 0 {
		t.Fatalf("verify in a clone: exit %d\n%s", code, out)
	}
}

// TestArtifactPathThatIsAFolderIsRefusedBeforeRunning: a folder where a
// step's artifact file belongs could not be replaced by the file once the
// step ran: the step is not run, and its receipt says why.
func TestArtifactPathThatIsAFolderIsRefusedBeforeRunning(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Capture\n\n```sh {name=capture artifact=dir.txt}\necho ran >> %s\necho data\n```\n", count))})
	if err := os.MkdirAll(filepath.Join(r.root, "artifacts", "loop-a", "dir.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, code := r.spine(context.Background(), nil, "run")
	if code != 1 {
		t.Fatalf("run: exit %d, want 1\n%s", code, out)
	}
	if n := countLines(t, count); n != 0 {
		t.Fatalf("the step ran %d time(s)", n)
	}
	rcs := r.receipts()
	if len(rcs) != 1 || rcs[0].Status != artifacts.StatusFail || !strings.Contains(rcs[0].Note, `not run: artifact "dir.txt" refused: artifacts/loop-a/dir.txt is a folder, not a file`) {
		t.Fatalf("receipts %+v", rcs)
	}
	r.clean()
}

// TestStopBetweenStepsStartsNothingMore: a run asked to stop (its
// context cancelled, as Ctrl-C or SIGTERM do) after one step ended, in
// the same stage or at a stage's commit, starts no further step: the
// destructive step never runs and stays pending, not interrupted.
func TestStopBetweenStepsStartsNothingMore(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		point      string // the fault point of step look at which the stop comes
	}{
		{"same stage", "## Stage 1: Both\n\n```sh {name=look}\necho looked\n```\n\n```sh {name=wipe destructive=true}\necho wiped >> %s\n```\n", FaultAfterResult},
		{"next stage", "## Stage 1: Read\n\n```sh {name=look}\necho looked\n```\n\n## Stage 2: Wipe\n\n```sh {name=wipe destructive=true}\necho wiped >> %s\n```\n", FaultAfterCommit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf(tc.body, count))})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opts := r.runOpts(nil)
			opts.Fault = func(point string) {
				if point == tc.point {
					cancel()
				}
			}
			if _, err := NewRunner(opts).Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("run: %v", err)
			}
			if n := countLines(t, count); n != 0 {
				t.Fatalf("wipe ran %d time(s) after the stop", n)
			}
			if got := r.stepReceipts("look"); !cmp.Equal(got, []string{"pass"}) {
				t.Errorf("look receipts = %v", got)
			}
			if got := r.stepReceipts("wipe"); got != nil {
				t.Errorf("wipe receipts = %v, want none", got)
			}
			if it := r.plan(nil, "LOOP-A", "wipe"); it.State != StatePending {
				t.Errorf("wipe is %s (%s), want pending", it.State, it.Reason)
			}
			r.clean()
		})
	}
}

// TestRetryRefusedAtTheGateKeepsTheHold: a --retry of a failed gated
// step without its approval writes a blocked mark; the failure's hold
// stays under it, so that a later approved run without --retry does not
// run the step again. --retry with the approval does.
func TestRetryRefusedAtTheGateKeepsTheHold(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=wipe gate=ALLOW_WIPE destructive=true}\necho wiped >> %s\nexit 4\n```\n", count))})
	ctx := context.Background()
	approved := []string{"ALLOW_WIPE=yes"}
	if out, code := r.spine(ctx, approved, "run"); code != 1 {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	out, code := r.spine(ctx, nil, "run", "--retry", "wipe")
	if code != 3 {
		t.Fatalf("unapproved retry: exit %d, want 3 (blocked)\n%s", code, out)
	}
	// It says the approval alone will not run the step.
	for _, want := range []string{"once approved, --retry wipe runs it", "approve and retry: ALLOW_WIPE=yes spine run --retry wipe"} {
		if !strings.Contains(out, want) {
			t.Errorf("unapproved retry's output lacks %q:\n%s", want, out)
		}
	}
	if got := r.stepReceipts("wipe"); !cmp.Equal(got, []string{"fail", "blocked"}) {
		t.Fatalf("wipe receipts = %v", got)
	}

	if it := r.plan(map[string]string{"ALLOW_WIPE": "yes"}, "LOOP-A", "wipe"); it.State != StateFailed || !strings.Contains(it.Reason, "exit 4") {
		t.Fatalf("approved plan: wipe is %s (%s), want failed", it.State, it.Reason)
	}
	if out, code := r.spine(ctx, approved, "run"); code != 3 {
		t.Fatalf("approved run without --retry: exit %d, want 3 (held)\n%s", code, out)
	}
	if n := countLines(t, count); n != 1 {
		t.Fatalf("wipe ran %d times; the approval alone must not re-run it", n)
	}
	if out, code := r.spine(ctx, approved, "run", "--retry", "wipe"); code != 1 {
		t.Fatalf("approved retry: exit %d, want 1 (it fails again)\n%s", code, out)
	}
	if n := countLines(t, count); n != 2 {
		t.Fatalf("wipe ran %d times after an approved --retry, want 2", n)
	}
	// A resolve after another refused retry names the failure it
	// resolves, not the blocked mark.
	r.spine(ctx, nil, "run", "--retry", "wipe")
	if out, code := r.spine(ctx, approved, "resolve", "wipe", "--as", "pass", "--note", "checked by hand"); code != 0 {
		t.Fatalf("resolve: exit %d\n%s", code, out)
	}
	var resolved []string
	for _, rc := range r.receipts() {
		if strings.HasPrefix(rc.Note, artifacts.ResolvedNote) {
			resolved = append(resolved, rc.Note)
		}
	}
	if len(resolved) != 1 || !strings.Contains(resolved[0], "(was fail: ") {
		t.Errorf("resolve's notes %q: want one naming the failure", resolved)
	}
	r.clean()
}

// TestDestructiveStepWaitsForThePreviousReceipt: the previous step's
// receipt is written while the next step runs, except before a
// destructive step: a receipt that cannot be stored stops the run before
// the destructive step starts. The next run records the receipt.
func TestDestructiveStepWaitsForThePreviousReceipt(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=look}\necho looked\n```\n\n```sh {name=wipe destructive=true}\necho wiped >> %s\n```\n", count))})
	opts := r.runOpts(nil)
	var blocker string
	opts.Fault = func(point string) {
		if point != FaultAfterResult || blocker != "" {
			return
		}
		// look's receipt cannot be written: a file stands where its
		// folder goes (its key is its running log's name).
		logs, _ := filepath.Glob(filepath.Join(opts.StateDir, "runs", "*__step.look__*.log"))
		if len(logs) != 1 {
			t.Errorf("running logs %v", logs)
			return
		}
		key := strings.TrimSuffix(filepath.Base(logs[0]), ".log")
		rel, err := (&artifacts.Store{Root: r.root}).RelDir(key)
		if err != nil {
			t.Error(err)
			return
		}
		blocker = filepath.Join(r.root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(blocker), 0o755)
		if err := os.WriteFile(blocker, []byte("in the way\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	if _, err := NewRunner(opts).Run(context.Background()); err == nil || blocker == "" {
		t.Fatalf("run: %v, want an error for a receipt that could not be written", err)
	}
	if n := countLines(t, count); n != 0 {
		t.Fatalf("wipe ran %d time(s) after look's receipt could not be written", n)
	}
	os.Remove(blocker)
	r.run(nil)
	if got := r.stepReceipts("look"); !cmp.Equal(got, []string{"pass"}) {
		t.Errorf("look receipts = %v", got)
	}
	if got := r.stepReceipts("wipe"); !cmp.Equal(got, []string{"pass"}) || countLines(t, count) != 1 {
		t.Errorf("wipe receipts = %v, ran %d time(s)", got, countLines(t, count))
	}
	r.clean()
}

// TestApprovalsDoNotReachSteps: a gate's NAME=yes is spine's to read; no
// step, gated or not, finds it in its environment (a nested spine run
// would take it as its own approval). Other variables reach the steps.
func TestApprovalsDoNotReachSteps(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=gated gate=ALLOW_X}\nenv | grep -E '^(ALLOW_|OTHER=|GIT_)' | sort | sed 's/^/seen /'\n```\n\n```sh {name=plain}\nenv | grep -E '^(ALLOW_|OTHER=|GIT_)' | sort | sed 's/^/seen /'\n```\n")})
	// The registry's gates of spine's own actions (gaps.file here, which
	// no step names) are kept from the steps too.
	reg, _, err := caps.Parse("capabilities.yaml", []byte("capabilities:\n  gaps.file:\n    approval: manual\n    gate: ALLOW_GAPFILE\n  verify.pack.run:\n    approval: manual\n  ro:\n    safety: read-only\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := RegistryGates(reg), []string{"ALLOW_GAPFILE", "ALLOW_VERIFY_PACK_RUN"}; !cmp.Equal(got, want) {
		t.Fatalf("RegistryGates = %v, want %v", got, want)
	}
	// Nor do the variables that point git at one repository (a spine
	// started from a git hook or alias passes GIT_DIR on); the git
	// configuration passed on (GIT_CONFIG_*) does.
	out := r.run(map[string]string{"ALLOW_X": "yes", "OTHER": "yes", "ALLOW_GAPFILE": " YES", "ALLOW_VERIFY_PACK_RUN": "yes", "GIT_DIR": "/nowhere", "GIT_WORK_TREE": "/nowhere", "GIT_CONFIG_COUNT": "1"}, func(o *Options) { o.CapGates = RegistryGates(reg) })
	if len(out.Receipts) != 2 {
		t.Fatalf("receipts %d", len(out.Receipts))
	}
	for _, rc := range out.Receipts {
		logs, _ := filepath.Glob(filepath.Join(r.root, "receipts", "*", "*", "*", rc.RunKey, "output.log"))
		if len(logs) != 1 {
			t.Fatalf("output.log of %s: %v", rc.RunKey, logs)
		}
		data, err := os.ReadFile(logs[0])
		if err != nil {
			t.Fatal(err)
		}
		if log := string(data); strings.Contains(log, "seen ALLOW_") || strings.Contains(log, "seen GIT_DIR") || strings.Contains(log, "seen GIT_WORK_TREE") ||
			!strings.Contains(log, "seen OTHER=yes") || !strings.Contains(log, "seen GIT_CONFIG_COUNT=1") {
			t.Errorf("step %s saw:\n%s", rc.Step, log)
		}
	}
}

// TestRetryRefusedAtTheGateKeepsTheHoldAcrossALoopRename: the hold under
// a blocked mark holds when the failed run was under the loop's earlier
// id (its evidence block records it), whether the mark came before or
// after the id changed.
func TestRetryRefusedAtTheGateKeepsTheHoldAcrossALoopRename(t *testing.T) {
	for _, renameFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("rename first %v", renameFirst), func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			doc := loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=wipe gate=ALLOW_WIPE destructive=true}\necho wiped >> %s\nexit 4\n```\n", count))
			r.commit("loop", map[string]string{"loops/a.md": doc})
			ctx := context.Background()
			approved := []string{"ALLOW_WIPE=yes"}
			if out, code := r.spine(ctx, approved, "run"); code != 1 {
				t.Fatalf("first run: exit %d\n%s", code, out)
			}
			rename := func() {
				r.commit("rename", map[string]string{"loops/a.md": strings.ReplaceAll(r.read("loops/a.md"), "LOOP-A", "LOOP-B")})
			}
			if renameFirst {
				rename()
			}
			if out, code := r.spine(ctx, nil, "run", "--retry", "wipe"); code != 3 {
				t.Fatalf("unapproved retry: exit %d, want 3 (blocked)\n%s", code, out)
			}
			if !renameFirst {
				rename()
			}
			if it := r.plan(map[string]string{"ALLOW_WIPE": "yes"}, "LOOP-B", "wipe"); it.State != StateFailed {
				t.Fatalf("approved plan: wipe is %s (%s), want failed", it.State, it.Reason)
			}
			r.spine(ctx, approved, "run")
			if n := countLines(t, count); n != 1 {
				t.Fatalf("wipe ran %d times; the approval alone must not re-run it", n)
			}
			// A resolve names the failure under the earlier id.
			if out, code := r.spine(ctx, approved, "resolve", "wipe", "--as", "fail", "--note", "checked"); code != 0 {
				t.Fatalf("resolve: exit %d\n%s", code, out)
			}
			var notes []string
			for _, rc := range r.receipts() {
				if strings.HasPrefix(rc.Note, artifacts.ResolvedNote) {
					notes = append(notes, rc.Note)
				}
			}
			if len(notes) != 1 || !strings.Contains(notes[0], "(was fail: ") {
				t.Errorf("resolve's notes %q: want one naming the failure", notes)
			}
		})
	}
}

// TestStopWhileAStepIsAboutToStart: a stop that lands while a step's
// intent is made durable (a signal the run had not yet seen when it
// decided to run the step) starts nothing: the intent is forgotten, the
// step stays pending, and the next run runs it once.
func TestStopWhileAStepIsAboutToStart(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Both\n\n```sh {name=look}\necho looked\n```\n\n```sh {name=wipe destructive=true}\necho wiped >> %s\n```\n", count))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := r.runOpts(nil)
	intents := 0
	opts.Fault = func(point string) {
		if point == FaultAfterIntent {
			if intents++; intents == 2 {
				cancel() // wipe's intent
			}
		}
	}
	if _, err := NewRunner(opts).Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	if n := countLines(t, count); n != 0 {
		t.Fatalf("wipe ran %d time(s) after the stop", n)
	}
	if got := r.stepReceipts("wipe"); got != nil {
		t.Fatalf("wipe receipts = %v, want none", got)
	}
	if it := r.plan(nil, "LOOP-A", "wipe"); it.State != StatePending {
		t.Fatalf("wipe is %s (%s), want pending", it.State, it.Reason)
	}
	r.clean()
	r.run(nil)
	if n := countLines(t, count); n != 1 {
		t.Fatalf("wipe ran %d time(s) in the next run, want 1", n)
	}
	if got := r.stepReceipts("look"); !cmp.Equal(got, []string{"pass"}) {
		t.Errorf("look receipts = %v", got)
	}
	r.clean()
}

// TestLookFindsAStepWhoseRunDied: a run killed while its step runs leaves
// the step's process group alive (a long sleep, an rsync). With no run
// holding the lock, that is work for the watcher and the hook (Look): the
// next run records the step as interrupted and kills the group, instead
// of waiting for it to end by itself.
func TestLookFindsAStepWhoseRunDied(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Copy\n\n```sh {name=copy}\necho started >> %s\nsleep 60\n```\n", count))})
	r.killRunOnce(count)
	look, err := Look(r.runOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !look.Work || !strings.Contains(look.Reason, "lost its run") {
		t.Fatalf("Look: work %v (%s), want work for the step whose run died", look.Work, look.Reason)
	}
	r.run(nil)
	if got := r.stepReceipts("copy"); !cmp.Equal(got, []string{"interrupted"}) {
		t.Fatalf("copy receipts = %v", got)
	}
	r.clean()
}
