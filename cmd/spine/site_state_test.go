package main

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/site"
)

// TestSiteBuildRecordsInStateDir checks where `spine site build` records
// what it read from the inputs: in the state folder's site folder
// ($SPINE_STATE_DIR, else .git/spine), never in the output folder, and
// nothing else in the repository's top folder.
func TestSiteBuildRecordsInStateDir(t *testing.T) {
	const doc = "---\nloop_id: LOOP-S\nstatus: active\n---\n\n# LOOP-S\n\n## Stage 1: Go\n\n```sh {name=one}\necho one\n```\n\n```sh {name=two}\necho two\n```\n"
	gitDefault, gitEnv := loopRepo(t, doc), loopRepo(t, doc)
	envState := filepath.Join(t.TempDir(), "state")
	for _, dir := range []string{gitDefault, gitEnv} {
		if _, errOut, code := spine(t, "--repo", dir, "run"); code != 0 {
			t.Fatalf("spine run: %d %s", code, errOut)
		}
	}
	// Receipts written within the racy window are not recorded.
	time.Sleep(2100 * time.Millisecond)

	tests := []struct {
		name, repo, env string
		// state is the folder the records must be in.
		state string
	}{
		{"default", gitDefault, "", filepath.Join(gitDefault, ".git", "spine", site.StateSubdir)},
		{"SPINE_STATE_DIR", gitEnv, envState, filepath.Join(envState, site.StateSubdir)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SPINE_STATE_DIR", tc.env)
			before, err := os.ReadDir(tc.repo)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "public")
			if _, errOut, code := spine(t, "--repo", tc.repo, "site", "build", "--out", out); code != 0 {
				t.Fatalf("site build: %d %s", code, errOut)
			}
			var dotFiles []string
			for p := range siteFiles(t, out) {
				if strings.HasPrefix(path.Base(p), ".") && p != site.ManifestName {
					dotFiles = append(dotFiles, p)
				}
			}
			if len(dotFiles) > 0 {
				t.Errorf("files other than the manifest in the output folder: %v", dotFiles)
			}
			for _, name := range []string{site.ReceiptStateName, site.SumsName} {
				if _, err := os.Stat(filepath.Join(tc.state, name)); err != nil {
					t.Errorf("no %s in the state folder: %v", name, err)
				}
			}
			after, err := os.ReadDir(tc.repo)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(names(before), names(after)); diff != "" {
				t.Errorf("site build changed the repository's top folder (-before +after):\n%s", diff)
			}
		})
	}
}

// names returns the sorted names of des.
func names(des []os.DirEntry) []string {
	out := make([]string, 0, len(des))
	for _, de := range des {
		out = append(out, de.Name())
	}
	sort.Strings(out)
	return out
}

// TestSiteBuildRefusesStateDirInOutput checks that `spine site build`
// refuses an output folder that holds $SPINE_STATE_DIR (it would publish
// spine's journal and records) or lies inside it, naming both folders and
// writing nothing.
func TestSiteBuildRefusesStateDirInOutput(t *testing.T) {
	const doc = "---\nloop_id: LOOP-S\nstatus: active\n---\n\n# LOOP-S\n\n## Stage 1: Go\n\n```sh {name=one}\necho one\n```\n"
	repo := loopRepo(t, doc)
	base := t.TempDir()
	tests := []struct{ name, out, state, want string }{
		{"state inside output", filepath.Join(base, "public"), filepath.Join(base, "public", "state"), "holds spine's state folder"},
		{"output inside state", filepath.Join(base, "state", "www"), filepath.Join(base, "state"), "is inside spine's state folder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SPINE_STATE_DIR", tc.state)
			_, errOut, code := spine(t, "--repo", repo, "site", "build", "--out", tc.out)
			if code == 0 {
				t.Fatalf("site build with $SPINE_STATE_DIR=%s and --out %s succeeded", tc.state, tc.out)
			}
			if !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, tc.out) {
				t.Errorf("error %q does not say %q and name %s", errOut, tc.want, tc.out)
			}
			if _, err := os.Stat(filepath.Join(tc.out, "index.html")); !os.IsNotExist(err) {
				t.Errorf("refused build wrote %s/index.html (stat: %v)", tc.out, err)
			}
		})
	}
	t.Setenv("SPINE_STATE_DIR", filepath.Join(base, "www-state"))
	if _, errOut, code := spine(t, "--repo", repo, "site", "build", "--out", filepath.Join(base, "www")); code != 0 {
		t.Fatalf("site build with a state folder beside the output folder: %d %s", code, errOut)
	}
}

// TestSiteBuildPlansFromItsReceipts checks a site build with no receipt
// index (a fresh clone): the receipt history that plans the step states
// takes the receipts the build read, and the pages show the planner's
// states and reasons; the index it leaves is the one `spine plan` writes.
// A build that fails before it reads the receipts does not hang waiting
// for them.
func TestSiteBuildPlansFromItsReceipts(t *testing.T) {
	const doc = "---\nloop_id: LOOP-SH\nstatus: active\n---\n\n# LOOP-SH\n\n## Stage 1: Go\n\n```sh {name=talk}\necho hello\n```\n\n```sh {name=break}\necho oops >&2\nexit 4\n```\n\n```sh {name=after}\necho after\n```\n"
	dir := loopRepo(t, doc)
	t.Setenv("SPINE_STATE_DIR", "")
	if _, _, code := spine(t, "--repo", dir, "run"); code != 1 {
		t.Fatalf("spine run: exit %d, want 1 (a step fails)", code)
	}
	state := filepath.Join(dir, ".git", "spine")
	idx := filepath.Join(state, "receipts.idx")
	cold := func() {
		t.Helper()
		for _, p := range []string{idx, filepath.Join(state, docCacheName), filepath.Join(state, site.StateSubdir)} {
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	cold()
	if _, errOut, code := spine(t, "--repo", dir, "plan"); code != exitWaiting {
		t.Fatalf("spine plan: exit %d, want %d (a failed step waits): %s", code, exitWaiting, errOut)
	}
	planned, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}

	cold()
	out := filepath.Join(t.TempDir(), "public")
	if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", out); code != 0 {
		t.Fatalf("site build: %d %s", code, errOut)
	}
	page, err := os.ReadFile(filepath.Join(out, "loops", "LOOP-SH", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`class="step state-done" id="step-talk"`,
		`class="step state-failed" id="step-break"`,
		"exit 4; change its command, or --retry break",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("loop page lacks %q", want)
		}
	}
	built, err := os.ReadFile(idx)
	if err != nil {
		t.Fatalf("no receipt index after the build: %v", err)
	}
	if !bytes.Equal(built, planned) {
		t.Error("the receipt index the site build wrote differs from the one spine plan writes")
	}

	// Refused before any receipt is read: the command ends.
	cold()
	done := make(chan int, 1)
	go func() {
		_, _, code := spine(t, "--repo", dir, "site", "build", "--out", state)
		done <- code
	}()
	select {
	case code := <-done:
		if code == 0 {
			t.Fatal("site build into the state folder succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("site build refused before reading the receipts did not end")
	}
}
