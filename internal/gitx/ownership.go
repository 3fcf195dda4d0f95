package gitx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/config"

	"github.com/spinehq/spine/internal/fsx"
)

// ErrDubiousOwnership is returned by CheckOwnership for a repository that
// somebody else owns and safe.directory does not list.
var ErrDubiousOwnership = errors.New("detected dubious ownership in repository")

// CheckOwnership refuses, as git does since 2.35.2 (CVE-2022-24765), a
// repository at dir (a working tree's root or a bare repository) that is
// not owned by the user running spine, unless the user's or the system's
// git configuration lists it in safe.directory ("*" for any; a path
// ending in "/*" for those under it; an empty value forgets the entries
// before it). spine runs the commands a repository's loop documents hold:
// one found by walking up from the working directory, in a folder other
// users can write to (/tmp/.git), must not be taken for the operator's.
// Run by root through sudo, the repository may be owned by the user who
// ran sudo ($SUDO_UID), as git allows. The error says what git says, and
// the command that trusts the repository.
func CheckOwnership(dir string) error {
	_, paths, err := gitDirOf(dir)
	if err != nil {
		return err
	}
	mine := true
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check the owner of %s: %w", p, err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !ownedByMe(int(st.Uid)) {
			mine = false
			break
		}
	}
	if mine || safeDirectory(dir) {
		return nil
	}
	return fmt.Errorf("%w at '%s' (it is not yours; git refuses it too): if you trust it, run\n\tgit config --global --add safe.directory %s", ErrDubiousOwnership, dir, dir)
}

// ownedByMe reports whether uid is the effective user's, or, for root
// run through sudo, the user's who ran it.
func ownedByMe(uid int) bool {
	if uid == os.Geteuid() {
		return true
	}
	su, ok := sudoUID()
	return ok && su == uid
}

// sudoUID returns the user who ran sudo ($SUDO_UID) when spine runs as
// root and that variable names another user.
func sudoUID() (int, bool) {
	if os.Geteuid() != 0 {
		return 0, false
	}
	uid, err := strconv.Atoi(os.Getenv("SUDO_UID"))
	return uid, err == nil && uid > 0
}

// safeDirectory reports whether the safe.directory entries of git's
// protected configuration trust dir: the system's and the user's files,
// then the environment's (commandLineConfig: GIT_CONFIG_COUNT pairs and
// `git -c`), never a repository's own, which could list itself.
func safeDirectory(dir string) bool {
	want := cleanReal(dir)
	safe := false
	apply := func(v string) {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
			safe = false
		case v == "*":
			safe = true
		default:
			if strings.HasPrefix(v, "~/") {
				if home, err := os.UserHomeDir(); err == nil {
					v = filepath.Join(home, v[2:])
				}
			}
			if prefix, ok := strings.CutSuffix(v, "/*"); ok {
				p := cleanReal(prefix)
				if want == p || strings.HasPrefix(want, p+string(filepath.Separator)) {
					safe = true
				}
			} else if cleanReal(v) == want {
				safe = true
			}
		}
	}
	for _, p := range userConfigPaths() {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(bytes.ToLower(b), []byte("directory")) {
			continue
		}
		c, err := config.ReadConfig(bytes.NewReader(b))
		if err != nil {
			continue
		}
		for _, v := range c.Raw.Section("safe").Options.GetAll("directory") {
			apply(v)
		}
	}
	for _, kv := range commandLineConfig() {
		if kv[0] == "safe.directory" {
			apply(kv[1])
		}
	}
	return safe
}

// cleanReal returns p cleaned, its symbolic links resolved where it exists.
func cleanReal(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// SudoOwner reports whether spine runs as root through sudo in the
// repository at dir of the user who ran sudo: the effective user is root,
// $SUDO_UID names another user, and that user owns dir (CheckOwnership
// let root in for that reason). It returns that user, the group of
// $SUDO_GID (else dir's), and the folders to give back to them when the
// command ends (fsx.GiveBack): dir, holding its .git, and the git folder
// and common folder of a linked worktree when they are elsewhere. What
// root made there would otherwise stop the user's next git or spine
// ("insufficient permission for adding an object to repository
// database", "permission denied" on the state folder's lock).
func SudoOwner(dir string) (uid, gid int, dirs []string, ok bool) {
	uid, ok = sudoUID()
	if !ok {
		return 0, 0, nil, false
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, 0, nil, false
	}
	st, isUnix := fi.Sys().(*syscall.Stat_t)
	if !isUnix || int(st.Uid) != uid {
		return 0, 0, nil, false
	}
	gid = int(st.Gid)
	if g, err := strconv.Atoi(os.Getenv("SUDO_GID")); err == nil && g > 0 {
		gid = g
	}
	dirs = []string{dir}
	if gitDir, _, err := gitDirOf(dir); err == nil {
		common, err := commonDirOf(gitDir)
		for _, d := range []string{gitDir, common} {
			if err == nil && !slices.ContainsFunc(dirs, func(in string) bool { return fsx.Within(in, d) }) {
				dirs = append(dirs, d)
			}
		}
	}
	return uid, gid, dirs, true
}

// RootLeftovers returns those of the paths a run writes to first in the
// repository at dir (its git folder, state folder and lock, index,
// objects and refs folders, HEAD's log) that belong to root, when spine
// does not run as root: what a run through sudo that was killed before it
// gave the repository back (SudoOwner) leaves, and what makes the user's
// run fail with "permission denied". A handful of stats, not a walk.
func RootLeftovers(dir string) []string {
	if os.Geteuid() == 0 {
		return nil
	}
	gitDir, _, err := gitDirOf(dir)
	if err != nil {
		return nil
	}
	common, err := commonDirOf(gitDir)
	if err != nil {
		common = gitDir
	}
	var out []string
	for _, p := range []string{
		gitDir,
		filepath.Join(gitDir, "index"),
		filepath.Join(gitDir, "spine"),
		filepath.Join(gitDir, "spine", "lock"),
		filepath.Join(gitDir, "spine", "journal.jsonl"),
		filepath.Join(common, "objects"),
		filepath.Join(common, "refs", "heads"),
		filepath.Join(gitDir, "logs", "HEAD"),
	} {
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) == nil && st.Uid == 0 {
			out = append(out, p)
		}
	}
	return out
}
