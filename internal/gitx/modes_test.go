//go:build linux

package gitx

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCloneAndFetchFollowTheUmask checks that a clone spine makes, and a
// pack it fetches, have the modes git would give them under the umask:
// folders 0777 and packs 0444 less the umask, where go-git alone makes
// them 0755 and 0444 whatever the umask. Under a shared host's umask
// (002) the group can then write in the clone's folders; under a hardened
// host's (027) other users cannot read its objects.
func TestCloneAndFetchFollowTheUmask(t *testing.T) {
	needGit(t)
	for _, u := range []int{0o002, 0o027, 0o022} {
		t.Run(fmt.Sprintf("umask-%03o", u), func(t *testing.T) {
			bare, seed, _ := remoteSetup(t)
			write(t, seed, "loops/deep/LOOP-1.md", "# one\n")
			cli(t, seed, "add", "-A")
			cli(t, seed, "commit", "-q", "-m", "a loop")
			cli(t, seed, "push", "-q", bare, "main")
			dir := filepath.Join(t.TempDir(), "clone")
			// Not parallel: the umask is the process's.
			old := syscall.Umask(u)
			g, err := Clone(context.Background(), bare, dir, "main")
			syscall.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			umask := fs.FileMode(u)
			check := func(what string, only func(rel string) bool) {
				t.Helper()
				n := 0
				err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					rel, _ := filepath.Rel(dir, p)
					rel = filepath.ToSlash(rel)
					if !only(rel) {
						return nil
					}
					fi, err := d.Info()
					if err != nil {
						return err
					}
					want := 0o666 &^ umask
					switch {
					case fi.IsDir():
						want = fs.ModeDir | 0o777&^umask
					case strings.HasPrefix(rel, ".git/objects/pack/"):
						want = 0o444 &^ umask
					}
					n++
					if fi.Mode() != want {
						t.Errorf("%s: %s: mode %v, want %v", what, rel, fi.Mode(), want)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					t.Fatalf("%s: nothing checked", what)
				}
			}
			check("clone", func(string) bool { return true })

			write(t, seed, "loops/LOOP-2.md", "# two\n")
			cli(t, seed, "add", "-A")
			cli(t, seed, "commit", "-q", "-m", "another loop")
			cli(t, seed, "push", "-q", bare, "main")
			packs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "pack-*"))
			before := map[string]bool{}
			for _, p := range packs {
				before[p] = true
			}
			old = syscall.Umask(u)
			tip, err := g.Fetch(context.Background(), "origin", "main")
			syscall.Umask(old)
			if err != nil || tip.IsZero() {
				t.Fatalf("fetch: %v %v", tip, err)
			}
			fetched := 0
			check("fetch", func(rel string) bool {
				ok := strings.HasPrefix(rel, ".git/objects/pack/pack-") && !before[filepath.Join(dir, filepath.FromSlash(rel))]
				if ok {
					fetched++
				}
				return ok
			})
			if fetched == 0 {
				t.Fatal("the fetch made no pack")
			}
		})
	}
}
