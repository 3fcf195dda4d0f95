package gitx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// indexFile returns .git/index's bytes, its own entry count and whether
// it is split (has a link extension).
func indexFile(t *testing.T, dir string) ([]byte, int, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := scanIndex(data, true)
	if err != nil {
		t.Fatalf("scan .git/index: %v", err)
	}
	return data, len(ix.offs), ix.link != nil
}

// sharedIndexes returns the names of dir's shared index files.
func sharedIndexes(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".git", sharedIndexPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// checkGitAgrees checks the git CLI sees the repository as clean and
// whole, with an index holding exactly HEAD's tree.
func checkGitAgrees(t *testing.T, dir string) {
	t.Helper()
	if st := gitRun(t, dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Errorf("git status:\n%s", st)
	}
	gitRun(t, dir, "diff", "--cached", "--quiet")
	gitRun(t, dir, "diff-files", "--quiet")
	gitRun(t, dir, "fsck", "--strict", "--no-progress")
	tree := gitRun(t, dir, "ls-tree", "-r", "--format=%(objectmode) %(objectname) 0\t%(path)", "HEAD")
	if d := cmp.Diff(tree, gitRun(t, dir, "ls-files", "-s")); d != "" {
		t.Errorf("git ls-files -s is not HEAD's tree (-tree +index):\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "index.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("index.lock left behind: %v", err)
	}
}

// splitChange edits a few files, deletes one, adds one under a new
// folder and turns a file into a folder, in round it.
func splitChange(t *testing.T, dir string, it int) []string {
	t.Helper()
	paths := []string{"a/b", fmt.Sprintf("many/%03d/receipt.json", it), fmt.Sprintf("round/%d/new", it), "keep/untouched"}
	write(t, dir, "a/b", fmt.Sprintf("round %d\n", it))
	if err := os.RemoveAll(filepath.Join(dir, paths[1])); err != nil {
		t.Fatal(err)
	}
	write(t, dir, paths[2], "new\n")
	write(t, dir, "keep/untouched", fmt.Sprintf("touched %d\n", it))
	if it == 1 {
		if err := os.Remove(filepath.Join(dir, "a0")); err != nil {
			t.Fatal(err)
		}
		write(t, dir, "a0/now-a-folder", "x\n")
		paths = append(paths, "a0/now-a-folder")
	}
	return paths
}

// TestCommitFilesSplitIndexWithGit: with core.splitIndex unset, true and
// false, starting from an index git wrote plain or split, CommitFiles and
// the git CLI take turns (spine commits; the operator commits, switches
// branches, pulls; spine commits again), and after each the git CLI sees
// a clean repository whose index holds HEAD's tree, and the index is
// split unless core.splitIndex is false.
func TestCommitFilesSplitIndexWithGit(t *testing.T) {
	needGit(t)
	t.Parallel()
	for _, cfg := range []string{"unset", "true", "false"} {
		for _, start := range []string{"plain", "split by git"} {
			t.Run(cfg+"/"+start, func(t *testing.T) {
				t.Parallel()
				dir, twin := t.TempDir(), t.TempDir()
				for _, d := range []string{dir, twin} {
					cliBase(t, d)
					if start == "split by git" {
						gitRun(t, d, "update-index", "--split-index")
						write(t, d, "a.b", "edited by git\n")
						gitRun(t, d, "commit", "-qam", "split")
					}
					if cfg != "unset" {
						gitRun(t, d, "config", "core.splitIndex", cfg)
					}
				}
				wantSplit := cfg != "false"
				g, err := Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				g.splitMinEntries = 0 // split commitBase's few files
				sig := object.Signature{Name: "Operator", Email: "op@example.com", When: time.Unix(1767225600, 0)}
				spine := func(step string, paths []string) {
					t.Helper()
					if _, made, err := g.CommitFiles(paths, step, sig); err != nil || !made {
						t.Fatalf("%s: CommitFiles: made %v err %v", step, made, err)
					}
					checkGitAgrees(t, dir)
					if _, _, split := indexFile(t, dir); split != wantSplit {
						t.Fatalf("%s: index split %v, want %v", step, split, wantSplit)
					}
				}
				paths := commitChange(t, dir)
				commitChange(t, twin)
				spine("change", paths)
				gitRun(t, twin, "add", "-A")
				gitRun(t, twin, "commit", "-qm", "change")
				if d := cmp.Diff(gitRun(t, twin, "ls-files", "-s"), gitRun(t, dir, "ls-files", "-s")); d != "" {
					t.Errorf("git ls-files -s differs from git add's (-git add +CommitFiles):\n%s", d)
				}
				if got, want := gitRun(t, dir, "rev-parse", "HEAD^{tree}"), gitRun(t, twin, "rev-parse", "HEAD^{tree}"); got != want {
					t.Errorf("committed tree %s, git commits %s", got, want)
				}
				checkStatData(t, dir, "n/e/w/very/deep/path/of/folders/f.json", "a/b", "many/299/receipt.json")
				for it := 1; it <= 3; it++ {
					spine(fmt.Sprintf("round %d", it), splitChange(t, dir, it))
				}
				if wantSplit && len(sharedIndexes(t, dir)) == 0 {
					t.Fatal("a split index but no shared index file")
				}

				// The operator: git add and commit, a branch, back, a
				// pull; spine commits after each.
				write(t, dir, "operator/notes", "mine\n")
				write(t, dir, "a/b", "operator's\n")
				gitRun(t, dir, "add", "operator/notes", "a/b")
				gitRun(t, dir, "commit", "-qm", "operator")
				checkGitAgrees(t, dir)
				spine("after git commit", splitChange(t, dir, 4))
				gitRun(t, dir, "checkout", "-qb", "side")
				write(t, dir, "side/file", "side\n")
				gitRun(t, dir, "add", "side/file")
				gitRun(t, dir, "rm", "-q", "a.b")
				gitRun(t, dir, "commit", "-qm", "side")
				gitRun(t, dir, "checkout", "-q", "main")
				checkGitAgrees(t, dir)
				spine("after git checkout", splitChange(t, dir, 5))
				other := t.TempDir()
				gitRun(t, other, "clone", "-q", dir, ".")
				write(t, other, "pulled/file", "from elsewhere\n")
				write(t, other, "many/100/receipt.json", "changed elsewhere\n")
				gitRun(t, other, "add", "-A")
				gitRun(t, other, "commit", "-qm", "elsewhere")
				gitRun(t, dir, "pull", "-q", "--ff-only", other, "main")
				checkGitAgrees(t, dir)
				if read(t, dir, "pulled/file") != "from elsewhere\n" {
					t.Fatal("the pull did not bring pulled/file")
				}
				spine("after git pull", splitChange(t, dir, 6))
				// git rewrites the index spine wrote (a refresh), and
				// spine reads git's.
				gitRun(t, dir, "update-index", "--refresh")
				spine("after git update-index", splitChange(t, dir, 7))
				// A fresh Repo (no cache) reads it the same.
				if g, err = Open(dir); err != nil {
					t.Fatal(err)
				}
				spine("reopened", splitChange(t, dir, 8))
			})
		}
	}
}

// TestCommitFilesSplitIndexStaysSmall: .git/index holds at most
// splitIndex.maxPercentChange of the entries (plus one commit's), a new
// shared index is written when it would hold more, and writing one
// removes the shared indexes unused for longer than
// splitIndex.sharedIndexExpire, never a recent one.
func TestCommitFilesSplitIndexStaysSmall(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	for i := range 400 {
		write(t, dir, fmt.Sprintf("base/%03d", i), fmt.Sprint(i))
	}
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-qm", "more")
	gitRun(t, dir, "config", "splitIndex.maxPercentChange", "10")
	gitRun(t, dir, "config", "splitIndex.sharedIndexExpire", "1.week.ago")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g.splitMinEntries = 200
	sig := testSig()
	stale := filepath.Join(dir, ".git", sharedIndexPrefix+strings.Repeat("0", 39)+"1")
	recent := filepath.Join(dir, ".git", sharedIndexPrefix+strings.Repeat("0", 39)+"2")
	for _, p := range []string{stale, recent} {
		if err := os.WriteFile(p, []byte("not an index"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-8 * 24 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for it := range 60 {
		var paths []string
		for k := range 3 {
			p := fmt.Sprintf("receipts/%02d/%d", it, k)
			write(t, dir, p, p)
			paths = append(paths, p)
		}
		// Replaced and deleted entries far apart: bitmaps with runs of
		// empty words between literal ones.
		for _, p := range []string{"base/007", "base/250", "base/390"} {
			write(t, dir, p, fmt.Sprint("edit ", it))
			paths = append(paths, p)
		}
		if it < 30 {
			p := fmt.Sprintf("base/%03d", 100+it*9)
			if err := os.Remove(filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		if _, _, err := g.CommitFiles(paths, "m", sig); err != nil {
			t.Fatal(err)
		}
		_, own, split := indexFile(t, dir)
		total := strings.Count(gitRun(t, dir, "ls-files"), "\n") + 1
		if !split || own*100 > total*10+len(paths)*100 {
			t.Fatalf("commit %d: split %v, %d own entries of %d", it, split, own, total)
		}
		for _, s := range sharedIndexes(t, dir) {
			seen[s] = true
		}
		if it%5 == 4 {
			checkGitAgrees(t, dir)
		}
	}
	if len(seen) < 4 { // the two fakes and at least two of spine's
		t.Fatalf("shared indexes seen: %v; want a new one written as the index grew", seen)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a shared index unused for 8 days is still there: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent shared index was removed: %v", err)
	}
	checkGitAgrees(t, dir)
}

// TestCommitFilesSharedIndexMissing: a split index whose shared index is
// gone stops the commit with an error naming the file, whether or not the
// Repo read it before, and changes nothing.
func TestCommitFilesSharedIndexMissing(t *testing.T) {
	needGit(t)
	t.Parallel()
	for _, reopen := range []bool{false, true} {
		t.Run(fmt.Sprint("reopen=", reopen), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cliBase(t, dir)
			g, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			g.splitMinEntries = 0
			sig := testSig()
			write(t, dir, "one", "1\n")
			if _, _, err := g.CommitFiles([]string{"one"}, "m", sig); err != nil {
				t.Fatal(err)
			}
			shared := sharedIndexes(t, dir)
			if len(shared) != 1 {
				t.Fatalf("shared indexes: %v", shared)
			}
			p := filepath.Join(dir, ".git", shared[0])
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if reopen {
				if g, err = Open(dir); err != nil {
					t.Fatal(err)
				}
			}
			index, _, _ := indexFile(t, dir)
			head := gitRun(t, dir, "rev-parse", "HEAD")
			write(t, dir, "two", "2\n")
			_, _, err = g.CommitFiles([]string{"two"}, "m", sig)
			if err == nil || !strings.Contains(err.Error(), p) || !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("err = %v, want one naming %s", err, p)
			}
			if gitRun(t, dir, "rev-parse", "HEAD") != head {
				t.Fatal("HEAD moved")
			}
			if after, _, _ := indexFile(t, dir); !bytes.Equal(after, index) {
				t.Fatal("the index changed")
			}
			if _, err := os.Stat(filepath.Join(dir, ".git", "index.lock")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("index.lock left behind: %v", err)
			}
		})
	}
}

// TestCommitFilesFreshensTheSharedIndex: each commit sets the shared
// index's mtime to now, as git does, so git's splitIndex.sharedIndexExpire
// never removes a shared index in use.
func TestCommitFilesFreshensTheSharedIndex(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g.splitMinEntries = 0
	sig := testSig()
	write(t, dir, "one", "1\n")
	if _, _, err := g.CommitFiles([]string{"one"}, "m", sig); err != nil {
		t.Fatal(err)
	}
	shared := sharedIndexes(t, dir)
	if len(shared) != 1 {
		t.Fatalf("shared indexes: %v", shared)
	}
	p := filepath.Join(dir, ".git", shared[0])
	old := time.Now().Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "two", "2\n")
	if _, _, err := g.CommitFiles([]string{"two"}, "m", sig); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || time.Since(fi.ModTime()) > time.Hour {
		t.Fatalf("shared index not freshened: %v %v", fi.ModTime(), err)
	}
	// git, writing a new shared index with a one-day expiry, keeps it
	// (and the index still reads).
	write(t, dir, "three", "3\n")
	gitRun(t, dir, "-c", "splitIndex.sharedIndexExpire=1.day.ago", "-c", "splitIndex.maxPercentChange=0", "add", "three")
	gitRun(t, dir, "commit", "-qm", "three")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("git removed the shared index spine used: %v", err)
	}
	checkGitAgrees(t, dir)
}

// TestCommitFilesSmudgesRacyEntriesOfTheSharedIndex: an entry of the
// shared index that is racily clean (its mtime not before the index's)
// is written with size 0 as a replacement in .git/index; the shared file
// is not changed.
func TestCommitFilesSmudgesRacyEntriesOfTheSharedIndex(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	for rel, when := range map[string]time.Time{"a0": time.Unix(1600000000, 0), "a-b": time.Unix(1500000000, 0)} {
		if err := os.Chtimes(filepath.Join(dir, rel), when, when); err != nil {
			t.Fatal(err)
		}
	}
	gitRun(t, dir, "update-index", "--refresh")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g.splitMinEntries = 0
	sig := testSig()
	write(t, dir, "zero", "0\n")
	if _, _, err := g.CommitFiles([]string{"zero"}, "m", sig); err != nil {
		t.Fatal(err)
	}
	// one, an entry of .git/index's own, racily clean below too.
	write(t, dir, "one", "1\n")
	if err := os.Chtimes(filepath.Join(dir, "one"), time.Unix(1600000000, 0), time.Unix(1600000000, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.CommitFiles([]string{"one"}, "m", sig); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"a0", "one"} {
		if dbg := gitRun(t, dir, "ls-files", "--debug", "--", rel); strings.Contains(dbg, "size: 0\t") {
			t.Fatalf("%s smudged too early:\n%s", rel, dbg)
		}
	}
	if _, own, _ := indexFile(t, dir); own != 1 {
		t.Fatalf(".git/index has %d entries of its own, want 1 (one)", own)
	}
	shared := sharedIndexes(t, dir)
	sharedData, err := os.ReadFile(filepath.Join(dir, ".git", shared[0]))
	if err != nil {
		t.Fatal(err)
	}
	// The index now looks older than a0: a0 is racily clean.
	between := time.Unix(1550000000, 0)
	if err := os.Chtimes(filepath.Join(dir, ".git", "index"), between, between); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "two", "2\n")
	if _, _, err := g.CommitFiles([]string{"two"}, "m", sig); err != nil {
		t.Fatal(err)
	}
	for rel, size := range map[string]string{"a0": "size: 0\t", "one": "size: 0\t", "a-b": "size: 4\t"} {
		if dbg := gitRun(t, dir, "ls-files", "--debug", "--", rel); !strings.Contains(dbg, size) {
			t.Errorf("%s: want %q (a0 and one are racily clean, a-b is not):\n%s", rel, size, dbg)
		}
	}
	if after, err := os.ReadFile(filepath.Join(dir, ".git", shared[0])); err != nil || !bytes.Equal(after, sharedData) {
		t.Fatalf("the shared index changed: %v", err)
	}
	if _, _, split := indexFile(t, dir); !split {
		t.Fatal("index not split")
	}
	checkGitAgrees(t, dir)
}

// TestSwitchToReadsASplitIndex: SwitchTo (go-git's index encoder) works
// on a split index CommitFiles wrote.
func TestSwitchToReadsASplitIndex(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	one := plumbing.NewHash(gitRun(t, dir, "rev-parse", "HEAD"))
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g.splitMinEntries = 0
	sig := testSig()
	paths := splitChange(t, dir, 2)
	two, _, err := g.CommitFiles(paths, "m", sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, split := indexFile(t, dir); !split {
		t.Fatal("index not split: the test tests nothing")
	}
	for _, to := range []plumbing.Hash{one, two} {
		if _, err := g.SwitchTo(to, false); err != nil {
			t.Fatal(err)
		}
		if got := gitRun(t, dir, "rev-parse", "HEAD"); got != to.String() {
			t.Fatalf("HEAD %s, want %s", got, to)
		}
		checkGitAgrees(t, dir)
	}
	// And CommitFiles after it (the index is whole again) splits it.
	write(t, dir, "three", "3\n")
	if _, _, err := g.CommitFiles([]string{"three"}, "m", sig); err != nil {
		t.Fatal(err)
	}
	checkGitAgrees(t, dir)
}

// TestEWAHRoundTrip: appendEWAH's bitmaps decode to their bits, with
// runs of empty words, full words and neighbouring words.
func TestEWAHRoundTrip(t *testing.T) {
	tests := [][]int{
		nil,
		{0},
		{63},
		{64},
		{0, 1, 2, 63, 64, 65, 127, 128},
		{5000},
		{3, 700, 701, 20000},
	}
	full := make([]int, 0, 192)
	for i := 64; i < 256; i++ {
		full = append(full, i)
	}
	tests = append(tests, full)
	for _, pos := range tests {
		enc := appendEWAH(nil, pos)
		got, rest, err := readEWAH(append(enc, 'x'), 1<<20)
		if err != nil || string(rest) != "x" {
			t.Fatalf("%v: %v, rest %q", pos, err, rest)
		}
		if d := cmp.Diff(pos, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%v (-want +got):\n%s", pos, d)
		}
	}
	// git's empty bitmap: no bits, one empty running-length word.
	want := []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if got := appendEWAH(nil, nil); !bytes.Equal(got, want) {
		t.Errorf("empty bitmap %x, want %x", got, want)
	}
	if n := binary.BigEndian.Uint32(appendEWAH(nil, []int{70})); n != 71 {
		t.Errorf("bit size %d, want 71", n)
	}
}

// FuzzEWAH: any bytes decode to ordered bits below the bound or an
// error, never a panic; decoded bits encode to a bitmap that decodes to
// them again. The seeds are bitmaps git 2.39 wrote (the link extensions
// of realIndexes) and appendEWAH's.
//
//	go test ./internal/gitx -run '^$' -fuzz FuzzEWAH -fuzztime 1m
func FuzzEWAH(f *testing.F) {
	f.Add(appendEWAH(nil, nil))
	f.Add(appendEWAH(nil, []int{0, 63, 64, 1000}))
	for _, idx := range realIndexes(f) {
		if ix, err := scanIndex(idx, true); err == nil && ix.link != nil && len(ix.link) > indexHashLen {
			f.Add(ix.link[indexHashLen:])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const n = 1 << 16
		pos, _, err := readEWAH(data, n)
		if err != nil {
			return
		}
		for i, p := range pos {
			if p < 0 || p >= n || i > 0 && pos[i-1] >= p {
				t.Fatalf("bits out of order or range: %v", pos)
			}
		}
		again, rest, err := readEWAH(appendEWAH(nil, pos), n)
		if err != nil || len(rest) != 0 {
			t.Fatalf("re-encoded bitmap: %v, rest %d", err, len(rest))
		}
		if d := cmp.Diff(pos, again, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("round trip (-decoded +again):\n%s", d)
		}
	})
}

// TestCommitFilesVerifiesASharedIndexOnce: the checksum of a shared index
// is verified by the first commit that reads it and recorded with the
// file's stat data, so later processes (a fresh Repo) do not hash it
// again; a shared index changed in any way since (replaced, or written in
// place, even with its mtime put back) is verified again and refused when
// corrupt, and a missing or damaged record only costs a verification.
func TestCommitFilesVerifiesASharedIndexOnce(t *testing.T) {
	needGit(t)
	t.Parallel()
	// corrupt returns the shared index p's bytes with a bit of its first
	// entry's blob hash flipped.
	corrupt := func(t *testing.T, p string) []byte {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[indexHeaderLen+entryHashOffset] ^= 1
		return data
	}
	tests := []struct {
		name string
		// maxPercent is splitIndex.maxPercentChange: 100 keeps the
		// shared index git wrote, 0 has every commit write one.
		maxPercent string
		// change is done to the shared index p (or the record) after
		// the first two commits.
		change func(t *testing.T, dir, p string)
		// wantVerified: shared indexes the third commit verifies.
		wantVerified int
		wantErr      string
	}{
		{name: "untouched", maxPercent: "100", change: func(*testing.T, string, string) {}},
		{name: "written by spine", maxPercent: "0", change: func(*testing.T, string, string) {}},
		{name: "corrupt, replaced by rename", maxPercent: "100", wantVerified: 1, wantErr: "checksum",
			change: func(t *testing.T, dir, p string) {
				if err := os.WriteFile(p+".new", corrupt(t, p), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(p+".new", p); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "corrupt in place, mtime put back", maxPercent: "100", wantVerified: 1, wantErr: "checksum",
			change: func(t *testing.T, dir, p string) {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				data := corrupt(t, p)
				// Let the clock move past the recorded ctime
				// (file times are coarse-grained).
				time.Sleep(20 * time.Millisecond)
				f, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt(data, 0); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "record missing", maxPercent: "100", wantVerified: 1,
			change: func(t *testing.T, dir, p string) {
				if err := os.Remove(sharedVerifiedPath(filepath.Join(dir, ".git"))); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "record damaged", maxPercent: "100", wantVerified: 1,
			change: func(t *testing.T, dir, p string) {
				rec := sharedVerifiedPath(filepath.Join(dir, ".git"))
				data, err := os.ReadFile(rec)
				if err != nil {
					t.Fatal(err)
				}
				// The inode number, one digit changed.
				f := bytes.Fields(data)
				f[3][0] = '0' + (f[3][0]-'0'+1)%10
				if err := os.WriteFile(rec, append(bytes.Join(f, []byte(" ")), '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cliBase(t, dir)
			gitRun(t, dir, "config", "core.splitIndex", "true")
			gitRun(t, dir, "config", "splitIndex.maxPercentChange", tc.maxPercent)
			gitRun(t, dir, "update-index", "--split-index")
			shared := sharedIndexes(t, dir)
			if len(shared) != 1 {
				t.Fatalf("shared indexes git wrote: %v", shared)
			}
			// Not freshened by the commits (which would change its
			// stat data), and its mtime is nothing like now.
			p := filepath.Join(dir, ".git", shared[0])
			recent := time.Now().Add(-30 * time.Minute)
			if err := os.Chtimes(p, recent, recent); err != nil {
				t.Fatal(err)
			}
			// commit commits file in a fresh Repo, as a process does,
			// and returns the shared indexes it verified.
			commit := func(file string) (int, error) {
				g, err := commitFresh(t, dir, file)
				return g.index.sharedVerified, err
			}
			if n, err := commit("one"); err != nil || n != 1 {
				t.Fatalf("first commit: verified %d shared indexes (want 1 of git's), err %v", n, err)
			}
			if n, err := commit("two"); err != nil || n != 0 {
				t.Fatalf("second commit: verified %d shared indexes (want 0), err %v", n, err)
			}
			// (No git command in between: git sets the shared index's
			// mtime whenever it reads it, so the next commit verifies
			// it again.)
			if tc.maxPercent == "100" {
				if got := sharedIndexes(t, dir); !slices.Equal(got, shared) {
					t.Fatalf("shared indexes %v, want git's %v", got, shared)
				}
			} else {
				// The one spine wrote, which .git/index names.
				p = filepath.Join(dir, ".git", currentShared(t, dir))
			}
			tc.change(t, dir, p)
			head := gitRun(t, dir, "rev-parse", "HEAD")
			index, _, _ := indexFile(t, dir)
			n, err := commit("three")
			if n != tc.wantVerified {
				t.Errorf("third commit verified %d shared indexes, want %d", n, tc.wantVerified)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				checkGitAgrees(t, dir)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if gitRun(t, dir, "rev-parse", "HEAD") != head {
				t.Error("HEAD moved")
			}
			if after, _, _ := indexFile(t, dir); !bytes.Equal(after, index) {
				t.Error("the index changed")
			}
		})
	}
}

// currentShared returns the name of the shared index dir's .git/index
// links to.
func currentShared(t *testing.T, dir string) string {
	t.Helper()
	data, _, split := indexFile(t, dir)
	if !split {
		t.Fatal("the index is not split")
	}
	ix, err := scanIndex(data, true)
	if err != nil {
		t.Fatal(err)
	}
	return sharedIndexPrefix + fmt.Sprintf("%x", ix.link[:indexHashLen])
}

// TestCommitFilesReleasesTheSharedIndexMapping: the shared index a commit
// reads is mapped, and the mapping is released once the Repo moves to
// another shared index (here one it writes itself).
func TestCommitFilesReleasesTheSharedIndexMapping(t *testing.T) {
	needGit(t)
	t.Parallel()
	dir := t.TempDir()
	cliBase(t, dir)
	gitRun(t, dir, "config", "core.splitIndex", "true")
	gitRun(t, dir, "config", "splitIndex.maxPercentChange", "100")
	gitRun(t, dir, "update-index", "--split-index")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sig := testSig()
	write(t, dir, "one", "1\n")
	if _, _, err := g.CommitFiles([]string{"one"}, "one", sig); err != nil {
		t.Fatal(err)
	}
	m := g.index.shared.m
	if m == nil || m.Bytes() == nil || g.index.mapped.m != m {
		t.Fatalf("git's shared index is not held mapped: %+v", g.index.shared)
	}
	gitRun(t, dir, "config", "splitIndex.maxPercentChange", "0")
	write(t, dir, "two", "2\n")
	if _, _, err := g.CommitFiles([]string{"two"}, "two", sig); err != nil {
		t.Fatal(err)
	}
	if m.Bytes() != nil {
		t.Error("the mapping of the shared index replaced is still there")
	}
	if g.index.shared.m != nil || g.index.mapped.m != nil {
		t.Error("the shared index spine wrote is mapped")
	}
	checkGitAgrees(t, dir)
}
