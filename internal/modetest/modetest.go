// Package modetest tells tests the file modes spine's files get under the
// process's umask, which the tests do not choose (a CI runner's may be 022
// or 002).
package modetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Umask returns the process's umask, read from the mode of a probe file
// rather than by setting it (syscall.Umask changes it for every test
// running in parallel, if only for a moment). It is 0 where files have no
// Unix modes.
func Umask(t testing.TB) fs.FileMode {
	t.Helper()
	p := filepath.Join(t.TempDir(), "umask-probe")
	if err := os.WriteFile(p, nil, 0o777); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return 0o777 &^ fi.Mode().Perm()
}
