package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spineUmask runs the binary as spine does, under the umask u.
func spineUmask(t *testing.T, dir string, u string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `umask ` + u + ` && exec "$0" "$@"`, spineBin()}, args...)...)
	cmd.Dir = dir
	cmd.Env = gitEnv("Operator", "op@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spine %v under umask %s: %v\n%s", args, u, err, out)
	}
	return string(out)
}

// pathsUnder returns every path under root (root itself excluded) with its
// mode.
func pathsUnder(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	m := map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFilesFollowTheUmask runs a loop, pushes and builds the site under a
// hardened host's umask (027) and a shared host's (002), and checks the
// mode of every file and folder spine made: what git would give it, the
// process's umask applied (0666 for a file, 0777 for a folder, 0444 for a
// git object), never a mode of spine's own choosing over it. A receipt's
// output and an artifact stay from other users where the umask says so;
// a clone several operators' pushes run in stays writable by their group.
// The loop document spine rewrites keeps the mode it had. The host's
// ledger of destructive runs follows the umask too: every operator of the
// group who runs spine in the clone reads it and appends to it.
func TestFilesFollowTheUmask(t *testing.T) {
	for _, u := range []fs.FileMode{0o027, 0o002} {
		t.Run(fmt.Sprintf("umask-%03o", uint32(u)), func(t *testing.T) {
			bare := newBare(t, map[string]string{
				"loops/LOOP-MODES.md": loopDoc("LOOP-MODES", "### Stage 1: Baseline\n\n"+
					step("name=look destructive=true", "echo looked")+"\n"+
					step("name=report artifact=report.txt", "echo 'disk report'")+"\n"),
			})
			clone := cloneOf(t, bare)
			doc := filepath.Join(clone, "loops", "LOOP-MODES.md")
			if err := os.Chmod(doc, 0o640); err != nil {
				t.Fatal(err)
			}
			before := pathsUnder(t, clone)
			us := fmt.Sprintf("%03o", uint32(u))
			spineUmask(t, clone, us, "run", "--push")
			site := filepath.Join(t.TempDir(), "public")
			spineUmask(t, clone, us, "site", "build", "--out", site)

			check := func(root string, old map[string]fs.FileMode) {
				t.Helper()
				n := 0
				for rel, mode := range pathsUnder(t, root) {
					if _, ok := old[rel]; ok {
						continue
					}
					n++
					want := 0o666 &^ u
					switch {
					case mode.IsDir():
						want = fs.ModeDir | 0o777&^u
					case mode&fs.ModeType != 0:
						t.Errorf("%s: %v, not a file or folder", rel, mode)
						continue
					case strings.HasPrefix(rel, ".git/objects/"):
						want = 0o444 &^ u
					}
					if mode != want {
						t.Errorf("%s: mode %v, want %v", rel, mode, want)
					}
				}
				if n == 0 {
					t.Errorf("%s: spine made nothing", root)
				}
			}
			check(clone, before)
			check(site, nil)
			// The index spine's commits replaced is made as git makes it,
			// not carried over from the clone's.
			if fi, err := os.Lstat(filepath.Join(clone, ".git", "index")); err != nil || fi.Mode() != 0o666&^u {
				t.Errorf(".git/index: mode %v (%v), want %v", fi.Mode(), err, 0o666&^u)
			}
			if fi, err := os.Lstat(doc); err != nil || fi.Mode() != 0o640 {
				t.Errorf("the loop document spine rewrote: mode %v (%v), want the -rw-r----- it had", fi.Mode(), err)
			}
			if arts, _ := filepath.Glob(filepath.Join(clone, "artifacts", "*", "report.txt")); len(arts) != 1 || !strings.Contains(readFile(t, arts[0]), "disk report") {
				t.Errorf("the artifact was not written: %v", arts)
			}
		})
	}
}
