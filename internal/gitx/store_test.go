package gitx

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestReadsAfterGitRepacks: a Repo that read from the packs goes on
// reading and committing after git gc repacked under it, whether the
// objects it wants were in a pack that is gone or loose files that git
// packed and deleted; an object that is nowhere is still not found, and
// lists the packs again only when they changed.
func TestReadsAfterGitRepacks(t *testing.T) {
	needGit(t)
	for _, tt := range []struct {
		name string
		// packMin: spine writes a commit of this many objects as a pack.
		packMin int
	}{
		{name: "spine's packs deleted", packMin: 2},
		{name: "loose objects packed and deleted", packMin: 1 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cliBase(t, dir)
			gitRun(t, dir, "gc", "-q") // the base in a pack, so go-git lists the packs
			g, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			g.packMinObjects = tt.packMin
			base, err := g.HeadCommit()
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for i := range 4 {
				p := fmt.Sprintf("new/%d.txt", i)
				write(t, dir, p, p+"\n")
				paths = append(paths, p)
			}
			h, _, err := g.CommitFiles(paths, "new", testSig())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.HeadCommit(); err != nil {
				t.Fatal(err)
			}

			gitRun(t, dir, "gc", "-q", "--prune=now")
			if got := gitRun(t, dir, "count-objects"); got != "0 objects, 0 kilobytes" {
				t.Fatalf("after git gc: %s", got)
			}

			c, err := g.HeadCommit()
			if err != nil {
				t.Fatalf("HeadCommit after git gc: %v", err)
			}
			if c.Hash != h {
				t.Fatalf("HEAD %s, want %s", c.Hash, h)
			}
			changes, err := g.Diff(base.Hash, h)
			if err != nil || len(changes) != len(paths) {
				t.Fatalf("Diff after git gc: %d changes, %v", len(changes), err)
			}
			if data, ok, err := g.FileAt(h, "new/2.txt"); err != nil || !ok || string(data) != "new/2.txt\n" {
				t.Fatalf("FileAt after git gc: %q %v %v", data, ok, err)
			}
			write(t, dir, "new/0.txt", "changed\n")
			if _, _, err := g.CommitFiles([]string{"new/0.txt"}, "after gc", testSig()); err != nil {
				t.Fatalf("commit after git gc: %v", err)
			}
			if ok, out := gitOK(t, dir, "fsck", "--no-dangling"); !ok {
				t.Errorf("git fsck:\n%s", out)
			}

			s := g.R.Storer.(*objectStore)
			before := s.relisted
			if before == 0 {
				t.Error("the packs were never listed again")
			}
			missing := plumbing.NewHash("0123456789012345678901234567890123456789")
			for range 3 {
				if _, err := g.R.CommitObject(missing); !errors.Is(err, plumbing.ErrObjectNotFound) {
					t.Fatalf("a missing object: %v", err)
				}
			}
			if s.relisted > before+1 {
				t.Errorf("three reads of a missing object listed the packs %d times", s.relisted-before)
			}
		})
	}
}
