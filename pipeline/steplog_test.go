package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/modetest"
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
				if want := fsx.FileMode &^ modetest.Umask(t); fi.Mode() != want {
					t.Errorf("%s: output.log mode %v, want %v", rc.Step, fi.Mode(), want)
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

// TestSpareLogIsAlwaysANewFile checks makeSpareLog against what a crashed
// run may have left under the spare's name: the spare it makes is always
// a new, empty file of its own (a leftover file is replaced, a leftover
// symlink removed without its target being touched), and the step's log
// opened from it is that file.
func TestSpareLogIsAlwaysANewFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		// leave puts something at the spare's path p; outside is a file
		// outside the runs folder that must keep its content.
		leave func(t *testing.T, p, outside string)
	}{
		{"nothing", func(t *testing.T, p, outside string) {}},
		{"a leftover spare with data", func(t *testing.T, p, outside string) {
			if err := os.WriteFile(p, []byte("old output\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"a symlink to another file", func(t *testing.T, p, outside string) {
			if err := os.Symlink(outside, p); err != nil {
				t.Fatal(err)
			}
		}},
		{"a dangling symlink", func(t *testing.T, p, outside string) {
			if err := os.Symlink(outside+".missing", p); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if err := os.MkdirAll(filepath.Join(state, "runs"), 0o755); err != nil {
				t.Fatal(err)
			}
			outside := filepath.Join(t.TempDir(), "precious")
			if err := os.WriteFile(outside, []byte("keep me\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := &Runner{opts: Options{StateDir: state}}
			p := r.spareLogPath()
			tc.leave(t, p, outside)
			r.makeSpareLog()
			if !r.spareLog {
				t.Fatal("no spare log made")
			}
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.Mode().IsRegular() || fi.Size() != 0 {
				t.Errorf("spare is %v of %d bytes, want an empty regular file", fi.Mode(), fi.Size())
			}
			logPath := r.logPath("CAP-20260101-000000__x__Rabcdefghij")
			f, err := r.openLog(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString("new\n"); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Errorf("spare still there after openLog: %v", err)
			}
			got, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("new\n", string(got)); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
			kept, err := os.ReadFile(outside)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("keep me\n", string(kept)); diff != "" {
				t.Errorf("file outside the runs folder (-want +got):\n%s", diff)
			}
		})
	}
}
