package gitx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/google/go-cmp/cmp"
)

// objectFiles lists, under the repository's objects folder, the loose
// objects and the pack files (.pack and .idx), by path relative to it.
func objectFiles(t *testing.T, dir string) (loose, packs []string) {
	t.Helper()
	objects := filepath.Join(dir, ".git", "objects")
	err := filepath.WalkDir(objects, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(objects, p)
		rel = filepath.ToSlash(rel)
		switch {
		case strings.HasPrefix(rel, "pack/"):
			packs = append(packs, rel)
		case len(rel) == 41 && rel[2] == '/':
			loose = append(loose, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(loose)
	sort.Strings(packs)
	return loose, packs
}

// stageOf writes n receipt folders (receipt.json and output.log each, the
// logs of every third one empty, so that objects repeat) and returns
// their paths.
func stageOf(t *testing.T, dir string, n int, tag string) []string {
	t.Helper()
	var paths []string
	for i := range n {
		key := fmt.Sprintf("receipts/2026/11/26/CAP-20261126-120000__step.s%03d__R%s%04d", i, tag, i)
		log := ""
		if i%3 != 0 {
			log = strings.Repeat(fmt.Sprintf("%s line of step %d\n", tag, i), 1+i*7)
		}
		write(t, dir, key+"/receipt.json", fmt.Sprintf("{\"run_key\": %q, \"tag\": %q}\n", key, tag))
		write(t, dir, key+"/output.log", log)
		paths = append(paths, key+"/receipt.json", key+"/output.log")
	}
	return paths
}

// openBase opens a repository of commitBase committed by git.
func openBase(t *testing.T) (*Repo, string) {
	t.Helper()
	needGit(t)
	dir := t.TempDir()
	cliBase(t, dir)
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return g, dir
}

// checkWhole checks, when, that git fsck finds the repository at dir
// whole and git status finds its working tree clean.
func checkWhole(t *testing.T, dir, when string) {
	t.Helper()
	if ok, out := gitOK(t, dir, "fsck", "--strict", "--no-dangling"); !ok {
		t.Errorf("git fsck %s:\n%s", when, out)
	}
	if out := gitRun(t, dir, "status", "--porcelain"); out != "" {
		t.Errorf("git status %s:\n%s", when, out)
	}
}

// TestCommitFilesPacksALargeCommit checks that a commit of many new
// objects (a long stage's receipts) writes them as one pack, not as loose
// objects, and that git and go-git (this Repo, whose later commits read
// the trees in it, and a fresh one) read everything back; and that a
// small commit stays loose.
func TestCommitFilesPacksALargeCommit(t *testing.T) {
	g, dir := openBase(t)
	// A blob over 1 MiB: its size takes four bytes of the pack header.
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 70000)
	write(t, dir, "artifacts/big.bin", string(big))
	looseBefore, packsBefore := objectFiles(t, dir)
	paths := append(stageOf(t, dir, 60, "a"), "artifacts/big.bin")
	h, made, err := g.CommitFiles(paths, "stage of 60 steps\n", testSig())
	if err != nil || !made {
		t.Fatalf("CommitFiles: made=%v err=%v", made, err)
	}
	loose, packs := objectFiles(t, dir)
	if diff := cmp.Diff(looseBefore, loose); diff != "" {
		t.Errorf("loose objects written by a commit of %d files (-before +after):\n%s", len(paths), diff)
	}
	if len(packs) != len(packsBefore)+2 {
		t.Fatalf("pack files %v, want one .pack and one .idx more than %v", packs, packsBefore)
	}
	var idx string
	for _, p := range packs {
		if strings.HasSuffix(p, ".idx") {
			idx = filepath.Join(dir, ".git", "objects", p)
		}
	}
	if ok, out := gitOK(t, dir, "verify-pack", idx); !ok {
		t.Errorf("git verify-pack:\n%s", out)
	}
	checkWhole(t, dir, "after the commit")
	if got := gitRun(t, dir, "rev-parse", "HEAD"); got != h.String() {
		t.Errorf("HEAD %s, want %s", got, h)
	}
	for _, p := range []string{paths[1], paths[3], "artifacts/big.bin"} {
		want, _ := os.ReadFile(filepath.Join(dir, p))
		hash := gitRun(t, dir, "rev-parse", "HEAD:"+p)
		if got := catFile(t, dir, hash); !bytes.Equal(got, want) {
			t.Errorf("git: %s has %d bytes, want %d", p, len(got), len(want))
		}
		if got := goGitRead(t, dir, plumbing.NewHash(hash)); !bytes.Equal(got, want) {
			t.Errorf("a fresh go-git: %s has %d bytes, want %d", p, len(got), len(want))
		}
		// This Repo finds the packed objects without opening again.
		if got, ok, err := g.HeadFile(p); err != nil || !ok || !bytes.Equal(got, want) {
			t.Errorf("HeadFile(%s): %d bytes, %v, %v; want %d bytes", p, len(got), ok, err, len(want))
		}
	}

	// The next commit, by the same Repo, reads the trees of the pack and
	// writes a few loose objects.
	looseBefore, packsBefore = objectFiles(t, dir)
	next := stageOf(t, dir, 2, "b")
	if _, made, err := g.CommitFiles(next, "stage of 2 steps\n", testSig()); err != nil || !made {
		t.Fatalf("second CommitFiles: made=%v err=%v", made, err)
	}
	loose, packs = objectFiles(t, dir)
	if diff := cmp.Diff(packsBefore, packs); diff != "" {
		t.Errorf("a commit of %d files wrote a pack (-before +after):\n%s", len(next), diff)
	}
	if len(loose) <= len(looseBefore) {
		t.Errorf("a commit of %d files wrote no loose objects (%d before, %d after)", len(next), len(looseBefore), len(loose))
	}
	// The empty output.log is in the pack already: not written again.
	empty := plumbing.ComputeHash(plumbing.BlobObject, nil).String()
	if _, err := os.Stat(filepath.Join(dir, ".git", "objects", empty[:2], empty[2:])); err == nil {
		t.Errorf("the empty blob, packed by the first commit, was written again loose by the second")
	}
	if got := gitRun(t, dir, "ls-tree", "--name-only", "HEAD", "receipts/2026/11/26/"); strings.Count(got, "\n")+1 != 62 {
		t.Errorf("HEAD's receipts folder lists %d runs, want 62", strings.Count(got, "\n")+1)
	}
	checkWhole(t, dir, "after the second commit")
}

// TestCommitFilesPackHoldsBoundedBytes checks that the content a commit
// holds for its pack is bounded: what does not fit is written loose, and
// the commit is whole.
func TestCommitFilesPackHoldsBoundedBytes(t *testing.T) {
	g, dir := openBase(t)
	g.packMinObjects, g.packMaxBytes = 8, 4<<10
	paths := stageOf(t, dir, 20, "c")
	looseBefore, _ := objectFiles(t, dir)
	if _, made, err := g.CommitFiles(paths, "stage\n", testSig()); err != nil || !made {
		t.Fatalf("CommitFiles: made=%v err=%v", made, err)
	}
	loose, packs := objectFiles(t, dir)
	if len(packs) != 2 {
		t.Errorf("pack files %v, want one pack", packs)
	}
	if len(loose) == len(looseBefore) {
		t.Errorf("no object written loose past the %d bytes a pack may hold", g.packMaxBytes)
	}
	checkWhole(t, dir, "after the commit")
}

// TestCommitFilesFallsBackToLooseObjects checks that a commit whose pack
// cannot be written (here the pack folder is a file) writes its objects
// loose instead, and is whole.
func TestCommitFilesFallsBackToLooseObjects(t *testing.T) {
	g, dir := openBase(t)
	g.packMinObjects = 8
	packDir := filepath.Join(dir, ".git", "objects", "pack")
	if err := os.RemoveAll(packDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(packDir, []byte("not a folder\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := stageOf(t, dir, 10, "d")
	looseBefore, _ := objectFiles(t, dir)
	if _, made, err := g.CommitFiles(paths, "stage\n", testSig()); err != nil || !made {
		t.Fatalf("CommitFiles without a pack folder: made=%v err=%v", made, err)
	}
	loose, _ := objectFiles(t, dir)
	if len(loose) < len(looseBefore)+len(paths) {
		t.Errorf("%d loose objects after the commit of %d files, %d before", len(loose), len(paths), len(looseBefore))
	}
	if err := os.Remove(packDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(packDir, 0o755); err != nil {
		t.Fatal(err)
	}
	checkWhole(t, dir, "after the commit")
}

// TestPackObjectHeader checks the type-and-size header of pack entries
// against go-git's reader, for sizes on each side of the byte
// boundaries.
func TestPackObjectHeader(t *testing.T) {
	var objs []pendingObject
	for _, n := range []int{0, 1, 15, 16, 127, 2047, 2048, 262143, 262144, 1 << 21} {
		data := bytes.Repeat([]byte{'x'}, n)
		objs = append(objs, pendingObject{typ: plumbing.BlobObject, hash: plumbing.ComputeHash(plumbing.BlobObject, data), data: data})
	}
	tree := []byte("100644 a\x00" + string(objs[1].hash[:]))
	objs = append(objs, pendingObject{typ: plumbing.TreeObject, hash: plumbing.ComputeHash(plumbing.TreeObject, tree), data: tree})
	var buf bytes.Buffer
	if err := encodePack(&buf, objs); err != nil {
		t.Fatal(err)
	}
	sc := packfile.NewScanner(bytes.NewReader(buf.Bytes()))
	_, count, err := sc.Header()
	if err != nil || int(count) != len(objs) {
		t.Fatalf("header: %d objects, %v; want %d", count, err, len(objs))
	}
	for i, o := range objs {
		h, err := sc.NextObjectHeader()
		if err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
		if h.Type != o.typ || h.Length != int64(len(o.data)) {
			t.Errorf("object %d: %v of %d bytes, want %v of %d", i, h.Type, h.Length, o.typ, len(o.data))
		}
		var got bytes.Buffer
		if _, _, err := sc.NextObject(&got); err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
		if !bytes.Equal(got.Bytes(), o.data) {
			t.Errorf("object %d: content differs", i)
		}
	}
	if _, err := sc.Checksum(); err != nil {
		t.Errorf("checksum: %v", err)
	}
}
