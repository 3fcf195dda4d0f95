//go:build unix

package artifacts

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/spinehq/spine/internal/fsx"
)

// TestAtomicFileModes checks the modes of files written atomically: a new
// file gets the mode asked for less the umask, as one created in place
// would (a hardened host's umask keeps a receipt's output from other
// users, a shared host's lets the group write); a replaced file keeps the
// mode it had (an operator's document made private stays private), unless
// written with WriteFileAtomicMode, as git checks a file out.
func TestAtomicFileModes(t *testing.T) {
	tests := []struct {
		name  string
		umask int
		// old is the mode of the file replaced, 0 for none.
		old   fs.FileMode
		perm  fs.FileMode
		fresh bool // WriteFileAtomicMode
		want  fs.FileMode
	}{
		{name: "new, usual umask", umask: 0o022, perm: fsx.FileMode, want: 0o644},
		{name: "new, hardened umask", umask: 0o027, perm: fsx.FileMode, want: 0o640},
		{name: "new, private umask", umask: 0o077, perm: fsx.FileMode, want: 0o600},
		{name: "new, shared umask", umask: 0o002, perm: fsx.FileMode, want: 0o664},
		{name: "new, private file", umask: 0o002, perm: 0o600, want: 0o600},
		{name: "replaced keeps a private mode", umask: 0o022, old: 0o600, perm: fsx.FileMode, want: 0o600},
		{name: "replaced keeps a shared mode", umask: 0o022, old: 0o664, perm: fsx.FileMode, want: 0o664},
		{name: "replaced keeps the executable bit", umask: 0o022, old: 0o755, perm: fsx.FileMode, want: 0o755},
		{name: "checked out: mode from git, not the old file", umask: 0o022, old: 0o600, perm: fsx.ExecMode, fresh: true, want: 0o755},
		{name: "checked out, hardened umask", umask: 0o027, old: 0o755, perm: fsx.FileMode, fresh: true, want: 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "doc.md")
			if tt.old != 0 {
				if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tt.old); err != nil {
					t.Fatal(err)
				}
			}
			write := WriteFileAtomic
			if tt.fresh {
				write = WriteFileAtomicMode
			}
			// Not parallel: the umask is the process's.
			old := syscall.Umask(tt.umask)
			err := write(p, []byte("new"), tt.perm)
			syscall.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.want {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.want)
			}
			if b, _ := os.ReadFile(p); string(b) != "new" {
				t.Errorf("content %q, want new", b)
			}
		})
	}
}
