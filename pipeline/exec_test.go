package pipeline

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunProcessOutputAfterExit checks what is read of the output a step's
// process group writes after its main process exited: everything written
// within pipeGrace, and nothing that would keep the step waiting longer
// (the group is killed then).
func TestRunProcessOutputAfterExit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  string
		wantOut string
		maxTime time.Duration
	}{
		{"background job done within the grace", "(sleep 0.3; echo late) & echo early", "early\nlate\n", pipeGrace},
		{"daemon holding the pipes", "(sleep 30; echo never) & echo early", "early\n", pipeGrace + 2*time.Second},
		{"stderr too", "(sleep 0.2; echo late >&2) & echo early >&2", "", pipeGrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			var bufs [2][]byte
			pgid := 0
			start := time.Now()
			res := runProcess(context.Background(), procSpec{
				Argv: []string{"sh", "-c", tc.script}, Stdout: &stdout, Stderr: &stderr, Bufs: &bufs,
				OnStart: func(pid int) error { pgid = pid; return nil },
			})
			took := time.Since(start)
			if res.Err != nil || res.ExitCode != 0 {
				t.Fatalf("exit %d, err %v", res.ExitCode, res.Err)
			}
			if stdout.String() != tc.wantOut {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.wantOut)
			}
			if strings.Contains(tc.name, "stderr") && stderr.String() != "early\nlate\n" {
				t.Errorf("stderr %q, want early and late", stderr.String())
			}
			if took > tc.maxTime {
				t.Errorf("took %s, want at most %s", took, tc.maxTime)
			}
			// The group is killed when the step ends (reaping by init may
			// take a moment).
			waitFor(t, 5*time.Second, func() bool { return !processAlive(pgid) })
		})
	}
}

// TestRunProcessLeftRunning: a step that leaves a process running in its
// group (a daemon with its output elsewhere, a job still holding the
// pipes) is told apart from one whose background jobs ended, or ended and
// were not yet reaped; what it left is killed.
func TestRunProcessLeftRunning(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         bool
	}{
		{"nothing left", "echo done", false},
		{"a job that ended", "true & sleep 0.2; echo done", false},
		{"a daemon, output elsewhere", "nohup sleep 30 >/dev/null 2>&1 & echo started", true},
		{"a job holding the pipes", "sleep 30 & echo started", true},
		// A process in a session of its own is not the step's to kill;
		// that it held the output is said (see below).
		{"a daemon of its own session holding the pipes", "setsid sleep 3 & echo started", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pgid := 0
			var out, errOut bytes.Buffer
			res := runProcess(context.Background(), procSpec{
				Argv: []string{"sh", "-c", tc.script}, Stdout: &out, Stderr: &errOut,
				OnStart: func(pid int) error { pgid = pid; return nil },
			})
			if res.Err != nil || res.ExitCode != 0 {
				t.Fatalf("exit %d, err %v, %s%s", res.ExitCode, res.Err, out.String(), errOut.String())
			}
			if res.LeftRunning != tc.want {
				t.Errorf("LeftRunning = %v, want %v", res.LeftRunning, tc.want)
			}
			held := strings.HasPrefix(tc.name, "a daemon of its own session")
			if res.OutputHeld != held && !tc.want {
				t.Errorf("OutputHeld = %v, want %v", res.OutputHeld, held)
			}
			if note := describeEnd(res, 0); (note == leftRunningNote) != tc.want || held && note != heldNote() {
				t.Errorf("note %q; want the left-running note: %v, the held-output note: %v", note, tc.want, held)
			}
			waitFor(t, 5*time.Second, func() bool { return !processAlive(pgid) })
		})
	}
}

// TestRunProcessOwnSession: a step is the leader of a session of its own
// (so of its process group too), so it has no controlling terminal: a
// read of /dev/tty fails at once instead of stopping the step on the
// operator's terminal.
func TestRunProcessOwnSession(t *testing.T) {
	var out bytes.Buffer
	res := runProcess(context.Background(), procSpec{
		Argv:   []string{"sh", "-c", `read -r line < /proc/$$/stat; echo "$$ ${line##*) }"; if sh -c ": < /dev/tty" 2>/dev/null; then echo tty; else echo no-tty; fi`},
		Stdout: &out, Stderr: &bytes.Buffer{},
	})
	if res.Err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d, err %v, %s", res.ExitCode, res.Err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out.String())
	}
	// pid, then stat's fields after the command: state ppid pgrp session.
	f := strings.Fields(lines[0])
	if len(f) < 5 || f[3] != f[0] || f[4] != f[0] {
		t.Errorf("pid and stat %q: want the step's pid as its process group and session", lines[0])
	}
	if lines[1] != "no-tty" {
		t.Errorf("/dev/tty: %s; want no-tty", lines[1])
	}
}

// TestScriptArgv: code up to maxInlineScript is the shell's -c argument;
// longer code is read from the script file, with the interpreter's other
// options kept.
func TestScriptArgv(t *testing.T) {
	long := strings.Repeat("x", maxInlineScript+1)
	for _, tt := range []struct {
		lang, code string
		want       []string
		file       bool
	}{
		{"sh", "echo hi", []string{"sh", "-e", "-c", "echo hi"}, false},
		{"sh", long[1:], []string{"sh", "-e", "-c", long[1:]}, false},
		{"sh", long, []string{"sh", "-e", "/state/runs/K.sh"}, true},
		{"bash", long, []string{"bash", "-e", "-o", "pipefail", "/state/runs/K.sh"}, true},
	} {
		interp, ok := Interpreter(tt.lang)
		if !ok {
			t.Fatal(tt.lang)
		}
		got, file := scriptArgv(interp, tt.code, "/state/runs/K.sh")
		if file != tt.file || !slices.Equal(got, tt.want) {
			t.Errorf("%s, %d bytes: %.60q, file %v; want %.60q, %v", tt.lang, len(tt.code), got, file, tt.want, tt.file)
		}
	}
	if interp, _ := Interpreter("sh"); interp[len(interp)-1] != "-c" {
		t.Errorf("sh's interpreter %q does not end in -c", interp)
	}
}
