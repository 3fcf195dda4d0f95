package gitx

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// cli runs the git CLI in dir with a fixed identity and no user config.
func cli(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Operator", "GIT_AUTHOR_EMAIL=op@example.com",
		"GIT_COMMITTER_NAME=Operator", "GIT_COMMITTER_EMAIL=op@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// remoteSetup returns a bare repository with one commit and two clones.
func remoteSetup(t *testing.T) (bare, a, b string) {
	t.Helper()
	tmp := t.TempDir()
	bare = filepath.Join(tmp, "bare.git")
	cli(t, tmp, "init", "-q", "--bare", "-b", "main", bare)
	seed := filepath.Join(tmp, "seed")
	cli(t, tmp, "init", "-q", "-b", "main", seed)
	write(t, seed, "README", "hello\n")
	cli(t, seed, "add", "-A")
	cli(t, seed, "commit", "-q", "-m", "seed")
	cli(t, seed, "push", "-q", bare, "main")
	a, b = filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	cli(t, tmp, "clone", "-q", bare, a)
	cli(t, tmp, "clone", "-q", bare, b)
	return bare, a, b
}

func TestPushFetchNonFastForward(t *testing.T) {
	t.Parallel()
	bare, a, b := remoteSetup(t)
	ctx := context.Background()
	ra, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	if br, _ := ra.CurrentBranch(); br != "main" {
		t.Fatalf("CurrentBranch = %q", br)
	}
	if moved, err := ra.Push(ctx, "origin", "main"); err != nil || moved {
		t.Fatalf("push with nothing new: moved %v err %v", moved, err)
	}
	write(t, a, "x", "1\n")
	cli(t, a, "add", "-A")
	cli(t, a, "commit", "-q", "-m", "a1")
	if moved, err := ra.Push(ctx, "origin", "main"); err != nil || !moved {
		t.Fatalf("push: moved %v err %v", moved, err)
	}
	if got, want := cli(t, bare, "rev-parse", "main"), cli(t, a, "rev-parse", "HEAD"); got != want {
		t.Fatalf("bare at %s, want %s", got, want)
	}
	// b moves the remote on; a's next push is not a fast-forward.
	cli(t, b, "pull", "-q")
	write(t, b, "y", "1\n")
	cli(t, b, "add", "-A")
	cli(t, b, "commit", "-q", "-m", "b1")
	cli(t, b, "push", "-q")
	write(t, a, "x", "2\n")
	cli(t, a, "commit", "-q", "-am", "a2")
	if _, err := ra.Push(ctx, "origin", "main"); err == nil {
		t.Fatal("a non-fast-forward push succeeded")
	}
	tip, err := ra.Fetch(ctx, "origin", "main")
	if err != nil {
		t.Fatal(err)
	}
	if tip.String() != cli(t, b, "rev-parse", "HEAD") {
		t.Fatalf("fetched tip %s, want b's head", tip)
	}
	// Logged as git fetch logs it: from a1, which a's push recorded.
	a1 := cli(t, a, "rev-parse", "HEAD~1")
	if got, want := cli(t, a, "log", "-g", "-2", "--format=%H %gs", "refs/remotes/origin/main"), tip.String()+" fetch origin main: fast-forward\n"+a1+" update by push"; got != want {
		t.Errorf("log of origin/main:\n%s\nwant:\n%s", got, want)
	}
	head, _ := ra.Head()
	if ok, _ := ra.IsAncestor(tip, head); ok {
		t.Fatal("remote tip reported as an ancestor of the diverged head")
	}
	base, err := ra.MergeBase(head, tip)
	if err != nil || base.String() != cli(t, a, "rev-parse", "HEAD~1") {
		t.Fatalf("merge base %s (%v), want a1", base, err)
	}
	chain, err := ra.Chain(base, head, 10)
	if err != nil || len(chain) != 1 || chain[0].Hash != head {
		t.Fatalf("chain = %v, %v", chain, err)
	}
	if missing, err := ra.Fetch(ctx, "origin", "nope"); err != nil || !missing.IsZero() {
		t.Fatalf("fetch of a missing branch: %s %v", missing, err)
	}
}

func TestSwitchToTouchesOnlyChangedPathsAndRefusesOverwrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cli(t, dir, "init", "-q", "-b", "main")
	write(t, dir, "a.txt", "a1\n")
	write(t, dir, "b/old.txt", "old\n")
	write(t, dir, "keep.txt", "keep\n")
	cli(t, dir, "add", "-A")
	cli(t, dir, "commit", "-q", "-m", "one")
	one := cli(t, dir, "rev-parse", "HEAD")
	write(t, dir, "a.txt", "a2\n")
	write(t, dir, "c/new.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(dir, "c/new.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	cli(t, dir, "rm", "-q", "b/old.txt")
	cli(t, dir, "add", "-A")
	cli(t, dir, "commit", "-q", "-m", "two")
	two := plumbing.NewHash(cli(t, dir, "rev-parse", "HEAD"))
	cli(t, dir, "reset", "-q", "--hard", one)

	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// An operator's uncommitted edit of a file the switch changes.
	write(t, dir, "a.txt", "operator edit\n")
	_, err = g.SwitchTo(two, false)
	var ow *OverwriteError
	if !errors.As(err, &ow) || len(ow.Paths) != 1 || ow.Paths[0] != "a.txt" {
		t.Fatalf("err = %v, want an OverwriteError for a.txt", err)
	}
	if read(t, dir, "a.txt") != "operator edit\n" || cli(t, dir, "rev-parse", "HEAD") != one {
		t.Fatal("a refused switch changed something")
	}
	// Put it back; changes elsewhere (an untracked file, an edit of a file
	// the switch does not touch) are left alone.
	write(t, dir, "a.txt", "a1\n")
	write(t, dir, "keep.txt", "keep, edited\n")
	write(t, dir, "notes.txt", "mine\n")
	write(t, dir, "c/new.sh", "#!/bin/sh\n") // the same bytes the target has
	changed, err := g.SwitchTo(two, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 3 {
		t.Fatalf("changed = %v, want a.txt, b/old.txt, c/new.sh", changed)
	}
	if cli(t, dir, "rev-parse", "HEAD") != two.String() || cli(t, dir, "symbolic-ref", "HEAD") != "refs/heads/main" {
		t.Fatal("main was not moved to the target")
	}
	if read(t, dir, "a.txt") != "a2\n" || read(t, dir, "keep.txt") != "keep, edited\n" || read(t, dir, "notes.txt") != "mine\n" {
		t.Fatal("working files wrong after the switch")
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the emptied folder b was not removed")
	}
	if fi, err := os.Stat(filepath.Join(dir, "c/new.sh")); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("c/new.sh not executable: %v", err)
	}
	// (cli trims the leading blank of " M".)
	if st := cli(t, dir, "status", "--porcelain"); st != "M keep.txt\n?? notes.txt" {
		t.Fatalf("status after the switch (index out of step with the tree?):\n%s", st)
	}
	// force overwrites.
	write(t, dir, "a.txt", "junk\n")
	if _, err := g.SwitchTo(plumbing.NewHash(one), true); err != nil {
		t.Fatal(err)
	}
	if read(t, dir, "a.txt") != "a1\n" {
		t.Fatal("force did not overwrite")
	}
}

func TestChainRefusesMerges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cli(t, dir, "init", "-q", "-b", "main")
	write(t, dir, "a", "1\n")
	cli(t, dir, "add", "-A")
	cli(t, dir, "commit", "-q", "-m", "base")
	base := plumbing.NewHash(cli(t, dir, "rev-parse", "HEAD"))
	cli(t, dir, "checkout", "-q", "-b", "side")
	write(t, dir, "b", "1\n")
	cli(t, dir, "add", "-A")
	cli(t, dir, "commit", "-q", "-m", "side")
	cli(t, dir, "checkout", "-q", "main")
	write(t, dir, "c", "1\n")
	cli(t, dir, "add", "-A")
	cli(t, dir, "commit", "-q", "-m", "main")
	cli(t, dir, "merge", "-q", "--no-edit", "side")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := g.Head()
	if _, err := g.Chain(base, head, 10); !errors.Is(err, ErrNotLinear) {
		t.Fatalf("err = %v, want ErrNotLinear", err)
	}
}

