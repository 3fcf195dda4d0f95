package site_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/logtest"
	"github.com/spinehq/spine/internal/servetest"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/site"
)

// loadRepo reads the repository at repo as Serve's Load does.
func loadRepo(repo, out string) (site.Options, error) {
	cfg, err := config.Load(repo)
	if err != nil {
		return site.Options{}, err
	}
	paths, err := loops.Discover(repo, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err != nil {
		return site.Options{}, err
	}
	return site.Options{Root: repo, Out: out, Config: cfg, Set: loops.Load(repo, paths), Now: fixtureNow}, nil
}

// siteFiles returns the content of every file of a built site but the
// records that only save time (sums and receipt state, with file stats).
func siteFiles(t *testing.T, out string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for p := range tree(t, out) {
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(data)
	}
	return files
}

// TestServeWatchMatchesFreshBuild serves a copy of the fixture, changes
// its inputs one after the other while it runs, waits for each rebuild
// and compares the served site, byte for byte, with what a fresh build of
// the same inputs writes. On Linux the rebuilds must be the watcher's
// incremental ones (but for spine.yaml, which reads everything again).
func TestServeWatchMatchesFreshBuild(t *testing.T) {
	for _, mode := range []struct {
		name    string
		noWatch bool
	}{{"watch", false}, {"poll", true}} {
		t.Run(mode.name, func(t *testing.T) { testServeMatchesFreshBuild(t, mode.noWatch) })
	}
}

// testServeMatchesFreshBuild is TestServeWatchMatchesFreshBuild, watching
// files or (noWatch) polling.
func testServeMatchesFreshBuild(t *testing.T, noWatch bool) {
	repo := fixtureCopy(t)
	out := filepath.Join(t.TempDir(), "public")
	logs := servetest.Start(t, site.ServeOptions{
		Poll:    50 * time.Millisecond,
		NoWatch: noWatch,
		Load:    func() (site.Options, error) { return loadRepo(repo, out) },
	})
	watching := runtime.GOOS == "linux" && !noWatch
	storage := filepath.Join(repo, "loops", "LOOP-DEMO-STORAGE-20260301.md")
	zpool := filepath.Join(repo, "receipts", "2026", "03", "01", "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd")
	read := func(p string) string {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	// watchOnly changes are not seen by polling, which checks the
	// modification times of folders, not of the files in run folders
	// (receipts are written once).
	tests := []struct {
		name        string
		change      func()
		incremental bool
		watchOnly   bool
	}{
		{"edit a loop document", func() {
			writeFile(t, storage, read(storage)+"\nEdited while serving.\n")
		}, true, false},
		{"change a loop's status", func() {
			writeFile(t, storage, strings.Replace(read(storage), "status: active", "status: paused", 1))
		}, true, false},
		{"add a receipt", func() {
			addReceipt(t, repo, receiptSpec{key: "CAP-20260302-130000__step.audit-vms__Rnewrun0001", loop: "LOOP-DEMO-CLOSED-20260215", step: "audit-vms", status: "pass", command: "qm list", output: "ok\n"})
		}, true, false},
		{"add a receipt in a new day folder", func() {
			addReceipt(t, repo, receiptSpec{key: "CAP-20260405-090000__step.audit-vms__Rnewday0001", loop: "LOOP-DEMO-CLOSED-20260215", step: "audit-vms", status: "fail", command: "qm list", output: "no\n"})
		}, true, false},
		{"edit a receipt.json in place", func() {
			p := filepath.Join(zpool, "receipt.json")
			writeFile(t, p, strings.Replace(read(p), `"host":`, `"note": "edited in place", "host":`, 1))
		}, true, true},
		{"append to an output.log", func() {
			p := filepath.Join(zpool, "output.log")
			writeFile(t, p, read(p)+"one more line\n")
		}, true, true},
		{"change an artifact", func() {
			p := filepath.Join(repo, "artifacts", "loop-demo-storage-20260301", "10-zpool-list.txt")
			writeFile(t, p, read(p)+"changed\n")
		}, true, true},
		// A step run again rewrites its artifact: the earlier receipt's
		// page says so (see buildState.artifactRun), and says the hash
		// does not match again once the later receipt is gone.
		{"add a receipt rewriting an artifact", func() {
			p := filepath.Join(repo, "artifacts", "loop-demo-storage-20260301", "10-zpool-list.txt")
			writeFile(t, p, "rewritten by a retry\n")
			addReceipt(t, repo, receiptSpec{key: "CAP-20260303-100000__step.zpool-list__Rretry00001", loop: "LOOP-DEMO-STORAGE-20260301", step: "zpool-list", status: "pass", command: "zpool list -v tank", output: "ok\n",
				artifact: "artifacts/loop-demo-storage-20260301/10-zpool-list.txt"})
		}, true, false},
		{"remove the receipt that rewrote an artifact", func() {
			if err := os.RemoveAll(filepath.Join(repo, "receipts", "2026", "03", "03", "CAP-20260303-100000__step.zpool-list__Rretry00001")); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"remove a receipt", func() {
			if err := os.RemoveAll(filepath.Join(repo, "receipts", "2026", "03", "01", "CAP-20260301-101600__step.provision__Rq9w8e7r6t5")); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		// A copy of a run folder in another date folder: the run's page
		// says so, also after a rebuild that reads no receipts.
		{"copy a run folder into another date folder", func() {
			dst := filepath.Join(repo, "receipts", "2026", "01", "01", filepath.Base(zpool))
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"receipt.json", "output.log"} {
				writeFile(t, filepath.Join(dst, f), read(filepath.Join(zpool, f)))
			}
		}, true, false},
		{"edit a loop document with the copy there", func() {
			writeFile(t, storage, read(storage)+"\nEdited beside a copy.\n")
		}, true, false},
		{"add a loop with the copy there", func() {
			writeFile(t, filepath.Join(repo, "loops", "LOOP-BESIDE-20260310.md"), "---\nloop_id: LOOP-BESIDE-20260310\nstatus: draft\n---\n# x\n")
		}, true, false},
		{"remove the copy", func() {
			if err := os.RemoveAll(filepath.Join(repo, "receipts", "2026", "01")); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"edit the gap ledger", func() {
			p := filepath.Join(repo, "gaps.yaml")
			writeFile(t, p, strings.Replace(read(p), "GAP-OP-1033", "GAP-OP-1034", 1))
		}, true, false},
		{"change a verify pack", func() {
			p := filepath.Join(repo, "verify", "media.yaml")
			writeFile(t, p, read(p)+"\n")
			writeFile(t, filepath.Join(repo, "verify", "extra.yaml"), "pack: extra\ndescription: an extra pack\nchecks:\n  - id: extra-one\n    title: One\n    run: \"true\"\n")
		}, true, false},
		{"add a loop in a new folder", func() {
			dir := filepath.Join(repo, "teams", "ops", "loop-scopes")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "LOOP-NEW-20260310.md"), "---\nloop_id: LOOP-NEW-20260310\nstatus: active\n---\n# LOOP-NEW-20260310\n\nSee LOOP-DEMO-CLOSED-20260215.\n")
		}, true, false},
		{"remove a loop", func() {
			if err := os.Remove(filepath.Join(repo, "loops", "LOOP-DEMO-XSS-20260302.md")); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"change spine.yaml", func() {
			writeFile(t, filepath.Join(repo, "spine.yaml"), "site:\n  title: renamed evidence\n")
		}, false, false},
		{"edit a loop after spine.yaml changed", func() {
			writeFile(t, storage, read(storage)+"\nEdited again.\n")
		}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.watchOnly && !watching {
				t.Skip("polling does not see this change")
			}
			// Drain what came before.
			for len(logs) > 0 {
				<-logs
			}
			tc.change()
			var last slog.Record
			rebuilt := false
			deadline := time.After(20 * time.Second)
			for !rebuilt {
				select {
				case r := <-logs:
					switch r.Message {
					case "site rebuilt":
						last, rebuilt = r, true
					case "site rebuild failed":
						t.Fatalf("rebuild failed: %v", logtest.Attr(r, "err"))
					case "site serve: file watcher failed, falling back to polling and full builds":
						t.Errorf("watcher failed: %v", logtest.Attr(r, "why"))
					}
				case <-deadline:
					t.Fatal("no rebuild")
				}
			}
			// Let any rebuild the change still causes finish.
		quiet:
			for {
				select {
				case r := <-logs:
					if r.Message == "site rebuilt" {
						last = r
					}
				case <-time.After(400 * time.Millisecond):
					break quiet
				}
			}
			if watching && tc.incremental && !logtest.Attr(last, "incremental").Bool() {
				t.Errorf("rebuild was not incremental: %v", last)
			}
			fresh := filepath.Join(t.TempDir(), "public")
			opts, err := loadRepo(repo, fresh)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := site.Build(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(siteFiles(t, fresh), siteFiles(t, out)); diff != "" {
				t.Errorf("served site differs from a fresh build (-fresh +served):\n%s", diff)
			}
		})
	}
}

// TestServeWatchesAgainAfterFailure makes the file watcher fail (the
// repository moved away and back) and checks that Serve, polling
// meanwhile, watches again after ServeOptions.Rewatch: a later change is
// rebuilt incrementally, as only the watcher's rebuilds are.
func TestServeWatchesAgainAfterFailure(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the file watcher is Linux's")
	}
	repo := fixtureCopy(t)
	out := filepath.Join(t.TempDir(), "public")
	logs := servetest.Start(t, site.ServeOptions{
		Poll:    50 * time.Millisecond,
		Rewatch: 300 * time.Millisecond,
		Load:    func() (site.Options, error) { return loadRepo(repo, out) },
	})
	// waitFor waits for a log record with the message msg.
	waitFor := func(msg string) slog.Record {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case r := <-logs:
				if r.Message == msg {
					return r
				}
			case <-deadline:
				t.Fatalf("no %q", msg)
			}
		}
	}
	if err := os.Rename(repo, repo+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(repo+".moved", repo); err != nil {
		t.Fatal(err)
	}
	waitFor("site serve: file watcher failed, falling back to polling and full builds")
	waitFor("site serve: watching files again")
	if r := waitFor("site rebuilt"); logtest.Attr(r, "incremental").Bool() {
		t.Errorf("the first rebuild after watching again trusted the watcher: %v", r)
	}
	// Let that rebuild settle, then change a loop document.
	time.Sleep(200 * time.Millisecond)
	for len(logs) > 0 {
		<-logs
	}
	storage := filepath.Join(repo, "loops", "LOOP-DEMO-STORAGE-20260301.md")
	data, err := os.ReadFile(storage)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, storage, string(data)+"\nEdited after the watcher came back.\n")
	if r := waitFor("site rebuilt"); !logtest.Attr(r, "incremental").Bool() {
		t.Errorf("rebuild after watching again was not incremental: %v", r)
	}
}
