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

	"github.com/spinehq/spine/bench/repogen"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
)

// benchOpts reads a repository the way `spine plan` and `spine run` do.
func benchOpts(b testing.TB, root, stateDir string) Options {
	b.Helper()
	cfg, err := config.Load(root)
	if err != nil {
		b.Fatal(err)
	}
	paths, err := loops.Discover(root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts})
	if err != nil {
		b.Fatal(err)
	}
	g, err := gitx.Open(root)
	if err != nil {
		b.Fatal(err)
	}
	return Options{
		Root: root, Config: cfg, Set: loops.Load(root, paths), Git: g,
		StateDir: stateDir, Host: "bench-host", User: "bench",
		Env:       append(gitEnv("Operator", "op@example.com"), "PATH="+os.Getenv("PATH")),
		LookupEnv: func(string) (string, bool) { return "", false },
		Clock:     time.Now,
	}
}

func benchGitInit(b *testing.B, root string) {
	b.Helper()
	cmd := exec.Command("git", "init", "-q", "-b", "main", root)
	cmd.Env = gitEnv("Operator", "op@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Skipf("git init: %v %s", err, out)
	}
}

// BenchmarkPlan plans every loop of a generated repository with nothing
// pending (10 receipts per loop), as `spine plan` does: discover and parse
// the documents, load the receipt history, plan each loop. "cold" removes
// the receipt index cache before each iteration; "cached" keeps it.
// Goal (issue #8): 5,000 loops and 50,000 receipts in at most 1 s, growing
// linearly. SPINE_BENCH_LARGE=1 adds 20,000 loops.
//
//	go test ./pipeline -run '^$' -bench 'Plan$' -benchtime 5x
func BenchmarkPlan(b *testing.B) {
	sizes := []int{500, 5000}
	if os.Getenv("SPINE_BENCH_LARGE") != "" {
		sizes = append(sizes, 20000)
	}
	for _, n := range sizes {
		root, done := filepath.Join(b.TempDir(), "repo"), false // shared by both modes
		setup := func(b *testing.B) {
			if done {
				return
			}
			done = true
			t0 := time.Now()
			st, err := repogen.Generate(root, n, 10*n, 1, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			benchGitInit(b, root)
			b.Logf("generated %d loops, %d receipts in %s", st.Loops, st.Receipts, time.Since(t0).Round(time.Millisecond))
		}
		for _, mode := range []string{"cold", "cached"} {
			b.Run(fmt.Sprintf("loops=%d/%s", n, mode), func(b *testing.B) {
				setup(b)
				state := b.TempDir()
				if mode == "cached" {
					if _, err := LoadHistory(root, "receipts", state); err != nil {
						b.Fatal(err)
					}
				}
				for b.Loop() {
					if mode == "cold" {
						os.RemoveAll(filepath.Join(state, indexName))
					}
					opts := benchOpts(b, root, state)
					p, err := Plan(opts)
					if err != nil {
						b.Fatal(err)
					}
					pending := 0
					for _, items := range p.PlanLoops(opts.Set.Docs) {
						for _, it := range items {
							if it.State == StatePending {
								pending++
							}
						}
					}
					if pending != 0 {
						b.Fatalf("%d steps pending, want 0", pending)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/loop")
			})
		}
	}
}

// BenchmarkRunSteps runs one loop of N `true` steps in one stage through
// Runner.Run (journal intent fsync, process spawn, receipt, one commit per
// stage) and reports the time per step. Goal (issue #8): at most 5 ms per
// step over the same commands in one sh script. It also reports the CPU
// time per step: spine's own (RUSAGE_SELF: journal, receipts, stage commit)
// and the steps' processes' (RUSAGE_CHILDREN: the `sh -c true` spawns); on
// a shared machine the wall time is mostly the run queue, and spine's own
// CPU is the part of the overhead its code decides. The state folder and
// repository are in the test's temp folder (disk); SPINE_BENCH_SHM=1 puts
// them on /dev/shm to show the overhead without the disk.
//
//	go test ./pipeline -run '^$' -bench RunSteps -benchtime 3x
func BenchmarkRunSteps(b *testing.B) {
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

// BenchmarkLoadHistory loads the receipt history of a generated repository
// of 5,000 loops and 50,000 receipts with the index cached (what `spine
// plan` and `spine status` pay on every call) and cold (every receipt.json
// read). SPINE_BENCH_REPO names an existing repository to read instead of
// generating one.
//
//	go test ./pipeline -run '^$' -bench LoadHistory -benchtime 5x
func BenchmarkLoadHistory(b *testing.B) {
	root := os.Getenv("SPINE_BENCH_REPO")
	if root == "" {
		root = filepath.Join(b.TempDir(), "repo")
		if _, err := repogen.Generate(root, 5000, 50000, 1, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []string{"cached", "cold"} {
		b.Run(mode, func(b *testing.B) {
			state := b.TempDir()
			if _, err := LoadHistory(root, "receipts", state); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if mode == "cold" {
					os.Remove(filepath.Join(state, indexName))
				}
				h, err := LoadHistory(root, "receipts", state)
				if err != nil {
					b.Fatal(err)
				}
				if len(h.All()) == 0 {
					b.Fatal("no runs")
				}
			}
		})
	}
}
