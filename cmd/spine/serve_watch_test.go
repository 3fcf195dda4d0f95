package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/internal/logtest"
	"github.com/spinehq/spine/internal/servetest"
	"github.com/spinehq/spine/site"
)

// siteFiles returns the content of every file of a built site but the
// records that only save time (with file stats).
func siteFiles(t *testing.T, out string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestServeReloadMatchesSiteBuild serves a repository with `spine site
// serve`'s loader (which reads again only the documents the watcher
// names), changes loop documents and receipts while it runs, and compares
// the served site after each rebuild, byte for byte, with what `spine site
// build` writes for the same repository.
func TestServeReloadMatchesSiteBuild(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-A\nstatus: active\n---\n\n# LOOP-A\n\n## Stage 1: Go\n\n```sh {name=one}\necho one\n```\n\n```sh {name=two}\necho two\n```\n")
	writeLoop := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeLoop("loops/b.md", "---\nloop_id: LOOP-B\nstatus: active\n---\n\n# LOOP-B\n\nSee LOOP-A.\n\n## Stage 1: Go\n\n```sh {name=only}\necho b\n```\n")
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "b")
	if _, errOut, code := spine(t, "--repo", dir, "run"); code != 0 {
		t.Fatalf("spine run: %d %s", code, errOut)
	}

	out := filepath.Join(t.TempDir(), "public")
	a := newApp(io.Discard, io.Discard)
	a.repo = dir
	l := &siteLoader{a: a, out: out}
	logs := servetest.Start(t, site.ServeOptions{Load: l.load, Reload: l.reload})
	tests := []struct {
		name   string
		change func()
	}{
		{"edit a loop document", func() {
			writeLoop("loops/a.md", "---\nloop_id: LOOP-A\nstatus: active\n---\n\n# LOOP-A\n\nEdited.\n\n## Stage 1: Go\n\n```sh {name=one}\necho one\n```\n\n```sh {name=two}\necho two\n```\n\n```sh {name=three}\necho three\n```\n")
		}},
		{"run the new step", func() {
			gitCmd(t, dir, "add", "-A")
			gitCmd(t, dir, "commit", "-q", "-m", "three")
			if _, errOut, code := spine(t, "--repo", dir, "run"); code != 0 {
				t.Fatalf("spine run: %d %s", code, errOut)
			}
		}},
		{"add a loop", func() {
			writeLoop("ops/loop-scopes/c.md", "---\nloop_id: LOOP-C\nstatus: draft\n---\n\n# LOOP-C\n")
		}},
		{"a duplicate loop id", func() {
			writeLoop("loops/d.md", "---\nloop_id: LOOP-B\nstatus: active\n---\n\n# LOOP-B again\n")
		}},
		{"the duplicate removed", func() {
			if err := os.Remove(filepath.Join(dir, "loops", "d.md")); err != nil {
				t.Fatal(err)
			}
		}},
		{"change a loop's status", func() {
			data, err := os.ReadFile(filepath.Join(dir, "loops", "b.md"))
			if err != nil {
				t.Fatal(err)
			}
			writeLoop("loops/b.md", strings.Replace(string(data), "status: active", "status: closed", 1))
		}},
		{"remove a loop", func() {
			if err := os.Remove(filepath.Join(dir, "loops", "a.md")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for len(logs) > 0 {
				<-logs
			}
			tc.change()
			last := waitRebuilt(t, logs)
			if runtime.GOOS == "linux" && !last.incremental {
				t.Errorf("rebuild was not incremental")
			}
			fresh := filepath.Join(t.TempDir(), "public")
			if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", fresh); code != 0 {
				t.Fatalf("site build: %d %s", code, errOut)
			}
			if diff := cmp.Diff(siteFiles(t, fresh), siteFiles(t, out)); diff != "" {
				t.Errorf("served site differs from spine site build (-build +served):\n%s", diff)
			}
		})
	}
}

type rebuilt struct{ incremental bool }

// waitRebuilt waits for Serve's rebuild, then until no other rebuild
// follows for 400 ms.
func waitRebuilt(t *testing.T, logs chan slog.Record) rebuilt {
	t.Helper()
	var last rebuilt
	got := false
	deadline := time.After(30 * time.Second)
	for {
		select {
		case r := <-logs:
			switch r.Message {
			case "site rebuilt":
				got = true
				last.incremental = logtest.Attr(r, "incremental").Bool()
			case "site rebuild failed", "site rebuild: reading the repository":
				t.Fatalf("%s: %v", r.Message, logtest.Attr(r, "err"))
			case "site serve: file watcher failed, falling back to polling and full builds":
				t.Errorf("watcher failed: %v", logtest.Attr(r, "why"))
			}
		case <-time.After(400 * time.Millisecond):
			if got {
				return last
			}
		case <-deadline:
			t.Fatal("no rebuild")
		}
	}
}

// TestServeSeesApprovalCommit shows `spine site serve` rebuilding when an
// approval is committed: the frontmatter edit was seen before (an
// uncommitted approval does not count), and the commit itself changes no
// file of the site's inputs, only git's refs.
func TestServeSeesApprovalCommit(t *testing.T) {
	const doc = "---\nloop_id: LOOP-G\nstatus: active\n---\n\n# LOOP-G\n\n## Stage 1: Go\n\n```sh {name=a}\ntrue\n```\n\n```sh {name=b gate=ALLOW_B}\ntrue\n```\n"
	dir := loopRepo(t, doc)
	if err := os.WriteFile(filepath.Join(dir, "spine.yaml"), []byte("policy:\n  approvers: [t@example.com]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "policy")

	out := filepath.Join(t.TempDir(), "public")
	a := newApp(io.Discard, io.Discard)
	a.repo = dir
	l := &siteLoader{a: a, out: out}
	logs := servetest.Start(t, site.ServeOptions{Load: l.load, Reload: l.reload})
	matchesBuild := func(t *testing.T) map[string]string {
		t.Helper()
		fresh := filepath.Join(t.TempDir(), "public")
		if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", fresh); code != 0 {
			t.Fatalf("site build: %d %s", code, errOut)
		}
		served := siteFiles(t, out)
		if diff := cmp.Diff(siteFiles(t, fresh), served); diff != "" {
			t.Errorf("served site differs from spine site build (-build +served):\n%s", diff)
		}
		return served
	}
	const page = "loops/LOOP-G/index.html"

	for len(logs) > 0 {
		<-logs
	}
	approved := strings.Replace(doc, "status: active\n", "status: active\napprovals: [ALLOW_B]\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "loops", "a.md"), []byte(approved), 0o644); err != nil {
		t.Fatal(err)
	}
	waitRebuilt(t, logs)
	before := matchesBuild(t)[page]

	for len(logs) > 0 {
		<-logs
	}
	gitCmd(t, dir, "commit", "-q", "-am", "approve ALLOW_B")
	last := waitRebuilt(t, logs)
	if runtime.GOOS == "linux" && !last.incremental {
		t.Errorf("rebuild was not incremental")
	}
	after := matchesBuild(t)[page]
	if before == after {
		t.Errorf("the loop page did not change when the approval was committed")
	}
}
