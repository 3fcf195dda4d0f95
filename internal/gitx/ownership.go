package gitx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/config"
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
	euid := os.Geteuid()
	if uid == euid {
		return true
	}
	if euid == 0 {
		if s := os.Getenv("SUDO_UID"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n == uid {
				return true
			}
		}
	}
	return false
}

// safeDirectory reports whether the safe.directory entries of the system's
// and the user's git configuration (never a repository's own: it could
// list itself) trust dir.
func safeDirectory(dir string) bool {
	want := cleanReal(dir)
	safe := false
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
