package gitx

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/config"
)

// SharedRepository is a repository's core.sharedRepository setting, read
// as git reads it (git_config_perm): whether what git makes in the
// repository is left to the umask of whoever runs it, or made writable by
// the group (or readable by everybody) whatever their umask, or given one
// mode. `git init --shared` sets it, and a repository several operators
// push to (each under their own account, with the usual umask 022) works
// only because of it: git makes every folder and file in it group-writable.
// spine, writing in the same repository, must do the same, or the next
// operator's git fails ("insufficient permission for adding an object to
// repository database") on a folder spine made 0755.
//
// SharedUmask (0) leaves modes to the umask; SharedGroup (0660) and
// SharedEverybody (0664) add those bits to what the umask leaves; a
// negative value -m gives files mode m exactly (`core.sharedRepository =
// 0640`), and folders the same with x where r is.
type SharedRepository int

// The settings git names.
const (
	SharedUmask     SharedRepository = 0
	SharedGroup     SharedRepository = 0o660
	SharedEverybody SharedRepository = 0o664
)

// ParseSharedRepository parses a core.sharedRepository value as git does:
// "umask", "group", "all" ("world", "everybody"), the old 0, 1 and 2, a
// boolean (true is group), or an octal file mode that lets the owner read
// and write ("0640"). An empty value (the key alone) is group.
func ParseSharedRepository(v string) (SharedRepository, error) {
	switch v {
	case "umask":
		return SharedUmask, nil
	case "group", "":
		return SharedGroup, nil
	case "all", "world", "everybody":
		return SharedEverybody, nil
	}
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		b, ok := parseGitBool(v)
		if !ok {
			return SharedUmask, fmt.Errorf("core.sharedRepository %q: not umask, group, all, a boolean or an octal mode", v)
		}
		if b {
			return SharedGroup, nil
		}
		return SharedUmask, nil
	}
	switch n {
	case 0:
		return SharedUmask, nil
	case 1:
		return SharedGroup, nil
	case 2:
		return SharedEverybody, nil
	}
	if n&0o600 != 0o600 {
		return SharedUmask, fmt.Errorf("core.sharedRepository %q: the owner of files must always have read and write permissions", v)
	}
	// Nobody else gets x from it: folders get x where r is (Umask).
	return -SharedRepository(n & 0o666), nil
}

// Umask returns the umask under which files and folders created with the
// usual modes (0666 and 0777, 0444 for git's objects) get the modes git
// gives them in a repository with this setting, for a process whose umask
// is mask. git creates under the umask and then widens (calc_shared_perm):
// group and everybody add their bits to what the owner has, x where the
// owner has x; a mode replaces the umask's outcome.
func (s SharedRepository) Umask(mask fs.FileMode) fs.FileMode {
	switch {
	case s == SharedUmask:
		return mask & 0o777
	case s > 0:
		allow := fs.FileMode(s) | fs.FileMode(s)&0o444>>2
		return mask & 0o777 &^ allow
	default:
		m := fs.FileMode(-s)
		return 0o777 &^ (m | m&0o444>>2)
	}
}

// ShellUmask returns the argument of sh's umask that has the effect of
// Umask on the shell's own umask (symbolic where the setting adds to it).
func (s SharedRepository) ShellUmask() string {
	switch {
	case s == SharedGroup:
		return "g+rwx"
	case s == SharedEverybody:
		return "g+rwx,o+rx"
	case s < 0:
		return fmt.Sprintf("%04o", s.Umask(0))
	}
	return ""
}

// String returns the setting as core.sharedRepository spells it.
func (s SharedRepository) String() string {
	switch {
	case s == SharedUmask:
		return "umask"
	case s == SharedGroup:
		return "group"
	case s == SharedEverybody:
		return "all"
	case s < 0:
		return fmt.Sprintf("%04o", -s)
	}
	return fmt.Sprintf("%04o", int(s))
}

// ReadSharedRepository returns the core.sharedRepository of the repository
// at dir: a working tree's root (its .git folder, or the folder a .git file
// names, and that folder's commondir) or a bare repository. Like git, it
// reads the repository's own configuration file only.
func ReadSharedRepository(dir string) (SharedRepository, error) {
	gitDir, _, err := gitDirOf(dir)
	if err != nil {
		return SharedUmask, err
	}
	if gitDir, err = commonDirOf(gitDir); err != nil {
		return SharedUmask, err
	}
	p := filepath.Join(gitDir, "config")
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return SharedUmask, nil
	}
	if err != nil {
		return SharedUmask, fmt.Errorf("read %s: %w", p, err)
	}
	// Most repositories do not set it: no need to parse their file.
	if !bytes.Contains(bytes.ToLower(data), []byte("sharedrepository")) {
		return SharedUmask, nil
	}
	c, err := config.ReadConfig(bytes.NewReader(data))
	if err != nil {
		return SharedUmask, fmt.Errorf("%s: %w", p, err)
	}
	opts := c.Raw.Section("core").Options
	if !opts.Has("sharedRepository") {
		return SharedUmask, nil
	}
	s, err := ParseSharedRepository(strings.TrimSpace(opts.Get("sharedRepository")))
	if err != nil {
		return SharedUmask, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// SetSharedRepository writes s as core.sharedRepository into the
// configuration of the repository at root (a clone spine made, which must
// follow the repository it was cloned from).
func SetSharedRepository(root string, s SharedRepository) error {
	return editConfig(root, func(c *config.Config) bool {
		if s == SharedUmask {
			c.Raw.Section("core").RemoveOption("sharedRepository")
		} else {
			c.Raw.Section("core").SetOption("sharedRepository", s.String())
		}
		return true
	})
}

// editConfig changes the own configuration of the repository at root with
// edit, and writes it when edit reports a change.
func editConfig(root string, edit func(c *config.Config) (changed bool)) error {
	g, err := Open(root)
	if err != nil {
		return err
	}
	c, err := g.R.Config()
	if err != nil {
		return fmt.Errorf("read git config: %w", err)
	}
	if !edit(c) {
		return nil
	}
	if err := g.R.SetConfig(c); err != nil {
		return fmt.Errorf("write git config: %w", err)
	}
	return nil
}
