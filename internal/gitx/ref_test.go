package gitx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestCommitFilesMovesHeadLikeGit: in every shape HEAD takes, a commit
// moves what git would move (the branch, in the common folder for a linked
// working tree; HEAD itself when detached; a packed branch through a new
// loose ref; an unborn branch by creating it), through a lock reported to
// OnIndexLock after the index's, leaves no lock behind, and git agrees.
func TestCommitFilesMovesHeadLikeGit(t *testing.T) {
	needGit(t)
	for _, tt := range headShapes() {
		t.Run(tt.name, func(t *testing.T) {
			root, sym := tt.make(t)
			symOK := sym != ""
			common := gitRun(t, root, "rev-parse", "--git-common-dir")
			gitDir := gitRun(t, root, "rev-parse", "--git-dir")
			for _, p := range []*string{&common, &gitDir} {
				if !filepath.IsAbs(*p) {
					*p = filepath.Join(root, *p)
				}
			}
			wantRef, wantLock := "HEAD", filepath.Join(gitDir, "HEAD.lock")
			if symOK {
				wantRef, wantLock = sym, filepath.Join(common, filepath.FromSlash(sym))+".lock"
			}

			g, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			var locks []IndexLock
			g.OnIndexLock = func(lk IndexLock) error { locks = append(locks, lk); return nil }
			write(t, root, "new.md", "new\n")
			h, ok, err := g.CommitFiles([]string{"new.md"}, "m", testSig())
			if err != nil || !ok {
				t.Fatalf("CommitFiles: %v, %v", ok, err)
			}
			if got := gitRun(t, root, "rev-parse", "HEAD"); got != h.String() {
				t.Errorf("git rev-parse HEAD = %s, CommitFiles made %s", got, h)
			}
			if symOK {
				if got := gitRun(t, root, "symbolic-ref", "HEAD"); got != sym {
					t.Errorf("HEAD is %s now, was %s", got, sym)
				}
				if got := gitRun(t, root, "rev-parse", sym); got != h.String() {
					t.Errorf("%s is at %s, want %s", sym, got, h)
				}
			} else if ok, out := gitOK(t, root, "symbolic-ref", "-q", "HEAD"); ok {
				t.Errorf("a detached HEAD became %s", out)
			}
			if len(locks) != 2 || locks[0].Ref != "" || locks[1].Ref != wantRef || locks[1].Path != wantLock || locks[1].Ino == 0 {
				t.Errorf("OnIndexLock saw %+v; want index.lock, then %s for %s", locks, wantLock, wantRef)
			}
			for _, lk := range locks {
				if _, err := os.Lstat(lk.Path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind: %v", lk.Path, err)
				}
			}
			if ok, out := gitOK(t, root, "fsck", "--no-dangling"); !ok {
				t.Errorf("git fsck:\n%s", out)
			}
		})
	}
}

