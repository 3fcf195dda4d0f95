package packs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spinehq/spine/artifacts"
)

// normalize replaces the variable part of result lines, the duration.
func normalize(out string) string {
	return regexp.MustCompile(`(?m) \d+ms$`).ReplaceAllString(out, " Nms")
}

func ignoreDurations() cmp.Option {
	return cmpopts.IgnoreFields(artifacts.CheckResult{}, "DurationMS")
}

func mustPack(tb testing.TB, name, yaml string) *Pack {
	tb.Helper()
	p, problems, err := Parse(name+".yaml", []byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	for _, pr := range problems {
		if pr.Level == LevelError && !strings.Contains(pr.Message, "no run command") {
			tb.Fatalf("pack %s: %v", name, pr)
		}
	}
	return p
}

func TestRun(t *testing.T) {
	media, _, err := Parse("media.yaml", readFixture(t, "verify/media.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pack    *Pack
		want    Result
		wantOut string
	}{
		{
			name: "non-blocking failure",
			pack: media,
			want: Result{
				Pack: "media", Passed: 2, Total: 3, Summary: "2/3 PASS; non-blocking fail: D188",
				Checks: []artifacts.CheckResult{
					{ID: "D187", Title: "jellyfin answers", Status: "pass", ExitCode: 0, Blocking: true, Command: media.Checks[0].Run},
					{ID: "D188", Title: "stale feed freshness", Status: "fail", ExitCode: 1, Blocking: false, Command: media.Checks[1].Run},
					{ID: "D189", Title: "disks mounted", Status: "pass", ExitCode: 0, Blocking: true, Command: media.Checks[2].Run},
				},
			},
			wantOut: "== D187 jellyfin answers ==\njellyfin ok\n-- D187 PASS exit 0 Nms\n" +
				"== D188 stale feed freshness ==\nfeed is 3 days old\n-- D188 FAIL exit 1 (non-blocking) Nms\n" +
				"== D189 disks mounted ==\n-- D189 PASS exit 0 Nms\n",
		},
		{
			name: "blocking failure does not stop the pack",
			pack: mustPack(t, "b", "pack: b\nchecks:\n  - {id: B1, run: 'exit 3'}\n  - {id: B2, title: after, run: 'echo still ran'}\n  - {id: B3, run: 'exit 1', blocking: false}\n"),
			want: Result{
				Pack: "b", Passed: 1, Total: 3, Failed: true, Summary: "1/3 PASS; fail: B1; non-blocking fail: B3",
				Checks: []artifacts.CheckResult{
					{ID: "B1", Status: "fail", ExitCode: 3, Blocking: true, Command: "exit 3"},
					{ID: "B2", Title: "after", Status: "pass", ExitCode: 0, Blocking: true, Command: "echo still ran"},
					{ID: "B3", Status: "fail", ExitCode: 1, Blocking: false, Command: "exit 1"},
				},
			},
			wantOut: "== B1 ==\n-- B1 FAIL exit 3 Nms\n== B2 after ==\nstill ran\n-- B2 PASS exit 0 Nms\n== B3 ==\n-- B3 FAIL exit 1 (non-blocking) Nms\n",
		},
		{
			name: "check without run fails",
			pack: mustPack(t, "n", "pack: n\nchecks:\n  - {id: N1}\n"),
			want: Result{
				Pack: "n", Passed: 0, Total: 1, Failed: true, Summary: "0/1 PASS; fail: N1",
				Checks: []artifacts.CheckResult{{ID: "N1", Status: "fail", ExitCode: -1, Blocking: true}},
			},
			wantOut: "== N1 ==\n-- N1 FAIL exit -1 (no run command) Nms\n",
		},
		{
			name: "stdin is closed",
			pack: mustPack(t, "s", "pack: s\nchecks:\n  - {id: S1, run: 'cat; echo eof', timeout: 5s}\n"),
			want: Result{
				Pack: "s", Passed: 1, Total: 1, Summary: "1/1 PASS",
				Checks: []artifacts.CheckResult{{ID: "S1", Status: "pass", ExitCode: 0, Blocking: true, Command: "cat; echo eof"}},
			},
			wantOut: "== S1 ==\neof\n-- S1 PASS exit 0 Nms\n",
		},
		{
			name: "killed by a signal",
			pack: mustPack(t, "k", "pack: k\nchecks:\n  - {id: K1, run: 'kill -9 $$'}\n"),
			want: Result{
				Pack: "k", Passed: 0, Total: 1, Failed: true, Summary: "0/1 PASS; fail: K1",
				Checks: []artifacts.CheckResult{{ID: "K1", Status: "fail", ExitCode: -1, Blocking: true, Command: "kill -9 $$"}},
			},
			wantOut: "== K1 ==\n-- K1 FAIL exit -1 (killed by killed) Nms\n",
		},
		{
			name: "empty pack",
			pack: &Pack{Name: "e"},
			want: Result{Pack: "e", Summary: "0/0 PASS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			got := Run(context.Background(), tt.pack, RunOptions{Output: &out, Grace: 500 * time.Millisecond})
			if diff := cmp.Diff(tt.want, got, ignoreDurations(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Run (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantOut, normalize(out.String())); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunDirAndEnv(t *testing.T) {
	dir := t.TempDir()
	p := mustPack(t, "e", "pack: e\nchecks:\n  - {id: E1, run: 'echo \"$GREETING\"; pwd; test -z \"$HOME\"'}\n")
	var out bytes.Buffer
	res := Run(context.Background(), p, RunOptions{Dir: dir, Env: []string{"GREETING=hi", "PATH=" + os.Getenv("PATH")}, Output: &out})
	real, _ := filepath.EvalSymlinks(dir)
	if want := "== E1 ==\nhi\n" + real + "\n-- E1 PASS exit 0 Nms\n"; normalize(out.String()) != want || res.Failed {
		t.Errorf("output = %q, want %q (failed=%v)", out.String(), want, res.Failed)
	}
}

// TestRunTimeoutIgnoringTERM runs a check that ignores SIGTERM: the run
// ends about timeout+grace later, with the whole group killed.
func TestRunTimeoutIgnoringTERM(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	p := mustPack(t, "t", "pack: t\nchecks:\n  - id: T1\n    run: \"trap '' TERM; sleep 30 & echo $! > "+pidFile+"; wait\"\n    timeout: 300ms\n")
	var out bytes.Buffer
	start := time.Now()
	res := Run(context.Background(), p, RunOptions{Output: &out, Grace: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if elapsed > 3*time.Second {
		t.Errorf("run took %s; want about 500ms", elapsed)
	}
	want := []artifacts.CheckResult{{ID: "T1", Status: "fail", ExitCode: -1, Blocking: true, Command: p.Checks[0].Run}}
	if diff := cmp.Diff(want, res.Checks, ignoreDurations()); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), "-- T1 FAIL exit -1 (timed out after 300ms) ") {
		t.Errorf("output = %q", out.String())
	}
	if d := res.Checks[0].DurationMS; d < 300 || d > 3000 {
		t.Errorf("DurationMS = %d, want about 500", d)
	}
	assertDead(t, pidFile)
}

// TestRunBackgroundSleeper: a check that leaves a background process
// holding its output pipe neither hangs the run nor leaks the process.
func TestRunBackgroundSleeper(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	p := mustPack(t, "bg", "pack: bg\nchecks:\n  - {id: G1, run: 'sleep 30 & echo $! > "+pidFile+"; echo started'}\n  - {id: G2, run: 'echo next'}\n")
	var out bytes.Buffer
	start := time.Now()
	res := Run(context.Background(), p, RunOptions{Output: &out, Grace: 5 * time.Second})
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("run took %s; the background sleeper held it up", elapsed)
	}
	if res.Summary != "2/2 PASS" || normalize(out.String()) != "== G1 ==\nstarted\n-- G1 PASS exit 0 Nms\n== G2 ==\nnext\n-- G2 PASS exit 0 Nms\n" {
		t.Errorf("summary %q, output %q", res.Summary, out.String())
	}
	assertDead(t, pidFile)
}

// TestRunEscapedSleeper: a process that leaves the check's group but keeps
// the pipe open delays the run by the grace period at most.
func TestRunEscapedSleeper(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid is not installed")
	}
	p := mustPack(t, "esc", "pack: esc\nchecks:\n  - {id: X1, run: 'setsid sleep 3 & sleep 0.3; echo bye'}\n")
	var out bytes.Buffer
	start := time.Now()
	res := Run(context.Background(), p, RunOptions{Output: &out, Grace: 300 * time.Millisecond})
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("run took %s; want about the 300ms grace", elapsed)
	}
	if res.Failed || !strings.Contains(out.String(), "spine: output of X1 still open 300ms after it exited; stopped reading\n") {
		t.Errorf("failed=%v output=%q", res.Failed, out.String())
	}
}

func TestRunCancel(t *testing.T) {
	p := mustPack(t, "c", "pack: c\nchecks:\n  - {id: C1, run: 'sleep 30'}\n  - {id: C2, run: 'echo never'}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	res := Run(ctx, p, RunOptions{Output: &out, Grace: 200 * time.Millisecond})
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("run took %s after cancellation", elapsed)
	}
	want := Result{
		Pack: "c", Total: 2, Failed: true, Summary: "0/2 PASS; fail: C1, C2",
		Checks: []artifacts.CheckResult{
			{ID: "C1", Status: "fail", ExitCode: -1, Blocking: true, Command: "sleep 30"},
			{ID: "C2", Status: "fail", ExitCode: -1, Blocking: true, Command: "echo never"},
		},
	}
	if diff := cmp.Diff(want, res, ignoreDurations()); diff != "" {
		t.Errorf("Run (-want +got):\n%s", diff)
	}
	wantOut := "== C1 ==\n-- C1 FAIL exit -1 (context deadline exceeded) Nms\n== C2 ==\n-- C2 FAIL exit -1 not run: context deadline exceeded Nms\n"
	if diff := cmp.Diff(wantOut, normalize(out.String())); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// assertDead waits briefly for the process whose pid the check wrote to be
// gone (or a zombie awaiting its reaper).
func assertDead(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the check did not record its background pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return // gone
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("background process %d is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunLongestCheck checks MaxRun against the system: a check of
// exactly MaxRun bytes starts and passes, one a byte longer cannot start
// (which is why Parse refuses it). Linux's bound is 32 pages: the second
// half holds where pages are 4 KiB (elsewhere MaxRun is only cautious).
func TestRunLongestCheck(t *testing.T) {
	cases := []struct {
		n    int
		pass bool
	}{{MaxRun, true}}
	if runtime.GOOS == "linux" && os.Getpagesize() == 4096 {
		cases = append(cases, struct {
			n    int
			pass bool
		}{MaxRun + 1, false})
	}
	for _, tc := range cases {
		code := "echo ran\nexit 0\n#"
		code += strings.Repeat("x", tc.n-len(code))
		p := &Pack{Name: "long", Checks: []Check{{ID: "L1", Run: code, Blocking: true}}}
		var out strings.Builder
		res := Run(context.Background(), p, RunOptions{Output: &out})
		if got := res.Checks[0].Status == artifacts.StatusPass; got != tc.pass {
			t.Errorf("check of %d bytes: passed %v, want %v; output:\n%s", tc.n, got, tc.pass, out.String())
		}
	}
}
