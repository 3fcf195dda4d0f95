package gitx

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spinehq/spine/internal/fsx"
)

// gitModes gives what go-git made under root (a clone: its folders, the
// files it checked out, its packs) or, with packsOnly, the packs in
// gitDir's pack folder (after a fetch), the modes git would give them,
// as spine makes its own files (fsx.FileMode): a folder 0777, a file
// 0666 (0777 when executable) and a pack 0444, all less the umask.
// go-git makes every folder 0755, checks files out 0644 or 0755, and
// leaves a fetched pack 0600, whatever the umask. Under a shared host's
// umask (002) that would keep the group's other operators from writing
// in a clone spine made, or even reading the objects it fetched; under a
// hardened host's (027) other users could read its packs.
//
// Only go-git's modes are changed, never one an operator set: a folder
// or checked-out file whose mode is exactly go-git's, a pack file that is
// writable or 0444. Nothing is done where the umask cannot be read.
func gitModes(root, gitDir string, packsOnly bool) error {
	umask, ok := fsx.Umask()
	if !ok {
		return nil
	}
	packDir := filepath.Join(gitDir, "objects", "pack")
	fix := func(p string, d fs.DirEntry) error {
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode, want := fi.Mode(), fs.FileMode(0)
		switch perm := mode.Perm(); {
		case mode.IsDir() && perm == 0o755:
			want = fsx.DirMode &^ umask
		case !mode.IsRegular():
		case filepath.Dir(p) == packDir && strings.HasPrefix(d.Name(), "pack-"):
			if perm&0o222 != 0 || perm == 0o444 {
				want = 0o444 &^ umask
			}
		case strings.HasPrefix(p, gitDir+string(filepath.Separator)):
			// git's own files: go-git makes them 0666 less the umask.
		case perm == 0o644:
			want = fsx.FileMode &^ umask
		case perm == 0o755:
			want = fsx.ExecMode &^ umask
		}
		if want == 0 || want == mode.Perm() {
			return nil
		}
		// The set-group-ID bit a folder took from its parent (a shared
		// repository's, see SharedRepository) stays: what is made in it
		// belongs to the repository's group.
		return os.Chmod(p, want|mode&(fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky))
	}
	if packsOnly {
		des, err := os.ReadDir(packDir)
		if err != nil {
			return err
		}
		for _, d := range des {
			if err := fix(filepath.Join(packDir, d.Name()), d); err != nil {
				return err
			}
		}
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return fix(p, d)
	})
}
