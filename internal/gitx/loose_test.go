package gitx

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TestWriteObjectIsReadBackByGitAndGoGit writes loose objects of every
// kind and size CommitFiles writes and checks that git cat-file and a
// freshly opened go-git repository read back exactly the bytes, that git
// fsck finds nothing wrong and that no temporary file is left behind.
func TestWriteObjectIsReadBackByGitAndGoGit(t *testing.T) {
	needGit(t)
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 8000) // above looseCheckSize
	tests := []struct {
		name string
		typ  plumbing.ObjectType
		data []byte
	}{
		{"empty blob", plumbing.BlobObject, nil},
		{"small blob", plumbing.BlobObject, []byte("{\n  \"run_key\": \"x\"\n}\n")},
		{"binary blob", plumbing.BlobObject, []byte{0, 1, 2, 0xff, '\n', 0}},
		{"large blob", plumbing.BlobObject, big},
	}
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var blobs []plumbing.Hash
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := g.writeObject(tc.typ, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if want := plumbing.ComputeHash(tc.typ, tc.data); h != want {
				t.Fatalf("hash %s, want %s", h, want)
			}
			if got := gitRun(t, dir, "cat-file", "-t", h.String()); got != tc.typ.String() {
				t.Errorf("git cat-file -t: %q, want %q", got, tc.typ)
			}
			if got := catFile(t, dir, h.String()); !bytes.Equal(got, tc.data) {
				t.Errorf("git cat-file: %d bytes differ from the %d written", len(got), len(tc.data))
			}
			if got := goGitRead(t, dir, h); !bytes.Equal(got, tc.data) {
				t.Errorf("go-git: %d bytes differ from the %d written", len(got), len(tc.data))
			}
			fi, err := os.Stat(filepath.Join(dir, ".git", "objects", h.String()[:2], h.String()[2:]))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o444 {
				t.Errorf("object mode %v, want -r--r--r-- (git's)", fi.Mode())
			}
			blobs = append(blobs, h)
		})
	}
	// A tree and a commit over the blobs, encoded by go-git as CommitFiles
	// does, then a commit git must accept as HEAD.
	var tree bytes.Buffer
	for i, h := range blobs {
		tree.WriteString("100644 f" + string(rune('a'+i)) + "\x00")
		tree.Write(h[:])
	}
	th, err := g.writeObject(plumbing.TreeObject, tree.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	commit := "tree " + th.String() + "\nauthor A <a@x> 1767225600 +0000\ncommitter A <a@x> 1767225600 +0000\n\nmsg\n"
	ch, err := g.writeObject(plumbing.CommitObject, []byte(commit))
	if err != nil {
		t.Fatal(err)
	}
	gitRun(t, dir, "update-ref", "refs/heads/main", ch.String())
	if out := gitRun(t, dir, "ls-tree", "--name-only", "HEAD"); out != "fa\nfb\nfc\nfd" {
		t.Errorf("git ls-tree HEAD: %q", out)
	}
	if ok, out := gitOK(t, dir, "fsck", "--strict", "--no-dangling"); !ok || out != "" {
		t.Errorf("git fsck: ok=%v\n%s", ok, out)
	}
	if left := tempObjects(t, filepath.Join(dir, ".git", "objects")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestWriteObjectNeverReplacesAnObject checks that writing an object that
// exists (small or large, written by git or by spine) leaves the file in
// place, untouched but for its freshened time.
func TestWriteObjectNeverReplacesAnObject(t *testing.T) {
	needGit(t)
	for _, size := range []int{10, looseCheckSize + 1} {
		dir := t.TempDir()
		gitRun(t, dir, "init", "-q", "-b", "main")
		data := bytes.Repeat([]byte("x"), size)
		write(t, dir, "f", string(data))
		hex := gitRun(t, dir, "hash-object", "-w", "f")
		p := filepath.Join(dir, ".git", "objects", hex[:2], hex[2:])
		before, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-48 * time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		fiBefore, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		g, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		h, err := g.writeObject(plumbing.BlobObject, data)
		if err != nil {
			t.Fatal(err)
		}
		if h.String() != hex {
			t.Fatalf("size %d: hash %s, git's %s", size, h, hex)
		}
		after, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fiAfter, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) || !os.SameFile(fiBefore, fiAfter) {
			t.Errorf("size %d: the existing object file was replaced", size)
		}
		if !fiAfter.ModTime().After(old.Add(time.Hour)) {
			t.Errorf("size %d: the existing object was not freshened (mtime %v)", size, fiAfter.ModTime())
		}
		if left := tempObjects(t, filepath.Join(dir, ".git", "objects")); len(left) != 0 {
			t.Errorf("size %d: temporary files left: %v", size, left)
		}
	}
}

// TestCommitFilesInALinkedWorktree checks that the objects of a commit made
// in a linked worktree go to the common object folder, where git finds
// them.
func TestCommitFilesInALinkedWorktree(t *testing.T) {
	needGit(t)
	main := t.TempDir()
	cliBase(t, main)
	wt := filepath.Join(t.TempDir(), "wt")
	gitRun(t, main, "worktree", "add", "-q", "-b", "side", wt)
	write(t, wt, "new/file.json", "{}\n")
	g, err := Open(wt)
	if err != nil {
		t.Fatal(err)
	}
	h, made, err := g.CommitFiles([]string{"new/file.json"}, "add\n", object.Signature{Name: "Operator", Email: "op@example.com", When: time.Unix(1767225600, 0)})
	if err != nil || !made {
		t.Fatalf("CommitFiles: made=%v err=%v", made, err)
	}
	if got := gitRun(t, main, "rev-parse", "side"); got != h.String() {
		t.Errorf("branch side at %s, want %s", got, h)
	}
	if got := gitRun(t, main, "show", "side:new/file.json"); got != "{}" {
		t.Errorf("git show: %q", got)
	}
	if _, err := os.Stat(filepath.Join(main, ".git", "worktrees", "wt", "objects")); !os.IsNotExist(err) {
		t.Errorf("objects written under the worktree's private folder: %v", err)
	}
	if ok, out := gitOK(t, main, "fsck", "--strict"); !ok {
		t.Errorf("git fsck:\n%s", out)
	}
	if out := gitRun(t, wt, "status", "--porcelain"); out != "" {
		t.Errorf("git status in the worktree:\n%s", out)
	}
}

// catFile returns the content of blob hex as git reads it.
func catFile(t *testing.T, dir, hex string) []byte {
	t.Helper()
	cmd := exec.Command("git", "cat-file", "blob", hex)
	cmd.Dir, cmd.Env = dir, cliEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git cat-file blob %s: %v", hex, err)
	}
	return out
}

// goGitRead reads an object's content through a newly opened go-git
// repository (no cache shared with the writer).
func goGitRead(t *testing.T, dir string, h plumbing.Hash) []byte {
	t.Helper()
	r, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := r.Storer.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := obj.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// tempObjects lists files under objects that are not objects or packs.
func tempObjects(t *testing.T, objects string) []string {
	t.Helper()
	var left []string
	err := filepath.WalkDir(objects, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), "tmp") {
			left = append(left, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// TestWriteObjectRewritesARemovedObject checks that an object the writer
// wrote before, then removed behind its back (a prune), is written again.
func TestWriteObjectRewritesARemovedObject(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("receipt\n")
	h, err := g.writeObject(plumbing.BlobObject, data)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ".git", "objects", h.String()[:2], h.String()[2:])
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := g.writeObject(plumbing.BlobObject, data); err != nil {
		t.Fatal(err)
	}
	if got := catFile(t, dir, h.String()); !bytes.Equal(got, data) {
		t.Errorf("git cat-file: %q, want %q", got, data)
	}
}
