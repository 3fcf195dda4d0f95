package gitx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
)

func needGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
}

// commitBase is the tree every CommitFiles test repository starts from:
// names that sort around each other (a-b < a.b < a/b < a0 in bytes; in
// trees a.b < a/ < a0), a file that becomes a folder and a folder that
// becomes a file.
var commitBase = map[string]string{
	"a-b":            "a-b\n",
	"a.b":            "a.b\n",
	"a/b":            "a/b\n",
	"a/b.x":          "a/b.x\n",
	"a0":             "a0\n",
	"b/deep/er/1":    "1\n",
	"del/me":         "gone soon\n",
	"del2/sub/x":     "x\n",
	"df":             "a file, then a folder\n",
	"fd/x":           "a folder,\n",
	"fd/y":           "then a file\n",
	"keep/untouched": "k\n",
}

// commitChange edits a working tree copy of commitBase and returns the
// paths to commit.
func commitChange(t *testing.T, dir string) []string {
	t.Helper()
	paths := []string{"a/b", "a/a", "a/c", "a.c", "a-c", "a+", "a/b-x", "a/b.y",
		"n/e/w/very/deep/path/of/folders/f.json", "bin/run.sh", "del/me", "del2/sub/x", "df/x", "fd"}
	for _, p := range paths {
		switch p {
		case "del/me", "del2/sub/x":
			if err := os.Remove(filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		case "df/x":
			if err := os.Remove(filepath.Join(dir, "df")); err != nil {
				t.Fatal(err)
			}
			write(t, dir, p, "now in a folder\n")
		case "fd":
			if err := os.RemoveAll(filepath.Join(dir, "fd")); err != nil {
				t.Fatal(err)
			}
			write(t, dir, p, "now a file\n")
		default:
			write(t, dir, p, "new "+p+"\n")
		}
	}
	// A path under a folder that is now a file: deleted.
	paths = append(paths, "fd/x")
	if err := os.Chmod(filepath.Join(dir, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		p := fmt.Sprintf("many/%03d/receipt.json", i)
		write(t, dir, p, fmt.Sprintf("{\"n\":%d}\n", i))
		paths = append(paths, p)
	}
	return paths
}

// cliEnv is the environment of git commands in these tests.
func cliEnv() []string {
	return append(os.Environ(),
		"GIT_AUTHOR_NAME=Operator", "GIT_AUTHOR_EMAIL=op@example.com",
		"GIT_COMMITTER_NAME=Operator", "GIT_COMMITTER_EMAIL=op@example.com",
		"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
}

// gitOK runs git in dir and reports whether it exited 0, with its output.
func gitOK(t *testing.T, dir string, args ...string) (bool, string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = cliEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return err == nil, string(out)
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ok, out := gitOK(t, dir, args...)
	if !ok {
		t.Fatalf("git %s:\n%s", strings.Join(args, " "), out)
	}
	return strings.TrimRight(out, "\n")
}

// indexSetup prepares a repository holding commitBase, committed, with
// the index written in one of the ways CommitFiles must handle, and
// checks the index has the feature the case is about.
type indexSetup struct {
	name  string
	setup func(t *testing.T, dir string)
	// check inspects the index file bytes before the commit.
	check func(t *testing.T, dir string, index []byte)
	// commitAll: the base files are not committed yet.
	commitAll bool
}

func writeBase(t *testing.T, dir string) {
	gitRun(t, dir, "init", "-q", "-b", "main")
	for p, c := range commitBase {
		write(t, dir, p, c)
	}
}

func cliBase(t *testing.T, dir string) {
	writeBase(t, dir)
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "base")
}

func hasExt(sig string) func(t *testing.T, dir string, index []byte) {
	return func(t *testing.T, dir string, index []byte) {
		t.Helper()
		if !bytes.Contains(index, []byte(sig)) {
			t.Fatalf("the index has no %s extension: the case tests nothing", sig)
		}
	}
}

func indexVersion(v uint32) func(t *testing.T, dir string, index []byte) {
	return func(t *testing.T, dir string, index []byte) {
		t.Helper()
		if got := binary.BigEndian.Uint32(index[4:]); got != v {
			t.Fatalf("index version %d, want %d", got, v)
		}
	}
}

var indexSetups = []indexSetup{
	{name: "git CLI with a TREE extension", setup: cliBase, check: hasExt("TREE")},
	{name: "git CLI with an untracked cache", setup: func(t *testing.T, dir string) {
		cliBase(t, dir)
		gitRun(t, dir, "config", "core.untrackedCache", "true")
		gitRun(t, dir, "update-index", "--untracked-cache")
		gitRun(t, dir, "status", "--porcelain")
	}, check: hasExt("UNTR")},
	{name: "git CLI with an intent-to-add entry (version 3)", setup: func(t *testing.T, dir string) {
		cliBase(t, dir)
		write(t, dir, "a.c", "intent\n")
		gitRun(t, dir, "add", "-N", "a.c")
	}, check: indexVersion(3)},
	{name: "go-git", setup: func(t *testing.T, dir string) {
		writeBase(t, dir)
		r, err := git.PlainOpen(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := r.Worktree()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddGlob("."); err != nil {
			t.Fatal(err)
		}
		sig := &object.Signature{Name: "Operator", Email: "op@example.com", When: time.Unix(1767225600, 0)}
		if _, err := w.Commit("base", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
			t.Fatal(err)
		}
	}, check: indexVersion(2)},
	{name: "no commits and no index", setup: func(t *testing.T, dir string) {
		writeBase(t, dir)
	}, check: nil, commitAll: true},
	{name: "fallback: index version 4", setup: func(t *testing.T, dir string) {
		cliBase(t, dir)
		gitRun(t, dir, "update-index", "--index-version", "4")
	}, check: indexVersion(4)},
	{name: "fallback: split index", setup: func(t *testing.T, dir string) {
		cliBase(t, dir)
		gitRun(t, dir, "update-index", "--split-index")
		// Entries in the split part: a replaced one, a deleted one and
		// an added one.
		write(t, dir, "a0", "a0, edited\n")
		write(t, dir, "z/added", "added\n")
		gitRun(t, dir, "add", "a0", "z/added")
		gitRun(t, dir, "rm", "-q", "keep/untouched")
		gitRun(t, dir, "commit", "-q", "-m", "split")
	}, check: hasExt("link")},
	{name: "fallback: unresolved conflict", setup: func(t *testing.T, dir string) {
		cliBase(t, dir)
		gitRun(t, dir, "checkout", "-q", "-b", "side")
		write(t, dir, "a/b", "side\n")
		gitRun(t, dir, "commit", "-q", "-am", "side")
		gitRun(t, dir, "checkout", "-q", "main")
		write(t, dir, "a/b", "main\n")
		gitRun(t, dir, "commit", "-q", "-am", "main")
		if ok, out := gitOK(t, dir, "merge", "-q", "side"); ok {
			t.Fatalf("merge did not conflict:\n%s", out)
		}
	}, check: func(t *testing.T, dir string, index []byte) {
		if !strings.Contains(gitRun(t, dir, "ls-files", "-u"), "a/b") {
			t.Fatal("no conflict stages in the index")
		}
	}},
}

// TestCommitFilesKeepsTheIndexInStepWithGit commits the same change with
// CommitFiles and with `git add -A && git commit` on twin repositories,
// for each way the index can have been written, and checks git sees the
// result as git's own.
func TestCommitFilesKeepsTheIndexInStepWithGit(t *testing.T) {
	needGit(t)
	t.Parallel()
	for _, tc := range indexSetups {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, twin := t.TempDir(), t.TempDir()
			tc.setup(t, dir)
			tc.setup(t, twin)
			if tc.check != nil {
				index, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, dir, index)
			}
			paths := commitChange(t, dir)
			commitChange(t, twin)
			if tc.commitAll {
				for p := range commitBase {
					if p != "df" { // a folder now
						paths = append(paths, p)
					}
				}
			}
			g, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			sig := object.Signature{Name: "Operator", Email: "op@example.com", When: time.Unix(1767225600, 0)}
			h, made, err := g.CommitFiles(paths, "change\n", sig)
			if err != nil || !made {
				t.Fatalf("CommitFiles: made %v err %v", made, err)
			}
			gitRun(t, twin, "add", "-A")
			if ok, out := gitOK(t, twin, "commit", "-q", "-m", "change"); !ok && !strings.Contains(out, "nothing") {
				t.Fatalf("twin commit: %s", out)
			}

			if got := gitRun(t, dir, "rev-parse", "HEAD"); got != h.String() {
				t.Fatalf("HEAD %s, CommitFiles returned %s", got, h)
			}
			if st := gitRun(t, dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
				t.Errorf("git status after CommitFiles:\n%s", st)
			}
			gitRun(t, dir, "diff", "--cached", "--quiet")
			gitRun(t, dir, "diff-files", "--quiet")
			gitRun(t, dir, "fsck", "--strict", "--no-progress")
			if d := cmp.Diff(gitRun(t, twin, "ls-files", "-s"), gitRun(t, dir, "ls-files", "-s")); d != "" {
				t.Errorf("git ls-files -s differs from git add's (-git add +CommitFiles):\n%s", d)
			}
			if got, want := gitRun(t, dir, "rev-parse", "HEAD^{tree}"), gitRun(t, twin, "rev-parse", "HEAD^{tree}"); got != want {
				t.Errorf("committed tree %s, git commits %s", got, want)
			}
			checkStatData(t, dir, "n/e/w/very/deep/path/of/folders/f.json", "bin/run.sh", "a/b", "many/299/receipt.json")
			if _, err := os.Stat(filepath.Join(dir, ".git", "index.lock")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("index.lock left behind: %v", err)
			}
		})
	}
}

