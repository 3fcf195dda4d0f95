package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEightRunsTogetherExecuteEachStepOnce starts eight spine processes on
// the same repository at the same moment, each waiting for the lock: every
// step runs exactly once, every process exits 0, nothing is left
// uncommitted.
func TestEightRunsTogetherExecuteEachStepOnce(t *testing.T) {
	r := newRepo(t)
	fl := newFaultLoop(t)
	r.commit("loop", map[string]string{"loops/f.md": fl.doc})
	start := make(chan struct{})
	var wg sync.WaitGroup
	codes := make([]int, 8)
	outs := make([]string, 8)
	for i := range codes {
		wg.Go(func() {
			<-start
			outs[i], codes[i] = r.spine(context.Background(), nil, "run", "--wait", "2m")
		})
	}
	close(start)
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("run %d: exit %d\n%s", i, c, outs[i])
		}
	}
	for _, s := range faultSteps {
		if n := countLines(t, fl.counters[s.name]); n != 1 {
			t.Errorf("step %s executed %d times by 8 runs", s.name, n)
		}
		if got := r.stepReceipts(s.name); !cmp.Equal(got, []string{"pass"}) {
			t.Errorf("step %s receipts %v", s.name, got)
		}
	}
	r.assertConsistent("")
}

// TestRunRacingGitPull pulls another operator's commit into the repository
// while spine runs a step there: the commit touches the loop document being
// run and adds a file. Nothing may be lost: the other operator's changes
// stay, the receipts are committed on top, the step is not run again, and
// the later stage runs from the new text (not the text read before).
func TestRunRacingGitPull(t *testing.T) {
	r := newRepo(t)
	dir := t.TempDir()
	started, release, later := filepath.Join(dir, "started"), filepath.Join(dir, "release"), filepath.Join(dir, "later")
	doc := loopDoc("LOOP-P", fmt.Sprintf("## Stage 1: Slow\n\n```sh {name=slow}\necho run >> %s\nwhile [ ! -e %s ]; do sleep 0.05; done\n```\n\n## Stage 2: Later\n\n```sh {name=later}\necho v1 >> %s\n```\n", started, release, later))
	r.commit("loop", map[string]string{"loops/p.md": doc})
	other := remoteRepo(t, r)

	cmd := exec.Command(spineBin(), "--repo", r.root, "run")
	cmd.Env = gitEnv("Operator", "op@example.com")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return countLines(t, started) == 1 })
	// Meanwhile, another operator edits the later step and adds a note.
	edited := strings.Replace(doc, "echo v1", "echo v2", 1) + "\n## Notes\n\nAdded by the other operator.\n"
	other.commitAs("Other", "other@example.com", "edit later, add notes", map[string]string{"loops/p.md": edited, "notes/other.md": "other\n"})
	other.gitAs("Other", "other@example.com", "push", "-q", "origin", "main")
	r.git("pull", "-q", "--ff-only", "origin", "main")
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("spine did not finish\n%s", out.String())
	}
	// A second run completes whatever the first left for it.
	if o, code := r.spine(context.Background(), nil, "run"); code != 0 {
		t.Fatalf("second run: exit %d\n%s\nfirst run:\n%s", code, o, out.String())
	}
	if n := countLines(t, started); n != 1 {
		t.Errorf("the slow step ran %d times", n)
	}
	if got := r.read("notes/other.md"); got != "other\n" {
		t.Errorf("the other operator's file is gone: %q", got)
	}
	final := r.read("loops/p.md")
	if !strings.Contains(final, "Added by the other operator.") || !strings.Contains(final, "echo v2") {
		t.Errorf("the other operator's edit of the loop document was lost:\n%s", final)
	}
	if got, _ := os.ReadFile(later); string(got) != "v2\n" {
		t.Errorf("the later step ran %q; want the text pulled during the run (v2), once", got)
	}
	if got := r.stepReceipts("slow"); !cmp.Equal(got, []string{"pass"}) {
		t.Errorf("slow receipts %v", got)
	}
	r.assertConsistent("")
}

