package gitx

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// benchStageFiles is the number of files one stage run commits: four
// steps' receipt.json and output.log, and the loop document.
const benchStageFiles = 9

// benchRepo makes a repository whose HEAD holds n files laid out like a
// spine repository (receipts/YYYY/MM/DD/<RUN_KEY>/{receipt.json,output.log},
// a loop document), committed by CommitFiles itself; git config lists
// further settings.
func benchRepo(b *testing.B, n int, gitConfig ...[2]string) (*Repo, string) {
	b.Helper()
	root := b.TempDir()
	if out, err := exec.Command("git", "-c", "init.defaultBranch=main", "init", "-q", root).CombinedOutput(); err != nil {
		b.Skipf("git init: %v %s", err, out)
	}
	for _, kv := range append([][2]string{{"user.name", "bench"}, {"user.email", "bench@spine.invalid"}, {"core.fsync", "none"}, {"gc.auto", "0"}, {"maintenance.auto", "false"}}, gitConfig...) {
		exec.Command("git", "-C", root, "config", kv[0], kv[1]).Run()
	}
	paths := []string{"loops/LOOP-BENCH.scope.md"}
	writeFile(b, root, paths[0], "---\nloop_id: LOOP-BENCH\nstatus: active\n---\n# LOOP-BENCH\n")
	for i := 0; len(paths) < n; i++ {
		dir := fmt.Sprintf("receipts/2026/%02d/%02d/CAP-2026%02d%02d-%06d__step.s%d__Rbase%06d", 1+i%12, 1+i%28, 1+i%12, 1+i%28, i%240000, i, i)
		for _, f := range []string{"receipt.json", "output.log"} {
			if len(paths) == n {
				break
			}
			writeFile(b, root, dir+"/"+f, fmt.Sprintf("{\"run_key\":%q,\"n\":%d}\n", f, i))
			paths = append(paths, dir+"/"+f)
		}
	}
	// The base files are old, as in a repository that has been in use:
	// files written in the same second as the index would all be racily
	// clean, and re-checked on every commit.
	old := time.Now().Add(-time.Hour)
	for _, p := range paths {
		if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(p)), old, old); err != nil {
			b.Fatal(err)
		}
	}
	g, err := Open(root)
	if err != nil {
		b.Fatal(err)
	}
	// The base objects are loose, as in the benchmarks of earlier
	// sessions (a commit of this many objects would write a pack): a
	// repository whose objects are all packed has no fan-out folders
	// yet, and its first loose objects pay for making them, once.
	g.packMinObjects = math.MaxInt
	if _, _, err := g.CommitFiles(paths, "base", benchSig()); err != nil {
		b.Fatal(err)
	}
	g.packMinObjects = defaultPackMinObjects
	// Let the disk write the set-up's files back before the timed
	// commits, so that they measure the commit, not that write-back.
	syscall.Sync()
	return g, root
}

func writeFile(b *testing.B, root, rel, data string) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		b.Fatal(err)
	}
}

// cpuTime returns the user plus system CPU time of this process and its
// waited-for children.
func cpuTime(b *testing.B) time.Duration {
	var d time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			b.Fatal(err)
		}
		d += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return d
}

func benchSig() object.Signature {
	return object.Signature{Name: "bench", Email: "bench@spine.invalid", When: time.Unix(1767225600, 0).UTC()}
}

// stageFiles writes one stage's new receipts (and touches the loop
// document) for iteration it and returns their paths.
func stageFiles(b *testing.B, root string, it int) []string {
	paths := []string{"loops/LOOP-BENCH.scope.md"}
	writeFile(b, root, paths[0], fmt.Sprintf("---\nloop_id: LOOP-BENCH\nstatus: active\nlast_heartbeat_utc: %d\n---\n# LOOP-BENCH\n", it))
	for s := 0; len(paths) < benchStageFiles; s++ {
		dir := fmt.Sprintf("receipts/2026/03/01/CAP-20260301-%06d__step.bench%d__Rrun%07d", s, s, it)
		for _, f := range []string{"receipt.json", "output.log"} {
			writeFile(b, root, dir+"/"+f, fmt.Sprintf("{\"it\":%d,\"s\":%d,\"f\":%q}\n", it, s, f))
			paths = append(paths, dir+"/"+f)
		}
	}
	return paths
}

// BenchmarkCommitFiles commits one stage's files (9: four receipts with
// their output and the loop document) into a repository of 20 and of
// 20,000 files. The goal (issue #8): the 20,000-file commit costs at most
// 1.5× the 20-file one. The git-cli sub-benchmarks do the same with
// `git add <files> && git commit` for comparison. cpu-ns/op is the CPU
// time (spine's, or git's processes') of the timed part, steadier than
// ns/op on a busy machine.
//
//	go test ./internal/gitx -run '^$' -bench CommitFiles -benchtime 20x
func BenchmarkCommitFiles(b *testing.B) {
	for _, n := range []int{20, 20000} {
		// gitx: the default, a plain index rewritten whole on every
		// commit; split-gitx: with core.splitIndex true, git's split
		// index, whose cost does not grow with the repository.
		// The -fresh variants open the repository again before each
		// commit (not timed), as a run that commits one stage does: a
		// Repo keeps the index it wrote, so that the later commits of a
		// run do not read it again, and the first one of a process must.
		for _, v := range []struct {
			name  string
			cfg   [][2]string
			fresh bool
		}{
			{"gitx", nil, false},
			{"gitx-fresh", nil, true},
			{"split-gitx", [][2]string{{"core.splitIndex", "true"}}, false},
			{"split-gitx-fresh", [][2]string{{"core.splitIndex", "true"}}, true},
		} {
			b.Run(fmt.Sprintf("files=%d/%s", n, v.name), func(b *testing.B) {
				g, root := benchRepo(b, n, v.cfg...)
				it := 0
				var cpu time.Duration
				for b.Loop() {
					b.StopTimer()
					paths := stageFiles(b, root, it)
					it++
					if v.fresh {
						var err error
						if g, err = Open(root); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					c0 := cpuTime(b)
					if _, ok, err := g.CommitFiles(paths, fmt.Sprintf("spine(LOOP-BENCH): stage %d", it), benchSig()); err != nil || !ok {
						b.Fatal(ok, err)
					}
					cpu += cpuTime(b) - c0
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
		b.Run(fmt.Sprintf("files=%d/git-cli", n), func(b *testing.B) {
			if _, err := exec.LookPath("git"); err != nil {
				b.Skip("no git")
			}
			_, root := benchRepo(b, n)
			// git's own index must know the base files, as in a real
			// working tree (not timed).
			if out, err := exec.Command("git", "-C", root, "reset", "-q").CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			it := 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				paths := stageFiles(b, root, it)
				it++
				b.StartTimer()
				c0 := cpuTime(b)
				add := exec.Command("git", append([]string{"-C", root, "add", "--"}, paths...)...)
				if out, err := add.CombinedOutput(); err != nil {
					b.Fatal(err, string(out))
				}
				if out, err := exec.Command("git", "-C", root, "commit", "-q", "--no-verify", "-m", "stage").CombinedOutput(); err != nil {
					b.Fatal(err, string(out))
				}
				cpu += cpuTime(b) - c0
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
