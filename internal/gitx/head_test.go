package gitx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/spinehq/spine/internal/fsx"
)

// headShape is one shape HEAD takes in a repository holding commitBase.
type headShape struct {
	name string
	// setup prepares the repository in dir and returns the working tree
	// to open.
	setup func(t *testing.T, dir string) string
	// loose: looseHead, reading the files alone, must resolve it.
	loose bool
}

// make builds the shape in a new repository holding commitBase, committed
// by git, and returns the working tree to open and the branch HEAD names
// ("" when detached).
func (s headShape) make(t *testing.T) (root, branch string) {
	t.Helper()
	dir := t.TempDir()
	cliBase(t, dir)
	root = s.setup(t, dir)
	if ok, out := gitOK(t, root, "symbolic-ref", "-q", "HEAD"); ok {
		branch = strings.TrimSpace(out)
	}
	return root, branch
}

// headShapes returns every shape of HEAD spine must read and move: a
// branch (nested or not), detached, a packed branch, an unborn branch, a
// branch of a linked working tree.
func headShapes() []headShape {
	return []headShape{
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
}

// TestHeadMatchesGit checks Head (read from the files when it can, else
// by go-git) against git rev-parse in every shape HEAD takes.
func TestHeadMatchesGit(t *testing.T) {
	needGit(t)
	tests := headShapes()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, _ := tt.make(t)
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

// TestHeadMemoSeesEveryMove checks that Head, once it remembers a settled
// answer (see headMemo), still sees HEAD move at once, however it moves:
// a commit by git, a ref rewritten in place with a line of the same size,
// a checkout of another branch, a detached HEAD, a ref packed away.
func TestHeadMemoSeesEveryMove(t *testing.T) {
	needGit(t)
	tests := []struct {
		name string
		// move changes HEAD in dir (a second commit exists: HEAD~1).
		move func(t *testing.T, dir string)
	}{
		{name: "commit", move: func(t *testing.T, dir string) {
			write(t, dir, "n.txt", "n\n")
			gitRun(t, dir, "add", "n.txt")
			gitRun(t, dir, "commit", "-q", "-m", "n")
		}},
		{name: "ref rewritten in place", move: func(t *testing.T, dir string) {
			prev := gitRun(t, dir, "rev-parse", "HEAD~1")
			f, err := os.OpenFile(filepath.Join(dir, ".git", "refs", "heads", "main"), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(prev[:40] + "\n"); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "update-ref", move: func(t *testing.T, dir string) { gitRun(t, dir, "update-ref", "refs/heads/main", "HEAD~1") }},
		{name: "checkout", move: func(t *testing.T, dir string) { gitRun(t, dir, "checkout", "-q", "-b", "other", "HEAD~1") }},
		{name: "detach", move: func(t *testing.T, dir string) { gitRun(t, dir, "checkout", "-q", "--detach", "HEAD~1") }},
		{name: "pack refs, then move", move: func(t *testing.T, dir string) {
			gitRun(t, dir, "pack-refs", "--all")
			gitRun(t, dir, "update-ref", "refs/heads/main", "HEAD~1")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cliBase(t, dir)
			write(t, dir, "second.txt", "2\n")
			gitRun(t, dir, "add", "second.txt")
			gitRun(t, dir, "commit", "-q", "-m", "second")
			g, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			// Let HEAD's files settle, so that Head remembers its answer:
			// the case under test.
			time.Sleep(fsx.SettleMargin + 50*time.Millisecond)
			if _, err := g.Head(); err != nil {
				t.Fatal(err)
			}
			if !g.gitDirs.head.ok {
				t.Fatal("Head remembered nothing: the test would not exercise the memo")
			}
			tt.move(t, dir)
			want := plumbing.NewHash(gitRun(t, dir, "rev-parse", "HEAD")[:40])
			got, err := g.Head()
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Head after the move = %s, git rev-parse HEAD = %s", got, want)
			}
		})
	}
}
