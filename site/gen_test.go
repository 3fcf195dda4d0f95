package site_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/gen"
	"github.com/spinehq/spine/loops"
)

// genRepo writes a repository of n generated loops (internal/gen) with
// perLoop receipts each, chained, under dir.
func genRepo(tb testing.TB, dir string, n, perLoop int) {
	tb.Helper()
	if err := gen.GenerateLoops(dir, n, 1); err != nil {
		tb.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				if err := genReceipts(dir, i, perLoop, base); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
}

// genReceipts writes the receipts of generated loop i.
func genReceipts(dir string, i, perLoop int, base time.Time) error {
	rel := gen.Path(i)
	src, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	d := loops.Parse(rel, src)
	type stepRef struct{ stage, name string }
	var steps []stepRef
	for _, sg := range d.Stages {
		for _, s := range sg.Steps {
			if s.Kind != loops.KindManual && s.Name != "" {
				steps = append(steps, stepRef{sg.Title, s.Name})
			}
		}
	}
	if len(steps) == 0 {
		steps = []stepRef{{"Stage 1", "adhoc"}}
	}
	prev := ""
	start := base.Add(time.Duration(i) * 37 * time.Minute)
	for j := 0; j < perLoop; j++ {
		s := steps[j%len(steps)]
		t := start.Add(time.Duration(j) * 11 * time.Minute)
		key := fmt.Sprintf("CAP-%s__step.%s__R%010d", t.Format("20060102-150405"), s.name, i*perLoop+j)
		status, exit := artifacts.StatusPass, 0
		switch {
		case j%13 == 7:
			status, exit = artifacts.StatusBlocked, 0
		case j%7 == 5:
			status, exit = artifacts.StatusFail, 1
		}
		out := fmt.Sprintf("%s [out] running %s for %s\n%s [out] \x1b[32mok\x1b[0m %d items\n%s [err] note: generated receipt %d\n",
			t.Format(artifacts.OutputTimeLayout), s.name, d.LoopID, t.Add(time.Second).Format(artifacts.OutputTimeLayout), j*3,
			t.Add(2*time.Second).Format(artifacts.OutputTimeLayout), j)
		cmd := "echo " + s.name + " && uname -a"
		r := &artifacts.Receipt{RunKey: key, LoopID: d.LoopID, Stage: s.stage, Step: s.name, Capability: "step." + s.name,
			Command: cmd, CommandSHA256: artifacts.CommandSHA256(cmd), Host: "pve", User: "ops", Workdir: "/srv/ops",
			StartedAt: t.Format(time.RFC3339), FinishedAt: t.Add(3 * time.Second).Format(time.RFC3339), DurationMS: 3000,
			ExitCode: exit, Status: status, OutputSHA256: artifacts.HashBytes([]byte(out)), SourceCommit: strings.Repeat("ab", 20),
			SpineVersion: "bench", Prev: prev}
		if status == artifacts.StatusBlocked {
			r.Gate = "ALLOW_POOL_WIPE"
		}
		data, err := artifacts.MarshalReceipt(r)
		if err != nil {
			return err
		}
		prev = artifacts.ChainHash(data)
		rd := filepath.Join(dir, "receipts", t.Format("2006/01/02"), key)
		if err := os.MkdirAll(rd, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rd, "receipt.json"), data, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rd, "output.log"), []byte(out), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// loadSet parses the loop documents of a repository with the default
// configuration.
func loadSet(tb testing.TB, root string) *loops.Set {
	tb.Helper()
	paths, err := loops.Discover(root, []string{"loops/**/*.md", "**/loop-scopes/*.md"}, nil, []string{"receipts", "artifacts", "public"})
	if err != nil {
		tb.Fatal(err)
	}
	return loops.Load(root, paths)
}
