package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spinehq/spine/internal/fsx"
)

// TestDocEditedBetweenStepsStopsTheLoop edits the loop document between
// two steps of a stage in ways that leave its size and modification time
// as they were: the run must still see the change (docChanged trusts an
// unchanged stat stamp only through the ctime, which no edit keeps) and
// not run the later step from the old text.
func TestDocEditedBetweenStepsStopsTheLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, path string, data []byte)
	}{
		{"in place, same size, mtime restored", func(t *testing.T, path string, data []byte) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}},
		{"renamed over, same size, mtime restored", func(t *testing.T, path string, data []byte) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			tmp := filepath.Join(filepath.Dir(path), ".edit")
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"appended", func(t *testing.T, path string, data []byte) {
			if err := os.WriteFile(path, append(data, "\nmore\n"...), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			doc := loopDoc("LOOP-D", fmt.Sprintf("## Stage 1: Steps\n\n```sh {name=a}\necho a >> %[1]s\n```\n\n```sh {name=b}\necho b >> %[1]s\n```\n\n```sh {name=c}\necho c >> %[1]s\n```\n", count))
			r.commit("loop", map[string]string{"loops/d.md": doc})
			path := filepath.Join(r.root, "loops", "d.md")
			// Let the document settle, so that the run trusts its stamp
			// from the first step on: the case under test.
			time.Sleep(docSettle + 50*time.Millisecond)
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st, ok := fsx.StampOf(fi); !ok || !st.Settled(time.Now(), docSettle) {
				t.Fatalf("the document's stamp is not settled (%v): the test would not exercise the stamp", ok)
			}
			edited := strings.Replace(doc, "echo c", "echo C", 1)
			// Between b and c: once b's result is recorded (its receipt
			// is written while the next step runs).
			results := 0
			out := r.run(nil, func(o *Options) {
				o.Fault = func(point string) {
					if point != FaultAfterResult {
						return
					}
					if results++; results == 2 {
						tc.edit(t, path, []byte(edited))
					}
				}
			})
			if got, _ := os.ReadFile(count); string(got) != "a\nb\n" {
				t.Errorf("steps run %q, want a and b only: c must not run from the old text", got)
			}
			var steps []string
			for _, rc := range out.Receipts {
				steps = append(steps, rc.Step)
			}
			if !cmp.Equal(steps, []string{"a", "b"}) {
				t.Errorf("receipts of %v, want [a b]", steps)
			}
			if got := r.read("loops/d.md"); !strings.Contains(got, "echo C") {
				t.Errorf("the operator's edit was lost:\n%s", got)
			}
			// The edit is not committed: the loop waits for an operator
			// (spine run exits 3).
			if len(out.Skipped) != 1 || out.Skipped[0].What != "LOOP-D" || !strings.Contains(out.Skipped[0].Why, "uncommitted changes made while spine ran") {
				t.Errorf("skipped %+v; want LOOP-D, for the edit made while it ran", out.Skipped)
			}
		})
	}
}
