package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRunStepsCPU runs one loop of 50 `true` steps in one stage
// through Runner.Run, as BenchmarkRunSteps does, and reports the CPU time
// per step besides the wall time: spine's own (RUSAGE_SELF: journal,
// receipts, process start, stage commit) and the steps' processes'
// (RUSAGE_CHILDREN: the `sh -c true` spawns). On a shared machine the
// wall time is mostly the run queue; spine's own CPU time is the part of
// the per-step overhead (issue #8: ≤ 5 ms/step) that spine's code decides.
// SPINE_BENCH_SHM=1 puts the repository on /dev/shm.
//
//	go test ./pipeline -run '^$' -bench RunStepsCPU -benchtime 3x
func BenchmarkRunStepsCPU(b *testing.B) {
	const steps = 50
	var body strings.Builder
	body.WriteString("---\nloop_id: LOOP-BENCH-STEPS\nstatus: active\n---\n# LOOP-BENCH-STEPS\n\n### Stage 1: Steps\n\n")
	for i := 0; i < steps; i++ {
		fmt.Fprintf(&body, "```sh {name=t%03d}\ntrue\n```\n\n", i)
	}
	base := ""
	if os.Getenv("SPINE_BENCH_SHM") != "" {
		base = "/dev/shm"
	}
	var wall, self, children time.Duration
	for b.Loop() {
		b.StopTimer()
		dir, err := os.MkdirTemp(base, "spine-steps-")
		if err != nil {
			b.Fatal(err)
		}
		root := filepath.Join(dir, "repo")
		benchGitInit(b, root)
		if err := os.MkdirAll(filepath.Join(root, "loops"), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "loops", "LOOP-BENCH-STEPS.md"), []byte(body.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", "init"}} {
			cmd := exec.Command("git", args...)
			cmd.Dir, cmd.Env = root, gitEnv("Operator", "op@example.com")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
		}
		opts := benchOpts(b, root, filepath.Join(root, ".git", "spine"))
		s0, c0 := rusage(b, syscall.RUSAGE_SELF), rusage(b, syscall.RUSAGE_CHILDREN)
		b.StartTimer()
		t0 := time.Now()
		out, err := NewRunner(opts).Run(context.Background())
		wall += time.Since(t0)
		b.StopTimer()
		self += rusage(b, syscall.RUSAGE_SELF) - s0
		children += rusage(b, syscall.RUSAGE_CHILDREN) - c0
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Receipts) != steps {
			b.Fatalf("%d receipts, want %d", len(out.Receipts), steps)
		}
		os.RemoveAll(dir)
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) / steps / 1e6 }
	b.ReportMetric(per(wall), "ms/step")
	b.ReportMetric(per(self), "self-cpu-ms/step")
	b.ReportMetric(per(children), "child-cpu-ms/step")
}

// rusage returns the user plus system CPU time of who.
func rusage(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJournalAppend appends step records as a run does: an intent
// (fsynced), its pid (not) and a result (not) per step.
//
//	go test ./pipeline -run '^$' -bench JournalAppend
func BenchmarkJournalAppend(b *testing.B) {
	for _, tc := range []struct {
		name string
		sync bool
	}{{"nosync", false}, {"intent-fsync", true}} {
		b.Run(tc.name, func(b *testing.B) {
			j, err := OpenJournal(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			rec := JournalRecord{Kind: recIntent, RunKey: "CAP-20260301-101500__step.t001__Rabcdefghij", LoopID: "LOOP-BENCH", Step: "t001", At: time.Now()}
			for b.Loop() {
				if tc.sync {
					if err := j.Append(rec); err != nil {
						b.Fatal(err)
					}
				} else if err := j.AppendNoSync(rec); err != nil {
					b.Fatal(err)
				}
				if err := j.AppendNoSync(rec); err != nil {
					b.Fatal(err)
				}
				if err := j.AppendNoSync(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := j.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