// checkStatData checks `git ls-files --debug` shows the files' stat data,
// so git trusts the entries without re-hashing the files.
func checkStatData(t *testing.T, dir string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dir, rel), &st); err != nil {
			t.Fatal(err)
		}
		ctime, mtime := statCtime(&st), statMtime(&st)
		want := fmt.Sprintf("%s\n  ctime: %d:%d\n  mtime: %d:%d\n  dev: %d\tino: %d\n  uid: %d\tgid: %d\n  size: %d\tflags: 0",
			rel, uint32(ctime.Sec), uint32(ctime.Nsec), uint32(mtime.Sec), uint32(mtime.Nsec),
			uint32(st.Dev), uint32(st.Ino), st.Uid, st.Gid, uint32(st.Size))
		if d := cmp.Diff(want, gitRun(t, dir, "ls-files", "--debug", "--", rel)); d != "" {
			t.Errorf("index stat data of %s (-file +index):\n%s", rel, d)
		}
	}
}

// TestCommitFilesRefusesAStaleIndexLock: an index.lock (a running or
// crashed git) stops the commit before anything is written, names the
// file, and is not removed.
func TestCommitFilesRefusesAStaleIndexLock(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	head := gitRun(t, dir, "rev-parse", "HEAD")
	index, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, ".git", "index.lock")
	if err := os.WriteFile(lock, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "new", "new\n")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = g.CommitFiles([]string{"new"}, "m", object.Signature{Name: "x", Email: "x@y", When: time.Now()})
	if err == nil || !strings.Contains(err.Error(), lock) || !errors.Is(err, os.ErrExist) {
		t.Fatalf("err = %v, want one naming %s", err, lock)
	}
	if got := gitRun(t, dir, "rev-parse", "HEAD"); got != head {
		t.Fatalf("HEAD moved to %s", got)
	}
	if b, err := os.ReadFile(lock); err != nil || string(b) != "someone else's" {
		t.Fatalf("the lock was touched: %q %v", b, err)
	}
	if after, err := os.ReadFile(filepath.Join(dir, ".git", "index")); err != nil || !bytes.Equal(after, index) {
		t.Fatalf("the index changed: %v", err)
	}
	if ok, _ := gitOK(t, dir, "cat-file", "-e", BlobHash([]byte("new\n")).String()); ok {
		t.Fatal("a blob was written")
	}
	// Once the lock is gone the commit goes through, and a failed commit
	// (a path outside the repository) leaves no lock behind.
	os.Remove(lock)
	if _, _, err := g.CommitFiles([]string{"new", "../x"}, "m", object.Signature{Name: "x", Email: "x@y", When: time.Now()}); err == nil {
		t.Fatal("a path outside the repository was committed")
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed commit left index.lock: %v", err)
	}
	if _, made, err := g.CommitFiles([]string{"new"}, "m", object.Signature{Name: "x", Email: "x@y", When: time.Now()}); err != nil || !made {
		t.Fatalf("commit after the lock went: %v %v", made, err)
	}
	if st := gitRun(t, dir, "status", "--porcelain"); st != "" {
		t.Fatalf("status:\n%s", st)
	}
}

