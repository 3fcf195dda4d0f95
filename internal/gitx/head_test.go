package gitx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestHeadMatchesGit checks Head (read from the files when it can, else
// by go-git) against git rev-parse in every shape HEAD takes.
func TestHeadMatchesGit(t *testing.T) {
	needGit(t)
	tests := []struct {
		name string
		// setup prepares the repository in dir and returns the working
		// tree to open.
		setup func(t *testing.T, dir string) string
		// loose: the file-only path must resolve it.
		loose bool
	}{
		{name: "branch", loose: true, setup: func(t *testing.T, dir string) string { return dir }},
		{name: "nested branch name", loose: true, setup: func(t *testing.T, dir string) string {
			gitRun(t, dir, "checkout", "-q", "-b", "ops/run-1")
			return dir
		}},
		{name: "detached", loose: true, setup: func(t *testing.T, dir string) string {
			gitRun(t, dir, "checkout", "-q", "--detach")
			return dir
		}},
		{name: "packed ref", setup: func(t *testing.T, dir string) string {
			gitRun(t, dir, "pack-refs", "--all")
			if _, err := os.Stat(filepath.Join(dir, ".git", "refs", "heads", "main")); !os.IsNotExist(err) {
				t.Fatalf("loose ref still there: %v", err)
			}
			return dir
		}},
		{name: "unborn branch", setup: func(t *testing.T, dir string) string {
			gitRun(t, dir, "checkout", "-q", "--orphan", "empty")
			return dir
		}},
		{name: "linked worktree", loose: true, setup: func(t *testing.T, dir string) string {
			wt := filepath.Join(t.TempDir(), "wt")
			gitRun(t, dir, "worktree", "add", "-q", "-b", "side", wt)
			write(t, wt, "side.txt", "s\n")
			gitRun(t, wt, "add", "side.txt")
			gitRun(t, wt, "commit", "-q", "-m", "side")
			return wt
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cliBase(t, dir)
			root := tt.setup(t, dir)
			g, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			want := plumbing.ZeroHash
			if ok, out := gitOK(t, root, "rev-parse", "--verify", "-q", "HEAD"); ok {
				want = plumbing.NewHash(out[:40])
			}
			got, err := g.Head()
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Head = %s, git rev-parse HEAD = %s", got, want)
			}
			if h, ok := g.looseHead(); ok != tt.loose || ok && h != want {
				t.Errorf("looseHead = %s, %v; want %s, %v", h, ok, want, tt.loose)
			}
		})
	}
}

func TestPlainBranchRef(t *testing.T) {
	for name, want := range map[string]bool{
		"refs/heads/main": true, "refs/heads/a/b": true,
		"refs/heads/": false, "refs/tags/v1": false, "refs/heads/../x": false,
		"refs/heads/a//b": false, "refs/heads/x.lock": false, "refs/heads/.hidden": false,
		"refs/heads/a b": false, "HEAD": false,
	} {
		if got := plainBranchRef(name); got != want {
			t.Errorf("plainBranchRef(%q) = %v, want %v", name, got, want)
		}
	}
}
