//go:build unix

package fsx

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCreateTempHonoursTheUmask checks that a temporary file gets the mode
// asked for less the umask, as a file created in place would: what a
// hardened host's umask keeps from others stays kept, what a shared
// host's grants the group is granted.
func TestCreateTempHonoursTheUmask(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		umask int
		perm  fs.FileMode
		want  fs.FileMode
	}{
		{0o022, FileMode, 0o644},
		{0o027, FileMode, 0o640},
		{0o002, FileMode, 0o664},
		{0o077, FileMode, 0o600},
		{0o022, ExecMode, 0o755},
		{0o002, 0o600, 0o600},
	} {
		old := syscall.Umask(tt.umask)
		f, err := CreateTemp(dir, "t-", tt.perm)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		fi, err := os.Lstat(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tt.want {
			t.Errorf("umask %03o, perm %v: mode %v, want %v", tt.umask, tt.perm, fi.Mode().Perm(), tt.want)
		}
		// A folder made with DirMode is the same.
		old = syscall.Umask(tt.umask)
		d := filepath.Join(dir, "d"+filepath.Base(f.Name()))
		err = os.Mkdir(d, DirMode)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(d); err != nil || fi.Mode().Perm() != DirMode&^fs.FileMode(tt.umask) {
			t.Errorf("umask %03o: folder mode %v, %v; want %v", tt.umask, fi.Mode().Perm(), err, DirMode&^fs.FileMode(tt.umask))
		}
	}
}

// TestUmask checks that Umask reads the umask the process has, without
// changing it.
func TestUmask(t *testing.T) {
	for _, u := range []int{0o022, 0o027, 0o002, 0o077, 0} {
		old := syscall.Umask(u)
		got, ok := Umask()
		after := syscall.Umask(old)
		if !ok {
			t.Skip("the umask cannot be read here")
		}
		if got != fs.FileMode(u) || after != u {
			t.Errorf("umask %03o: Umask() = %03o, and the umask became %03o", u, got, after)
		}
	}
}