// TestCommitFilesSmudgesRacilyCleanEntries: entries whose mtime is not
// before the index's are written with size 0 when the index is
// rewritten, so git re-hashes them instead of trusting stat data that
// could hide a change made in the same clock tick.
func TestCommitFilesSmudgesRacilyCleanEntries(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	// a0's mtime is after the index's: racily clean.
	indexPath := filepath.Join(dir, ".git", "index")
	fi, err := os.Stat(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	future := fi.ModTime().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "a0"), future, future); err != nil {
		t.Fatal(err)
	}
	// Make git record a0's new stat data without rewriting the index mtime
	// past it.
	gitRun(t, dir, "update-index", "--refresh")
	write(t, dir, "new", "new\n")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.CommitFiles([]string{"new"}, "m", object.Signature{Name: "x", Email: "x@y", When: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for rel, size := range map[string]string{"a0": "size: 0\t", "a-b": "size: 4\t"} {
		if dbg := gitRun(t, dir, "ls-files", "--debug", "--", rel); !strings.Contains(dbg, size) {
			t.Errorf("%s: want %q (a0 is racily clean, a-b is not):\n%s", rel, size, dbg)
		}
	}
	if st := gitRun(t, dir, "status", "--porcelain"); st != "" {
		t.Fatalf("status:\n%s", st)
	}
}

func TestTreeLessIsGitsOrder(t *testing.T) {
	dir, file := filemode.Dir, filemode.Regular
	tests := []struct {
		a, b object.TreeEntry
		want bool
	}{
		{object.TreeEntry{Name: "a.b", Mode: file}, object.TreeEntry{Name: "a", Mode: dir}, true}, // "a.b" < "a/"
		{object.TreeEntry{Name: "a", Mode: dir}, object.TreeEntry{Name: "a0", Mode: file}, true},  // "a/" < "a0"
		{object.TreeEntry{Name: "a", Mode: file}, object.TreeEntry{Name: "a-b", Mode: file}, true},
		{object.TreeEntry{Name: "a-b", Mode: file}, object.TreeEntry{Name: "a", Mode: dir}, true},
		{object.TreeEntry{Name: "a", Mode: dir}, object.TreeEntry{Name: "a-b", Mode: file}, false},
		{object.TreeEntry{Name: "a", Mode: dir}, object.TreeEntry{Name: "a", Mode: dir}, false},
		{object.TreeEntry{Name: "b", Mode: file}, object.TreeEntry{Name: "a", Mode: dir}, false},
		{object.TreeEntry{Name: "ab", Mode: dir}, object.TreeEntry{Name: "a", Mode: dir}, false},
	}
	for _, tc := range tests {
		if got := treeLess(tc.a, tc.b); got != tc.want {
			t.Errorf("treeLess(%s %v, %s %v) = %v", tc.a.Name, tc.a.Mode, tc.b.Name, tc.b.Mode, got)
		}
	}
}

// testSig is the signature of the tests' commits.
func testSig() object.Signature {
	return object.Signature{Name: "x", Email: "x@y", When: time.Unix(1767225600, 0)}
}

// commitFresh writes file (its name as its content) and commits it from a
// Repo opened afresh, as a process's first commit does.
func commitFresh(t *testing.T, dir, file string) (*Repo, error) {
	t.Helper()
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, file, file+"\n")
	_, _, err = g.CommitFiles([]string{file}, file, testSig())
	return g, err
}

