package gitx

import (
	"testing"
)

// TestHeadEntry: HeadEntry, Dirty and HeadFile answer from HEAD's tree,
// for files at the root and in folders, for paths HEAD lacks, and again
// once HEAD moves (its folders are cached per HEAD commit).
func TestHeadEntry(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	files := map[string]string{"top.md": "top\n", "loops/a.md": "a\n", "loops/deep/b.md": "b\n"}
	for p, c := range files {
		write(t, dir, p, c)
	}
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "base")
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	check := func(rel, content string, want bool) {
		t.Helper()
		h, ok, err := g.HeadEntry(rel)
		if err != nil || ok != want {
			t.Fatalf("HeadEntry(%s) = %v, %v, want present %v", rel, ok, err, want)
		}
		if !want {
			if dirty, err := g.Dirty(rel, []byte(content)); err != nil || !dirty {
				t.Fatalf("Dirty(%s) of a file not in HEAD = %v, %v", rel, dirty, err)
			}
			return
		}
		if h != BlobHash([]byte(content)) {
			t.Fatalf("HeadEntry(%s) = %s, want the hash of %q", rel, h, content)
		}
		data, ok, err := g.HeadFile(rel)
		if err != nil || !ok || string(data) != content {
			t.Fatalf("HeadFile(%s) = %q, %v, %v", rel, data, ok, err)
		}
		if dirty, err := g.Dirty(rel, []byte(content)); err != nil || dirty {
			t.Fatalf("Dirty(%s) of HEAD's content = %v, %v", rel, dirty, err)
		}
		if dirty, err := g.Dirty(rel, []byte(content+"edit")); err != nil || !dirty {
			t.Fatalf("Dirty(%s) of an edit = %v, %v", rel, dirty, err)
		}
	}
	for p, c := range files {
		check(p, c, true)
	}
	check("missing.md", "", false)
	check("loops/missing.md", "", false)
	check("nofolder/x.md", "", false)
	check("top.md/x", "", false)

	// HEAD moves: a changed file, a new one in a folder read before.
	write(t, dir, "loops/a.md", "a2\n")
	write(t, dir, "loops/c.md", "c\n")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "next")
	check("loops/a.md", "a2\n", true)
	check("loops/c.md", "c\n", true)
	check("loops/deep/b.md", "b\n", true)
}
