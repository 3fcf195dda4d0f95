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
	"github.com/google/go-cmp/cmp"
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
			// index.lock, then the moving reference's lock; a branch
			// HEAD names is moved under HEAD's lock as well (taken
			// first, for HEAD's log), as git does.
			type lockSeen struct {
				Ref, Path string
				LogOnly   bool
			}
			want := []lockSeen{{"", filepath.Join(gitDir, "index.lock"), false}}
			if symOK {
				want = append(want, lockSeen{"HEAD", filepath.Join(gitDir, "HEAD.lock"), true},
					lockSeen{sym, filepath.Join(common, filepath.FromSlash(sym)) + ".lock", false})
			} else {
				want = append(want, lockSeen{"HEAD", filepath.Join(gitDir, "HEAD.lock"), false})
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
			var got []lockSeen
			for _, lk := range locks {
				got = append(got, lockSeen{lk.Ref, lk.Path, lk.LogOnly})
				if lk.Ino == 0 {
					t.Errorf("lock %s recorded without its inode", lk.Path)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("OnIndexLock saw (-want +got):\n%s", diff)
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
// branch's lock, or HEAD's (a checkout), a commit names the lock and
// changes nothing: the branch, the index and the other process's lock are
// as they were, and no lock of the commit's is left.
func TestCommitFilesStopsOnAHeldRefLock(t *testing.T) {
	for _, held := range []string{"refs/heads/main.lock", "HEAD.lock"} {
		t.Run(held, func(t *testing.T) { testCommitFilesStopsOnAHeldLock(t, held) })
	}
}

func testCommitFilesStopsOnAHeldLock(t *testing.T, lock string) {
	g, dir := openBase(t)
	head := gitRun(t, dir, "rev-parse", "HEAD")
	indexPath := filepath.Join(dir, ".git", "index")
	index, err := os.ReadFile(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(dir, ".git", filepath.FromSlash(lock))
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
	for _, own := range []string{"index.lock", "HEAD.lock", "refs/heads/main.lock"} {
		if p := filepath.Join(dir, ".git", filepath.FromSlash(own)); p != held {
			if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left behind: %v", own, err)
			}
		}
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
	killed := false
	g.OnIndexLock = func(got IndexLock) error {
		if got.Ref != "" && !got.LogOnly && !killed {
			lk = got
		}
		return nil
	}
	g.OnLockPlaced = func(ref string, logOnly bool) error {
		if ref == "" || logOnly || killed {
			return nil
		}
		killed = true
		if err := os.Link(lk.Path, kept); err != nil {
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
	g, dir := openBase(t)
	path := filepath.Join(dir, ".git", "refs", "heads", "main.lock")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := g.createRefLock(path, "refs/heads/main", false, 30*time.Millisecond); !errors.Is(err, fs.ErrExist) {
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
	f, err := g.createRefLock(path, "refs/heads/main", false, time.Minute)
	if err != nil {
		t.Fatalf("createRefLock after the holder let go: %v", err)
	}
	f.Close()
	select {
	case <-released:
	default:
		t.Error("took the lock before its holder let go")
	}
	os.Remove(path)
	// No temporary file of the lock is left behind.
	if names, _ := filepath.Glob(filepath.Join(dir, ".git", lockTempPrefix+"*")); len(names) != 0 {
		t.Errorf("lock temporaries left: %v", names)
	}
}

// TestCommitFilesChecksHeadUnderItsLock: HEAD is read before its lock is
// taken, so a checkout may move it to another branch in between. Under
// the lock the commit sees it, refuses with ErrHeadMoved, and moves
// neither branch; the index and HEAD are as the checkout left them, and no
// lock is left. A HEAD.lock the commit recorded and left when it died is
// removed as that lock, and only as that lock.
func TestCommitFilesChecksHeadUnderItsLock(t *testing.T) {
	g, dir := openBase(t)
	gitRun(t, dir, "branch", "other")
	main := gitRun(t, dir, "rev-parse", "main")
	index, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	headPath := filepath.Join(dir, ".git", "HEAD")
	g.OnIndexLock = func(lk IndexLock) error {
		if lk.LogOnly {
			// What a checkout that ran just before would have written.
			return os.WriteFile(headPath, []byte("ref: refs/heads/other\n"), 0o644)
		}
		return nil
	}
	write(t, dir, "new.md", "new\n")
	if _, _, err := g.CommitFiles([]string{"new.md"}, "m", testSig()); !errors.Is(err, ErrHeadMoved) || !strings.Contains(err.Error(), "refs/heads/other") {
		t.Fatalf("CommitFiles with HEAD moved to other: %v; want ErrHeadMoved naming it", err)
	}
	for _, b := range []string{"main", "other"} {
		if got := gitRun(t, dir, "rev-parse", b); got != main {
			t.Errorf("%s moved to %s", b, got)
		}
	}
	if got := gitRun(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/other" {
		t.Errorf("HEAD is %s", got)
	}
	if now, err := os.ReadFile(filepath.Join(dir, ".git", "index")); err != nil || string(now) != string(index) {
		t.Errorf("the index changed (%v)", err)
	}
	for _, own := range []string{"index.lock", "HEAD.lock", "refs/heads/main.lock", "refs/heads/other.lock"} {
		if _, err := os.Lstat(filepath.Join(dir, ".git", filepath.FromSlash(own))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", own, err)
		}
	}

	// Killed holding HEAD.lock: the lock's file is kept under a second
	// name and put back, the same inode born at the same time.
	kept := filepath.Join(t.TempDir(), "kept")
	var lk IndexLock
	killed := false
	g.OnIndexLock = func(got IndexLock) error {
		if got.LogOnly && !killed {
			lk = got
		}
		return nil
	}
	g.OnLockPlaced = func(_ string, logOnly bool) error {
		if !logOnly || killed {
			return nil
		}
		killed = true
		if err := os.Link(lk.Path, kept); err != nil {
			t.Fatal(err)
		}
		return errors.New("killed here")
	}
	if _, _, err := g.CommitFiles([]string{"new.md"}, "m", testSig()); err == nil || !strings.Contains(err.Error(), "killed here") {
		t.Fatalf("CommitFiles: %v", err)
	}
	lockPath := headPath + ".lock"
	if lk.Path != lockPath || lk.Ref != "HEAD" {
		t.Fatalf("recorded %+v", lk)
	}
	if err := os.Link(kept, lockPath); err != nil {
		t.Fatal(err)
	}
	g.OnIndexLock = nil
	if _, _, err := g.CommitFiles([]string{"new.md"}, "m", testSig()); !errors.Is(err, ErrRefLocked) || !strings.Contains(err.Error(), lockPath) {
		t.Fatalf("CommitFiles with the stale HEAD.lock: %v", err)
	}
	if removed, err := g.RemoveStaleIndexLock(func() IndexLock { o := lk; o.Ref = "refs/heads/other"; return o }()); err != nil || removed {
		t.Errorf("the lock recorded as another reference's: removed %v, %v", removed, err)
	}
	if removed, err := g.RemoveStaleIndexLock(lk); err != nil || !removed {
		t.Fatalf("the recorded HEAD.lock: removed %v, %v", removed, err)
	}
	h, ok, err := g.CommitFiles([]string{"new.md"}, "m", testSig())
	if err != nil || !ok {
		t.Fatalf("CommitFiles after the stale lock went: %v, %v", ok, err)
	}
	if got := gitRun(t, dir, "rev-parse", "other"); got != h.String() {
		t.Errorf("other is at %s, the commit is %s", got, h)
	}
	if got := gitRun(t, dir, "reflog", "-1", "--format=%H", "HEAD"); got != h.String() {
		t.Errorf("HEAD's log ends at %s, want %s", got, h)
	}
}