// TestCommitFilesVerifiesAnIndexItDidNotWrite: the checksum of an index
// written by someone else is verified; a corrupt one stops the commit.
func TestCommitFilesVerifiesAnIndexItDidNotWrite(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sig := testSig()
	write(t, dir, "one", "1\n")
	if _, _, err := g.CommitFiles([]string{"one"}, "m", sig); err != nil {
		t.Fatal(err)
	}
	// Flip a bit of a stored blob hash, replacing the file as git would.
	p := filepath.Join(dir, ".git", "index")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[indexHeaderLen+entryHashOffset] ^= 1
	if err := os.WriteFile(p+".new", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	head := gitRun(t, dir, "rev-parse", "HEAD")
	write(t, dir, "two", "2\n")
	if _, _, err := g.CommitFiles([]string{"two"}, "m", sig); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("err = %v, want a checksum mismatch", err)
	}
	if gitRun(t, dir, "rev-parse", "HEAD") != head {
		t.Fatal("HEAD moved")
	}
}

// TestCommitFilesReusesOnlyItsOwnIndex: a plain index CommitFiles wrote is
// not read again by its next commit, but its racily clean entries are
// still smudged then, and an index git wrote in between is read.
func TestCommitFilesReusesOnlyItsOwnIndex(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sig := testSig()
	// one's mtime is after the index's that commits it: racily clean
	// once that index is rewritten.
	write(t, dir, "one", "1\n")
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "one"), future, future); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		file string
		// git commits file itself (rewriting the index) when set.
		byGit bool
		// size is `git ls-files --debug one`'s size line afterwards.
		size string
		// git looks at the repository afterwards (and may write the
		// index: git status does when an entry is racily clean).
		check bool
	}{
		// Nothing reads one's entry in between, so two's commit reuses
		// the index one's wrote.
		{file: "one"},
		{file: "two", size: "size: 0\t", check: true},
		{file: "three", byGit: true, check: true},
		{file: "four", check: true},
		{file: "five", check: true},
	}
	for _, st := range steps {
		if st.file != "one" {
			write(t, dir, st.file, st.file+"\n")
		}
		if st.byGit {
			gitRun(t, dir, "add", st.file)
			gitRun(t, dir, "commit", "-q", "-m", st.file)
		} else if _, made, err := g.CommitFiles([]string{st.file}, st.file, sig); err != nil || !made {
			t.Fatalf("commit %s: made %v, %v", st.file, made, err)
		}
		if !st.check {
			continue
		}
		if st.size != "" {
			if dbg := gitRun(t, dir, "ls-files", "--debug", "--", "one"); !strings.Contains(dbg, st.size) {
				t.Errorf("after %s, want %q for one:\n%s", st.file, st.size, dbg)
			}
		}
		if s := gitRun(t, dir, "status", "--porcelain"); s != "" {
			t.Fatalf("status after %s:\n%s", st.file, s)
		}
		gitRun(t, dir, "diff", "--cached", "--quiet")
		for _, f := range []string{"one", "two", "three", "four", "five"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				if gitRun(t, dir, "ls-files", "--", f) != f {
					t.Fatalf("after %s, %s is not in the index", st.file, f)
				}
			}
		}
	}
	gitRun(t, dir, "fsck", "--strict", "--no-progress")
}