// TestLockTakeoverAfterKill9 kills (SIGKILL) a run that holds the
// repository lock: the kernel releases the flock, the next run takes it at
// once and logs (visible with -v) that it took over from the dead pid.
func TestLockTakeoverAfterKill9(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: X\n\n```sh {name=slow idempotent=true}\necho run >> %s\n[ $(wc -l < %s) -gt 1 ] || sleep 30\n```\n", count, count))})
	cmd := exec.Command(spineBin(), "--repo", r.root, "run")
	cmd.Env = gitEnv("Operator", "op@example.com")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	lockFile := filepath.Join(r.root, ".git", "spine", "lock")
	waitFor(t, 30*time.Second, func() bool {
		b, _ := os.ReadFile(lockFile)
		f := strings.Fields(string(b))
		return len(f) > 0 && f[0] == strconv.Itoa(pid) && countLines(t, count) == 1
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// No --wait: the lock must be free at once.
	start := time.Now()
	out, code := r.spine(context.Background(), nil, "-v", "run")
	if code != 0 {
		t.Fatalf("run after kill -9: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "took over the lock of a run that is gone") || !strings.Contains(out, "pid="+strconv.Itoa(pid)) {
		t.Errorf("no takeover message naming pid %d:\n%s", pid, out)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("taking the lock over took %s", el)
	}
	if got := r.stepReceipts("slow"); !cmp.Equal(got, []string{"interrupted", "pass"}) {
		t.Errorf("slow receipts %v, want [interrupted pass] (idempotent: re-run once)", got)
	}
	if b, _ := os.ReadFile(lockFile); strings.TrimSpace(string(b)) != "" {
		t.Errorf("lock file still names pid %q after the run", b)
	}
	// And the next run takes the lock without a takeover message.
	out, code = r.spine(context.Background(), nil, "-v", "run")
	if code != 0 || strings.Contains(out, "took over") {
		t.Errorf("clean handover: exit %d\n%s", code, out)
	}
	r.assertConsistent("")
}

// TestRunHolderIsTheProcessThatLocked: a lock file names the process that
// took the lock by its pid and start time; a live process that was given
// that pid later (the recorded one gone) is no holder, nor is a lock file
// of a dead pid.
func TestRunHolderIsTheProcessThatLocked(t *testing.T) {
	dir := t.TempDir()
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	}()
	pid := sleeper.Process.Pid
	ticks := procStartTicks(pid)
	if ticks == 0 {
		t.Skip("no start time in /proc")
	}
	for _, tc := range []struct {
		content string
		want    int
	}{
		{fmt.Sprintf("%d %d\n", pid, ticks), pid},
		{fmt.Sprintf("%d %d\n", pid, ticks+1), 0}, // the pid given again
		{fmt.Sprintf("%d\n", pid), pid},           // written by an older spine
		{"999999999 1\n", 0},
		{"", 0},
	} {
		if err := os.WriteFile(filepath.Join(dir, "lock"), []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := runHolder(dir); got != tc.want {
			t.Errorf("lock file %q: holder %d, want %d", tc.content, got, tc.want)
		}
	}
}

// TestZombieIsNoHolder: a process that has exited and waits to be reaped
// (a zombie) holds no lock: a spine killed under a parent that does not
// reap it left its locks for every later run to stop on.
func TestZombieIsNoHolder(t *testing.T) {
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	defer child.Wait()
	// Not reaped yet: a zombie once it has exited.
	waitFor(t, 10*time.Second, func() bool { return procGone(pid) })
	if pidAlive(pid) {
		t.Error("a zombie counts as alive")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lock"), []byte(fmt.Sprintf("%d %d\n", pid, procStartTicks(pid))), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runHolder(dir); got != 0 {
		t.Errorf("holder %d, want none", got)
	}
}