// TestSwitchToRefusesAStaleIndexLock: SwitchTo takes index.lock like git
// and changes nothing while another git holds it.
func TestSwitchToRefusesAStaleIndexLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cli(t, dir, "init", "-q", "-b", "main")
	write(t, dir, "a.txt", "a1\n")
	cli(t, dir, "add", "-A")
	cli(t, dir, "commit", "-q", "-m", "one")
	one := cli(t, dir, "rev-parse", "HEAD")
	write(t, dir, "a.txt", "a2\n")
	cli(t, dir, "commit", "-q", "-am", "two")
	two := plumbing.NewHash(cli(t, dir, "rev-parse", "HEAD"))
	cli(t, dir, "reset", "-q", "--hard", one)
	lock := filepath.Join(dir, ".git", "index.lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.SwitchTo(two, false); err == nil || !strings.Contains(err.Error(), lock) {
		t.Fatalf("err = %v, want one naming %s", err, lock)
	}
	if read(t, dir, "a.txt") != "a1\n" || cli(t, dir, "rev-parse", "HEAD") != one {
		t.Fatal("SwitchTo changed something while the index was locked")
	}
	if _, err := os.Stat(lock); err != nil {
		t.Fatalf("someone else's lock was removed: %v", err)
	}
	os.Remove(lock)
	if _, err := g.SwitchTo(two, false); err != nil {
		t.Fatal(err)
	}
	if st := cli(t, dir, "status", "--porcelain"); st != "" || read(t, dir, "a.txt") != "a2\n" {
		t.Fatalf("after the switch: %q", st)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("index.lock left behind: %v", err)
	}
}