// TestCommitFilesRecordsALargeIndexItWrote: a plain index of
// indexRecordMin or more that CommitFiles wrote is not verified again by
// the next process's first commit (its stat data and checksum are
// recorded); once anyone else replaces it, it is, and a corrupt one stops
// the commit.
func TestCommitFilesRecordsALargeIndexItWrote(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	writeBase(t, dir)
	gitRun(t, dir, "config", "gc.auto", "0")
	gitRun(t, dir, "config", "maintenance.auto", "false")
	// Enough entries for an index over indexRecordMin.
	for i := range indexRecordMin/80 + 100 {
		write(t, dir, fmt.Sprintf("many/%04d/receipt.json", i), fmt.Sprintf("%d\n", i))
	}
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "base")
	// commit commits file in a fresh Repo, as a process does, and
	// returns the index files it verified.
	commit := func(file string) (int, error) {
		g, err := commitFresh(t, dir, file)
		return g.index.indexVerified, err
	}
	for _, step := range []struct {
		file         string
		wantVerified int
	}{
		{"one", 1}, // git's
		{"two", 0}, // spine's, recorded
		{"three", 0},
	} {
		if n, err := commit(step.file); err != nil || n != step.wantVerified {
			t.Fatalf("commit %s: verified %d index files (want %d), err %v", step.file, n, step.wantVerified, err)
		}
	}
	p := filepath.Join(dir, ".git", "index")
	if fi, err := os.Stat(p); err != nil || fi.Size() < indexRecordMin {
		t.Fatalf("index: %v %v, want one of %d bytes or more", fi.Size(), err, indexRecordMin)
	}
	checkGitAgrees(t, dir)
	// git commits a file: it replaces the index.
	write(t, dir, "four", "4\n")
	gitRun(t, dir, "add", "four")
	gitRun(t, dir, "commit", "-q", "-m", "four")
	if n, err := commit("five"); err != nil || n != 1 {
		t.Fatalf("commit after git's: verified %d index files (want 1), err %v", n, err)
	}
	// Flip a bit of a stored blob hash, replacing the file as git would.
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[indexHeaderLen+entryHashOffset] ^= 1
	if err := os.WriteFile(p+".new", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	head := gitRun(t, dir, "rev-parse", "HEAD")
	if n, err := commit("six"); err == nil || !strings.Contains(err.Error(), "checksum") || n != 1 {
		t.Fatalf("verified %d index files, err = %v; want 1 and a checksum mismatch", n, err)
	}
	if gitRun(t, dir, "rev-parse", "HEAD") != head {
		t.Fatal("HEAD moved")
	}
}
