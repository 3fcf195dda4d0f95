package gitx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRemoveStaleIndexLock: the lock CommitFiles reports through
// OnIndexLock is removed when it is still that file, and only then: not a
// lock taken again at the same path, not a path outside the git folder.
func TestRemoveStaleIndexLock(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	write(t, dir, "a.md", "a\n")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var seen []IndexLock
	g.OnIndexLock = func(lk IndexLock) error { seen = append(seen, lk); return errors.New("stop here") }
	if _, _, err := g.CommitFiles([]string{"a.md"}, "m", testSig()); err == nil || !strings.Contains(err.Error(), "stop here") {
		t.Fatalf("CommitFiles with a failing lock hook: %v", err)
	}
	lockPath := filepath.Join(dir, ".git", "index.lock")
	if len(seen) != 1 || seen[0].Path != lockPath || seen[0].Ino == 0 {
		t.Fatalf("OnIndexLock saw %+v", seen)
	}
	if _, err := os.Stat(lockPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a commit the hook stopped left its lock: %v", err)
	}
	lk := seen[0]

	// The same lock, left behind (as by a process killed mid-commit).
	g.OnIndexLock = func(got IndexLock) error { lk = got; return nil }
	held, err := g.lockIndex(filepath.Join(dir, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.OnIndexLock(indexLockOf(t, held)); err != nil {
		t.Fatal(err)
	}
	held.f.Close()
	other := lk
	other.Path = filepath.Join(dir, "index.lock")
	if removed, err := g.RemoveStaleIndexLock(other); err != nil || removed {
		t.Fatalf("a path outside the git folder: removed %v, %v", removed, err)
	}
	// Another file taken at the same path since: left alone.
	if err := os.Remove(lockPath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lockPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if removed, err := g.RemoveStaleIndexLock(lk); err != nil || removed {
		t.Fatalf("another process's lock: removed %v, %v", removed, err)
	}
	if _, err := os.Stat(lockPath); err != nil {
		t.Fatalf("another process's lock is gone: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(lockPath, &st); err != nil {
		t.Fatal(err)
	}
	lk = indexLockID(lockPath, lockPath, &st)
	if removed, err := g.RemoveStaleIndexLock(lk); err != nil || !removed {
		t.Fatalf("the recorded lock: removed %v, %v", removed, err)
	}
	if removed, err := g.RemoveStaleIndexLock(lk); err != nil || removed {
		t.Fatalf("no lock: removed %v, %v", removed, err)
	}
	// The commit goes through now.
	g.OnIndexLock = nil
	if _, ok, err := g.CommitFiles([]string{"a.md"}, "m", testSig()); err != nil || !ok {
		t.Fatalf("commit after the stale lock went: %v, %v", ok, err)
	}
}

// indexLockOf returns the IndexLock of a held lock.
func indexLockOf(t *testing.T, l *indexLock) IndexLock {
	t.Helper()
	fi, err := l.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return indexLockID(l.path+".lock", l.path+".lock", fi.Sys().(*syscall.Stat_t))
}

// TestRemoveStaleIndexLockWrittenTo: a process killed while it wrote its
// index leaves a lock whose change time is later than the one recorded
// when it was taken; it is still that process's lock, and removed.
func TestRemoveStaleIndexLockWrittenTo(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	held, err := g.lockIndex(filepath.Join(dir, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	lk := indexLockOf(t, held)
	time.Sleep(20 * time.Millisecond) // past the file system's clock tick
	if _, err := held.Write([]byte("DIRC half an index")); err != nil {
		t.Fatal(err)
	}
	held.f.Close()
	if removed, err := g.RemoveStaleIndexLock(lk); err != nil || !removed {
		t.Fatalf("the recorded lock, written to: removed %v, %v", removed, err)
	}
}

// TestLockRecordedBeforePlaced: a lock is named to OnIndexLock before it
// is at its path, so a process killed between the two leaves no lock
// (only its temporary file, which the next lock of another process
// sweeps), and the record never names a lock another process takes
// there since: that one is left alone.
func TestLockRecordedBeforePlaced(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	gitDir := filepath.Join(dir, ".git")
	lockPath := filepath.Join(gitDir, "index.lock")
	var lk IndexLock
	g.OnIndexLock = func(got IndexLock) error {
		if _, err := os.Lstat(got.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is in place before it is recorded (%v)", got.Path, err)
		}
		lk = got
		return errors.New("killed here")
	}
	if _, err := g.lockIndex(gitDir); err == nil || !strings.Contains(err.Error(), "killed here") {
		t.Fatalf("lockIndex: %v", err)
	}
	if lk.Path != lockPath || lk.Ino == 0 {
		t.Fatalf("recorded %+v", lk)
	}
	// Another process takes the lock now.
	if err := os.WriteFile(lockPath, []byte("git's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if removed, err := g.RemoveStaleIndexLock(lk); err != nil || removed {
		t.Fatalf("the other process's lock: removed %v, %v", removed, err)
	}
	os.Remove(lockPath)
	// A temporary left by a process that is gone is swept.
	stale := filepath.Join(gitDir, lockTempPrefix+"999999999.1")
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g.OnIndexLock = nil
	l, err := g.lockIndex(gitDir)
	if err != nil {
		t.Fatal(err)
	}
	l.rollback()
	if names, _ := filepath.Glob(filepath.Join(gitDir, lockTempPrefix+"*")); len(names) != 0 {
		t.Errorf("lock temporaries left: %v", names)
	}
}
