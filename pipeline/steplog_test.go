package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spinehq/spine/artifacts"
)

// TestStepOutputBecomesOutputLog runs steps with and without output, with
// the state folder inside the repository (the log is linked into place)
// and on its own (possibly another file system: copied), and checks what
// an operator's git and spine verify see afterwards: every output.log is
// the step's output with the receipt's output_sha256, stands alone (the
// state folder's log is gone), is committed as it is, and the repository
// is clean and whole.
func TestStepOutputBecomesOutputLog(t *testing.T) {
	doc := loopDoc("LOOP-A", "## Stage 1: X\n\n"+
		"```sh {name=quiet}\ntrue\n```\n\n"+
		"```sh {name=both}\necho out; echo err >&2\n```\n\n"+
		"```sh {name=long}\nseq 1 5000\n```\n")
	for _, tc := range []struct {
		name  string
		state func(t *testing.T, root string) string
	}{
		{"state folder in .git", func(t *testing.T, root string) string { return filepath.Join(root, ".git", "spine") }},
		{"state folder on another file system", func(t *testing.T, root string) string {
			// /dev/shm is another mount than the test's temporary folder:
			// the link fails (EXDEV) and the log is copied.
			if _, err := os.Stat("/dev/shm"); err != nil {
				return filepath.Join(t.TempDir(), "state")
			}
			dir, err := os.MkdirTemp("/dev/shm", "spine-state-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("loop", map[string]string{"loops/a.md": doc})
			state := tc.state(t, r.root)
			out := r.run(nil, func(o *Options) { o.StateDir = state })
			if len(out.Receipts) != 3 {
				t.Fatalf("%d receipts, want 3", len(out.Receipts))
			}
			store := &artifacts.Store{Root: r.root}
			wantLines := map[string]int{"quiet": 0, "both": 2, "long": 5000}
			for _, rc := range out.Receipts {
				dir, err := store.RelDir(rc.RunKey)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(r.root, filepath.FromSlash(dir), artifacts.OutputFile)
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Count(string(data), "\n"); got != wantLines[rc.Step] {
					t.Errorf("%s: %d lines in output.log, want %d", rc.Step, got, wantLines[rc.Step])
				}
				if rc.OutputSHA256 != artifacts.HashBytes(data) {
					t.Errorf("%s: output_sha256 %s, output.log hashes to %s", rc.Step, rc.OutputSHA256, artifacts.HashBytes(data))
				}
				fi, err := os.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != 0o644 {
					t.Errorf("%s: output.log mode %v, want -rw-r--r--", rc.Step, fi.Mode())
				}
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink != 1 {
					t.Errorf("%s: output.log has %d links, want 1 (the state folder's log removed)", rc.Step, st.Nlink)
				}
				if committed := r.git("cat-file", "blob", "HEAD:"+dir+"/output.log"); committed != string(data) {
					t.Errorf("%s: committed output.log differs from the file", rc.Step)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(state, "runs", "*.log")); len(left) != 0 {
				t.Errorf("logs left in the state folder: %v", left)
			}
			rep, err := artifacts.Verify(r.root, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Errorf("verify: %+v", rep.Problems)
			}
			r.clean()
			if diff := cmp.Diff("", r.git("fsck", "--strict", "--no-dangling")); diff != "" {
				t.Errorf("git fsck (-want +got):\n%s", diff)
			}
			// The operator's own commit afterwards works.
			r.commit("after", map[string]string{"notes.md": "n\n"})
			r.clean()
		})
	}
}
