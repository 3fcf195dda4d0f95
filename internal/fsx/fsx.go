// Package fsx holds file-system calls spine needs that the os package
// does not offer.
package fsx

import (
	"errors"
	"io/fs"
)

// ErrUnsupported is returned by RenameNoReplace where the system or the
// file system cannot rename without replacing: the caller falls back to
// another way (a hard link, which fails when the target exists).
var ErrUnsupported = errors.New("rename without replacing is not supported here")

// The modes spine creates files and folders with, as git creates a working
// tree's: the process's umask takes away what it denies (0644 and 0755
// under the usual 022, 0640 and 0750 under a hardened host's 027, 0664
// and 0775 under a shared host's 002). spine never sets a mode over the
// umask, so what the operator's umask keeps private stays private (a
// receipt's output, an artifact), and what it shares with a group (a
// clone several operators' pushes run in) is writable by the group.
const (
	// FileMode is the mode of a new file.
	FileMode fs.FileMode = 0o666
	// ExecMode is the mode of a new executable file (a script git
	// records as 100755).
	ExecMode fs.FileMode = 0o777
	// DirMode is the mode of a new folder.
	DirMode fs.FileMode = 0o777
)
