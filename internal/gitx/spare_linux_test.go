package gitx

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/modetest"
)

// inode returns the inode number and link count of the file at p.
func inode(t *testing.T, p string) (ino uint64, nlink uint64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino, uint64(st.Nlink)
}

// TestCommitFilesRecyclesTheIndexItReplaces: the index a commit replaces
// is kept as the spare, and the next commit writes its index over it in
// place (the index's inode is the spare's), cutting it when
// the new index is shorter; git finds every index whole and in step with
// HEAD, whether the commits come from one Repo or from fresh ones.
func TestCommitFilesRecyclesTheIndexItReplaces(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	writeBase(t, dir)
	for i := range 200 {
		write(t, dir, fmt.Sprintf("many/%03d/receipt.json", i), fmt.Sprintf("%d\n", i))
	}
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "base")
	index := filepath.Join(dir, ".git", "index")
	spare := sparePath(filepath.Join(dir, ".git"))
	gits, _ := inode(t, index)

	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "one", "1\n")
	if _, ok, err := g.CommitFiles([]string{"one"}, "one", testSig()); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if ino, nlink := inode(t, spare); ino != gits || nlink != 1 {
		t.Fatalf("spare: inode %d with %d links, want git's index %d with 1", ino, nlink, gits)
	}
	// (git status may refresh the index: it replaces the file.)
	checkGitAgrees(t, dir)
	current, _ := inode(t, index)
	spareNow, _ := inode(t, spare)

	// The next commit's index is git's old file, written over; this
	// one removes 100 entries, so the spare (longer) must be cut.
	var paths []string
	for i := range 100 {
		p := fmt.Sprintf("many/%03d/receipt.json", i)
		if err := os.Remove(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	before, err := os.Stat(spare)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := g.CommitFiles(paths, "fewer", testSig()); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if ino, _ := inode(t, index); ino != spareNow {
		t.Errorf("index inode %d after the second commit, want the spare's %d", ino, spareNow)
	}
	if fi, err := os.Stat(index); err != nil || fi.Size() >= before.Size() {
		t.Errorf("index of %v bytes (%v) written over a spare of %d: not cut", fi.Size(), err, before.Size())
	}
	if ino, _ := inode(t, spare); ino != current {
		t.Errorf("spare inode %d, want the index it replaced, %d", ino, current)
	}
	checkGitAgrees(t, dir)

	// A process's first commit takes the spare too.
	spareNow, _ = inode(t, spare)
	if _, err := commitFresh(t, dir, "two"); err != nil {
		t.Fatal(err)
	}
	if ino, _ := inode(t, index); ino != spareNow {
		t.Errorf("index inode %d after a fresh Repo's commit, want the spare's %d", ino, spareNow)
	}
	checkGitAgrees(t, dir)
	// And git, between them, is none the wiser: its own commit replaces
	// the index, and the next commit still goes through.
	write(t, dir, "three", "3\n")
	gitRun(t, dir, "add", "three")
	gitRun(t, dir, "commit", "-q", "-m", "three")
	if _, err := commitFresh(t, dir, "four"); err != nil {
		t.Fatal(err)
	}
	checkGitAgrees(t, dir)
}

// TestCommitFilesLeavesASpareInUseAlone: a spare that another process
// may still read (open here, as a git that mapped the index before it was
// replaced holds it) is not written over: its bytes stay as they were,
// the commit writes a new file. So is a spare that is another name of the
// index itself (a commit stopped between link and rename).
func TestCommitFilesLeavesASpareInUseAlone(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	index := filepath.Join(dir, ".git", "index")
	spare := sparePath(filepath.Join(dir, ".git"))
	if _, err := commitFresh(t, dir, "one"); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(spare)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(spare)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	spareIno, _ := inode(t, spare)
	if _, err := commitFresh(t, dir, "two"); err != nil {
		t.Fatal(err)
	}
	if ino, _ := inode(t, index); ino == spareIno {
		t.Fatal("the commit wrote its index over a spare another reader holds")
	}
	got := make([]byte, len(old)+1)
	n, _ := reader.ReadAt(got, 0)
	if !bytes.Equal(got[:n], old) {
		t.Fatal("the reader's file changed")
	}
	checkGitAgrees(t, dir)

	// The spare as a second name of the index.
	if err := os.Remove(spare); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(index, spare); err != nil {
		t.Fatal(err)
	}
	live, _ := inode(t, index)
	liveBytes, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commitFresh(t, dir, "three"); err != nil {
		t.Fatal(err)
	}
	if ino, _ := inode(t, index); ino == live {
		t.Fatal("the index was written in place")
	}
	if ino, nlink := inode(t, spare); ino != live || nlink != 1 {
		t.Errorf("spare: inode %d with %d links, want the replaced index %d with 1", ino, nlink, live)
	}
	if b, err := os.ReadFile(spare); err != nil || !bytes.Equal(b, liveBytes) {
		t.Errorf("the replaced index changed (%v)", err)
	}
	checkGitAgrees(t, dir)
}

// TestCommitFilesCarriesNoModeOver: the index is made as git makes it,
// 0666 less the umask, even where the one it replaces had another mode
// (made under another umask): such an index is not kept as the spare,
// and a spare of another mode is not taken.
func TestCommitFilesCarriesNoModeOver(t *testing.T) {
	needGit(t)
	t.Parallel()
	want := fsx.FileMode &^ modetest.Umask(t)
	dir := t.TempDir()
	writeBase(t, dir)
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "base")
	index := filepath.Join(dir, ".git", "index")
	spare := sparePath(filepath.Join(dir, ".git"))
	if err := os.Chmod(index, 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "one", "1\n")
	if _, err := commitFresh(t, dir, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(spare); !os.IsNotExist(err) {
		t.Errorf("an index of mode 0600 was kept as the spare (%v)", err)
	}
	if fi, err := os.Lstat(index); err != nil || fi.Mode() != want {
		t.Errorf("index mode %v (%v), want %v", fi.Mode(), err, want)
	}

	// The index of the right mode is kept; made another mode, the
	// spare is not taken: the next index is a new file of git's mode.
	write(t, dir, "two", "2\n")
	if _, err := commitFresh(t, dir, "two"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(spare); err != nil {
		t.Fatalf("no spare kept: %v", err)
	}
	other := fs.FileMode(0o640)
	if other == want {
		other = 0o600
	}
	if err := os.Chmod(spare, other); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "three", "3\n")
	if _, err := commitFresh(t, dir, "three"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(index); err != nil || fi.Mode() != want {
		t.Errorf("index mode %v (%v), want %v", fi.Mode(), err, want)
	}
	checkGitAgrees(t, dir)
}
