package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWatchRunsAPushedApprovalAndStopsOnSIGTERM: spine watch records the
// gated step as blocked, picks up the approval an approver pushes
// (approvals: [GATE] in the loop's frontmatter), runs the step, pushes,
// and exits 0 on SIGTERM.
func TestWatchRunsAPushedApprovalAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	count := filepath.Join(t.TempDir(), "count")
	body := "## Stage 1: Provision\n\n" + step("name=provision gate=ALLOW_PROVISION destructive=true", "echo ran >> "+count)
	doc := loopDoc("LOOP-W", body)
	bare := newBare(t, map[string]string{
		"spine.yaml": "policy:\n  approvers: [\"Lead <lead@example.com>\"]\n",
		"loops/w.md": doc,
	})
	host := cloneOf(t, bare)
	logPath := filepath.Join(t.TempDir(), "watch.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, spineBin(), "watch", "--interval", "200ms", "--host", "w1")
	cmd.Dir = host
	cmd.Env = gitEnv("Operator", "op@example.com")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	logText := func() string { b, _ := os.ReadFile(logPath); return string(b) }

	waitFor(t, 30*time.Second, "the blocked receipt pushed", func() bool {
		return strings.Contains(bareGit(t, bare, "log", "--format=%s", "main"), "1 blocked")
	})
	if countLines(t, count) != 0 {
		t.Fatal("the gated step ran without approval")
	}
	// The approver pushes the approval.
	approver := cloneOf(t, bare)
	approved := strings.Replace(readFile(t, filepath.Join(approver, "loops/w.md")), "status: active\n", "status: active\napprovals: [ALLOW_PROVISION]\n", 1)
	commitAs(t, approver, "Lead", "lead@example.com", "approve provisioning", map[string]string{"loops/w.md": approved})
	approval := git(t, approver, "rev-parse", "HEAD")
	git(t, approver, "push", "-q")

	waitFor(t, 30*time.Second, "the approved step run and pushed", func() bool {
		return strings.Contains(bareGit(t, bare, "log", "-1", "--format=%s", "main"), "1 pass")
	})
	if n := countLines(t, count); n != 1 {
		t.Fatalf("the step ran %d times", n)
	}
	var pass struct {
		Status   string
		Approval struct{ Source, Commit, Author string }
	}
	for _, p := range receiptFiles(t, bare) {
		if err := json.Unmarshal([]byte(bareGit(t, bare, "show", "main:"+p)), &pass); err == nil && pass.Status == "pass" {
			break
		}
	}
	if pass.Approval.Source != "git" || pass.Approval.Commit != approval || !strings.Contains(pass.Approval.Author, "lead@example.com") {
		t.Fatalf("approval recorded as %+v, want the lead's commit %s", pass.Approval, approval)
	}
	assertLinear(t, bare)

	stopped := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("watch exited with %v after SIGTERM\n%s", err, logText())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("watch did not stop on SIGTERM\n%s", logText())
	}
	t.Logf("watch stopped %s after SIGTERM", time.Since(stopped).Round(time.Millisecond))
	if !strings.Contains(logText(), "stopped by signal") {
		t.Fatalf("no shutdown line in the log:\n%s", logText())
	}
}

// TestWatchStopsARunningStepAsInterrupted: SIGTERM while a step runs: the
// step is stopped and recorded as interrupted, committed and pushed, and
// watch exits 0.
func TestWatchStopsARunningStepAsInterrupted(t *testing.T) {
	t.Parallel()
	started := filepath.Join(t.TempDir(), "started")
	body := "## Stage 1: Slow\n\n" + step("name=slow", "touch "+started+"\nsleep 60")
	bare := newBare(t, map[string]string{"loops/s.md": loopDoc("LOOP-S", body)})
	host := cloneOf(t, bare)
	cmd := exec.Command(spineBin(), "watch", "--interval", "200ms", "--host", "w1")
	cmd.Dir = host
	cmd.Env = gitEnv("Operator", "op@example.com")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitFor(t, 30*time.Second, "the step started", func() bool { _, err := os.Stat(started); return err == nil })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("watch exited with %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("watch did not stop")
	}
	rcs := receiptFiles(t, bare)
	if len(rcs) != 1 {
		t.Fatalf("receipts pushed: %v\n%s", rcs, out.String())
	}
	var rc struct{ Status, Note string }
	if err := json.Unmarshal([]byte(bareGit(t, bare, "show", "main:"+rcs[0])), &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Status != "interrupted" {
		t.Fatalf("receipt status %s (%s), want interrupted", rc.Status, rc.Note)
	}
}
