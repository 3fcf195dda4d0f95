package gitx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// packCount returns the number of packs in the repository at dir.
func packCount(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "pack-*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// commitMany makes n commits of files new files each (named after
// prefix), written as packs or loose objects as g.packMinObjects says.
func commitMany(t *testing.T, g *Repo, dir, prefix string, n, files int) {
	t.Helper()
	for i := range n {
		var paths []string
		for j := range files {
			p := fmt.Sprintf("%s%d/%d", prefix, i, j)
			write(t, dir, p, p+"\n")
			paths = append(paths, p)
		}
		if _, _, err := g.CommitFiles(paths, fmt.Sprint(prefix, i), testSig()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHousekeeping: git's housekeeping is due as git gc --auto judges it
// (packs over gc.autoPackLimit, loose objects over gc.auto, neither when
// the operator turned it off), and Housekeep runs it in the repository
// even when GIT_DIR names another one, as a post-receive hook's does.
func TestHousekeeping(t *testing.T) {
	needGit(t)
	for _, tt := range []struct {
		name   string
		config [][2]string
		packs  int // commits written as packs
		loose  int // commits of 100 loose blobs
		due    bool
	}{
		{name: "few packs", config: [][2]string{{"gc.autoPackLimit", "4"}}, packs: 3},
		{name: "more packs than gc.autoPackLimit", config: [][2]string{{"gc.autoPackLimit", "4"}}, packs: 5, due: true},
		{name: "packs with gc.autoPackLimit 0", config: [][2]string{{"gc.autoPackLimit", "0"}}, packs: 5},
		{name: "packs with gc.auto 0", config: [][2]string{{"gc.autoPackLimit", "4"}, {"gc.auto", "0"}}, packs: 5},
		{name: "packs with maintenance.auto false", config: [][2]string{{"gc.autoPackLimit", "4"}, {"maintenance.auto", "false"}}, packs: 5},
		{name: "loose objects over gc.auto", config: [][2]string{{"gc.auto", "1"}}, loose: 20, due: true},
		{name: "loose objects under gc.auto", loose: 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cliBase(t, dir)
			gitRun(t, dir, "config", "gc.autoDetach", "false")
			for _, kv := range tt.config {
				gitRun(t, dir, "config", kv[0], kv[1])
			}
			g, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			g.packMinObjects = 1 // each commit a pack
			commitMany(t, g, dir, "p", tt.packs, 3)
			g.packMinObjects = 1 << 20 // loose
			commitMany(t, g, dir, "l", tt.loose, 100)
			due, err := g.NeedsHousekeeping()
			if err != nil || due != tt.due {
				t.Fatalf("NeedsHousekeeping = %v, %v; want %v", due, err, tt.due)
			}
			if !due {
				return
			}
			other := t.TempDir()
			gitRun(t, other, "init", "-q", "--bare")
			t.Setenv("GIT_DIR", other)
			t.Setenv("GIT_INDEX_FILE", filepath.Join(other, "index"))
			if err := g.Housekeep(context.Background()); err != nil {
				t.Fatal(err)
			}
			os.Unsetenv("GIT_DIR")
			os.Unsetenv("GIT_INDEX_FILE")
			if n := packCount(t, dir); n != 1 {
				t.Errorf("%d packs after the housekeeping, want 1", n)
			}
			if got := gitRun(t, dir, "count-objects"); !strings.HasPrefix(got, "0 objects") {
				t.Errorf("loose objects left: %s", got)
			}
			if due, err := g.NeedsHousekeeping(); err != nil || due {
				t.Errorf("still due after it: %v %v", due, err)
			}
			if m, _ := filepath.Glob(filepath.Join(other, "objects", "pack", "*")); len(m) != 0 {
				t.Errorf("git worked in GIT_DIR: %v", m)
			}
			// The Repo reads on (see objectStore).
			if _, err := g.HeadCommit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRepoFreeEnv: the variables that point git at a repository go, the
// others stay; the configuration passed on goes for housekeeping, and
// stays for steps (RepoPointerFreeEnv).
func TestRepoFreeEnv(t *testing.T) {
	env := []string{"PATH=/bin", "GIT_DIR=/x", "GIT_WORK_TREE=/y", "GIT_INDEX_FILE=/i",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=a.b", "GIT_CONFIG_VALUE_0=c", "GIT_AUTHOR_NAME=n", "HOME=/h", "GIT_OBJECT_DIRECTORY=/o"}
	if diff := cmp.Diff([]string{"PATH=/bin", "GIT_AUTHOR_NAME=n", "HOME=/h"}, repoFreeEnv(env)); diff != "" {
		t.Errorf("repoFreeEnv (-want +got):\n%s", diff)
	}
	want := []string{"PATH=/bin", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=a.b", "GIT_CONFIG_VALUE_0=c", "GIT_AUTHOR_NAME=n", "HOME=/h"}
	if diff := cmp.Diff(want, RepoPointerFreeEnv(env)); diff != "" {
		t.Errorf("RepoPointerFreeEnv (-want +got):\n%s", diff)
	}
}