// TestCommitFilesStopsOnAHeldRefLock: while another git process holds the
// branch's lock, a commit names the lock and changes nothing: the branch,
// the index and the other process's lock are as they were, and no lock of
// the commit's is left.
func TestCommitFilesStopsOnAHeldRefLock(t *testing.T) {
	g, dir := openBase(t)
	head := gitRun(t, dir, "rev-parse", "HEAD")
	indexPath := filepath.Join(dir, ".git", "index")
	index, err := os.ReadFile(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(dir, ".git", "refs", "heads", "main.lock")
	if err := os.WriteFile(held, []byte("held by git\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "new.md", "new\n")
	start := time.Now()
	_, _, err = g.CommitFiles([]string{"new.md"}, "m", testSig())
	if !errors.Is(err, ErrRefLocked) || !strings.Contains(err.Error(), held) {
		t.Fatalf("CommitFiles with %s held: %v; want ErrRefLocked naming it", held, err)
	}
	if waited := time.Since(start); waited < refLockTimeout {
		t.Errorf("gave up after %v, before git's %v", waited, refLockTimeout)
	}
	if got := gitRun(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved to %s", got)
	}
	if now, err := os.ReadFile(indexPath); err != nil || string(now) != string(index) {
		t.Errorf("the index changed (%v)", err)
	}
	if b, err := os.ReadFile(held); err != nil || string(b) != "held by git\n" {
		t.Errorf("the other process's lock: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".git", "index.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("index.lock left behind: %v", err)
	}
	// Once the other process is done, the commit goes through.
	if err := os.Remove(held); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := g.CommitFiles([]string{"new.md"}, "m", testSig()); err != nil || !ok || gitRun(t, dir, "rev-parse", "HEAD") != h.String() {
		t.Fatalf("CommitFiles after the lock went: %s, %v, %v", h, ok, err)
	}
}

// TestUpdateRefChecksTheOldValue: the reference is moved only from the
// value the caller read; a branch moved or created meanwhile, or a loose
// ref git could not resolve, is refused, the file untouched, and no lock
// is left.
func TestUpdateRefChecksTheOldValue(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	cliBase(t, dir)
	write(t, dir, "b.md", "b\n")
	gitRun(t, dir, "add", "b.md")
	gitRun(t, dir, "commit", "-q", "-m", "b")
	second := plumbing.NewHash(gitRun(t, dir, "rev-parse", "HEAD"))
	first := plumbing.NewHash(gitRun(t, dir, "rev-parse", "HEAD~1"))
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	main := plumbing.ReferenceName("refs/heads/main")
	file := filepath.Join(dir, ".git", "refs", "heads", "main")
	tests := []struct {
		name     string
		content  string // of the loose ref before the update ("": as git left it)
		old      plumbing.Hash
		wantErr  error
		wantText string
	}{
		{name: "moved", old: first, wantErr: ErrHeadMoved, wantText: "is at " + short(second)},
		{name: "created meanwhile", old: plumbing.ZeroHash, wantErr: ErrHeadMoved, wantText: "created meanwhile"},
		{name: "empty loose ref", content: "\n", old: second, wantText: "not an object name"},
		{name: "symbolic loose ref", content: "ref: refs/heads/other\n", old: second, wantText: "not an object name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := second.String() + "\n"
			if tt.content != "" {
				want = tt.content
			}
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			err := g.updateRef(main, tt.old, first, refLog{})
			if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("updateRef: %v; want %v with %q", err, tt.wantErr, tt.wantText)
			}
			if b, err := os.ReadFile(file); err != nil || string(b) != want {
				t.Errorf("the ref holds %q (%v), want %q", b, err, want)
			}
			if _, err := os.Lstat(file + ".lock"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("lock left behind: %v", err)
			}
		})
	}
	if err := os.WriteFile(file, []byte(second.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.updateRef("refs/bisect/bad", plumbing.ZeroHash, first, refLog{}); err == nil {
		t.Error("updateRef wrote a per-worktree reference into the common folder")
	}
	if err := g.updateRef("refs/heads/../../config", second, first, refLog{}); err == nil {
		t.Error("updateRef wrote outside refs/heads")
	}
}

// TestRemoveStaleRefLock: a branch lock recorded through OnIndexLock (its
// process killed before the rename) is removed when it is still that
// file; another process's lock at that path, or a record naming a
// reference whose lock is elsewhere, is not.
func TestRemoveStaleRefLock(t *testing.T) {
	g, dir := openBase(t)
	// The process dies holding the lock: the hook keeps a second name of
	// the lock's file and stops the commit, which removes the lock; the
	// file is then put back, the same inode born at the same time.
	kept := filepath.Join(t.TempDir(), "kept")
	var lk IndexLock
	g.OnIndexLock = func(got IndexLock) error {
		if got.Ref == "" {
			return nil
		}
		lk = got
		if err := os.Link(got.Path, kept); err != nil {
			t.Fatal(err)
		}
		return errors.New("killed here")
	}
	write(t, dir, "new.md", "new\n")
	if _, _, err := g.CommitFiles([]string{"new.md"}, "m", testSig()); err == nil || !strings.Contains(err.Error(), "killed here") {
		t.Fatalf("CommitFiles: %v", err)
	}
	lockPath := filepath.Join(dir, ".git", "refs", "heads", "main.lock")
	if lk.Path != lockPath || lk.Ref != "refs/heads/main" {
		t.Fatalf("recorded %+v", lk)
	}
	if err := os.Link(kept, lockPath); err != nil {
		t.Fatal(err)
	}
	// A commit now stops on the lock, as git would.
	if _, _, err := g.CommitFiles([]string{"new.md"}, "m", testSig()); !errors.Is(err, ErrRefLocked) {
		t.Fatalf("CommitFiles with the stale lock: %v", err)
	}

	for _, bad := range []IndexLock{
		func() IndexLock { o := lk; o.Ref = "refs/heads/other"; return o }(),
		func() IndexLock { o := lk; o.Ref = "refs/heads/../../x"; return o }(),
		func() IndexLock { o := lk; o.Ref = ""; return o }(),
	} {
		if removed, err := g.RemoveStaleIndexLock(bad); err != nil || removed {
			t.Errorf("RemoveStaleIndexLock(%+v): removed %v, %v", bad, removed, err)
		}
	}
	if removed, err := g.RemoveStaleIndexLock(lk); err != nil || !removed {
		t.Fatalf("the recorded lock: removed %v, %v", removed, err)
	}
	if _, err := os.Lstat(lockPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lock is still there: %v", err)
	}
	// Another process's lock at the same path is left alone.
	if err := os.WriteFile(lockPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if removed, err := g.RemoveStaleIndexLock(lk); err != nil || removed {
		t.Errorf("another process's lock: removed %v, %v", removed, err)
	}
}

func TestSharedRef(t *testing.T) {
	for name, want := range map[string]bool{
		"refs/heads/main": true, "refs/remotes/origin/main": true, "refs/spine/replay-backup": true,
		"refs/spine/abandoned/1767225600": true, "refs/tags/v1": true,
		"refs/": false, "refs/heads/../../config": false, "refs/spine/x.lock": false,
		"refs/bisect/bad": false, "refs/worktree/x": false, "refs/rewritten/x": false,
		"HEAD": false, "config": false, "refs/a b": false,
	} {
		if got := sharedRef(name); got != want {
			t.Errorf("sharedRef(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestSetRefWritesWhole: SetRef creates and moves a reference outside
// refs/heads (spine's replay backup) through a lock, as git reads it.
func TestSetRefWritesWhole(t *testing.T) {
	g, dir := openBase(t)
	head := plumbing.NewHash(gitRun(t, dir, "rev-parse", "HEAD"))
	var locks []string
	g.OnIndexLock = func(lk IndexLock) error { locks = append(locks, lk.Ref); return nil }
	for _, h := range []plumbing.Hash{head, plumbing.NewHash(gitRun(t, dir, "rev-parse", "HEAD^{tree}"))} {
		if err := g.SetRef("refs/spine/replay-backup", h, "test"); err != nil {
			t.Fatal(err)
		}
		if got := gitRun(t, dir, "rev-parse", "refs/spine/replay-backup"); got != h.String() {
			t.Errorf("git rev-parse refs/spine/replay-backup = %s, want %s", got, h)
		}
	}
	if len(locks) != 2 || locks[0] != "refs/spine/replay-backup" {
		t.Errorf("OnIndexLock saw %q", locks)
	}
	if err := g.SetRef("refs/bisect/bad", head, "test"); err == nil {
		t.Error("SetRef wrote a per-worktree reference into the common folder")
	}
}

// TestCreateRefLockWaits: a reference's lock another process holds is
// waited for, as git waits (core.filesRefLockTimeout), and taken once
// released; one still held at the deadline is fs.ErrExist.
func TestCreateRefLockWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.lock")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := createRefLock(path, 30*time.Millisecond); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("createRefLock of a held lock: %v, want fs.ErrExist", err)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Errorf("gave up after %v, before its 30ms", waited)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(20 * time.Millisecond)
		os.Remove(path)
		close(released)
	}()
	f, err := createRefLock(path, time.Minute)
	if err != nil {
		t.Fatalf("createRefLock after the holder let go: %v", err)
	}
	f.Close()
	select {
	case <-released:
	default:
		t.Error("took the lock before its holder let go")
	}
}