// A remote-tracking branch whose loose file is broken (go-git rewrites a
// ref file in place: a crash or power cut between the truncation and the
// write leaves it empty, or cut short) is only a copy of what the remote
// had: Fetch and Push write it again instead of failing on it for ever.
func TestFetchAndPushRepairABrokenTrackingRef(t *testing.T) {
	t.Parallel()
	for _, broken := range []string{"", "4b825dc642cb6eb9a060", "not a hash\n"} {
		_, a, _ := remoteSetup(t)
		ctx := context.Background()
		ra, err := Open(a)
		if err != nil {
			t.Fatal(err)
		}
		track := filepath.Join(a, ".git", "refs", "remotes", "origin", "main")
		breakRef := func() {
			t.Helper()
			if err := os.MkdirAll(filepath.Dir(track), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(track, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		breakRef()
		tip, err := ra.Fetch(ctx, "origin", "main")
		if err != nil {
			t.Fatalf("fetch with the tracking ref %q: %v", broken, err)
		}
		if want := cli(t, a, "rev-parse", "HEAD"); tip.String() != want || cli(t, a, "rev-parse", "refs/remotes/origin/main") != want {
			t.Fatalf("after the fetch: tip %s, origin/main %s, want %s", tip, cli(t, a, "rev-parse", "refs/remotes/origin/main"), want)
		}

		write(t, a, "x", "1\n")
		cli(t, a, "add", "-A")
		cli(t, a, "commit", "-q", "-m", "a1")
		breakRef()
		if moved, err := ra.Push(ctx, "origin", "main"); err != nil || !moved {
			t.Fatalf("push with the tracking ref %q: moved %v, err %v", broken, moved, err)
		}
		if got, want := cli(t, a, "rev-parse", "refs/remotes/origin/main"), cli(t, a, "rev-parse", "HEAD"); got != want {
			t.Fatalf("after the push: origin/main %s, want %s", got, want)
		}
	}
}

func TestLooseRefOK(t *testing.T) {
	sha1 := "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	sha256 := "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{sha1 + "\n", true},
		{sha1, true},
		{sha256 + "\n", true},
		{"ref: refs/heads/main\n", true},
		{"", false},
		{"\n", false},
		{sha1[:20], false},
		{sha1 + "\n\n", false},
		{strings.ToUpper(sha1) + "\n", false},
		{sha1 + " \n", false},
		{"ref: \n", false},
		{"ref: refs/heads/a b\n", false},
		{"\x00\x00\x00", false},
	} {
		if got := looseRefOK([]byte(tt.in)); got != tt.ok {
			t.Errorf("looseRefOK(%q) = %v, want %v", tt.in, got, tt.ok)
		}
	}
}

// TestFetchAndPushPastALockFile: an empty <ref>.lock under refs/ (git or
// spine holding a reference, or one a killed process left) is no
// reference: go-git read it as one and failed every fetch and push with
// "ref file is empty"; references in packed-refs are still listed.
func TestFetchAndPushPastALockFile(t *testing.T) {
	t.Parallel()
	_, a, b := remoteSetup(t)
	ctx := context.Background()
	cli(t, a, "branch", "packed")
	cli(t, a, "pack-refs", "--all")
	for _, rel := range []string{"refs/heads/other.lock", "refs/heads/x/y.lock", "refs/remotes/origin/main.lock"} {
		p := filepath.Join(a, ".git", filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(t, b, "y", "1\n")
	cli(t, b, "add", "-A")
	cli(t, b, "commit", "-q", "-m", "b1")
	cli(t, b, "push", "-q", "origin", "main")
	ra, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := ra.Fetch(ctx, "origin", "main")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if want := cli(t, b, "rev-parse", "HEAD"); tip.String() != want {
		t.Fatalf("fetched %s, want %s", tip, want)
	}
	cli(t, a, "merge", "-q", "--ff-only", tip.String())
	write(t, a, "x", "1\n")
	cli(t, a, "add", "-A")
	cli(t, a, "commit", "-q", "-m", "a1")
	if moved, err := ra.Push(ctx, "origin", "main"); err != nil || !moved {
		t.Fatalf("push: moved %v, err %v", moved, err)
	}
	iter, err := ra.R.References()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	_ = iter.ForEach(func(r *plumbing.Reference) error {
		names[r.Name().String()] = true
		return nil
	})
	for _, want := range []string{"refs/heads/main", "refs/heads/packed", "HEAD"} {
		if !names[want] {
			t.Errorf("references listed: %v; no %s", names, want)
		}
	}
	for n := range names {
		if strings.HasSuffix(n, ".lock") {
			t.Errorf("%s listed as a reference", n)
		}
	}
}

// TestFetchFromAnEmptyRemote: a remote nobody pushed to yet has no such
// branch: Fetch says so (the zero hash), not that it failed.
func TestFetchFromAnEmptyRemote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "bare.git"), filepath.Join(dir, "work")
	cli(t, dir, "init", "-q", "--bare", "-b", "main", bare)
	cli(t, dir, "init", "-q", "-b", "main", work)
	write(t, work, "x", "1\n")
	cli(t, work, "add", "-A")
	cli(t, work, "commit", "-q", "-m", "first")
	cli(t, work, "remote", "add", "origin", bare)
	g, err := Open(work)
	if err != nil {
		t.Fatal(err)
	}
	if tip, err := g.Fetch(context.Background(), "origin", "main"); err != nil || !tip.IsZero() {
		t.Fatalf("Fetch from an empty remote = %v, %v; want the zero hash, no error", tip, err)
	}
}
