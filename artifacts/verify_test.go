package artifacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixture is a repository with two chained loops:
// A: a1 a2 a3 a4 (a2 with an artifact, a4 on the next day), B: b1 b2 (b1
// without output).
type fixture struct {
	root  string
	st    *Store
	keys  map[string]string
	dirs  map[string]string // repo-relative run folders
	tips  map[string]string
	count int
}

var fixtureBase = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{root: root, st: &Store{Root: root}, keys: map[string]string{}, dirs: map[string]string{}, tips: map[string]string{}}
	mkTree(t, root, "artifacts/loop-a/")
	if err := os.WriteFile(filepath.Join(root, "artifacts/loop-a/10-list.txt"), []byte("tank 10T\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := "2026-03-01T10:00:00.000Z [out] ok\n"
	f.add(t, "a1", "A", 0, &out, nil)
	f.add(t, "b1", "B", 500*time.Millisecond, nil, nil)
	f.add(t, "a2", "A", time.Second, &out, func(r *Receipt) {
		r.Artifacts = []ArtifactRef{{Path: "artifacts/loop-a/10-list.txt", SHA256: HashBytes([]byte("tank 10T\n")), Size: 9}}
	})
	f.add(t, "b2", "B", 1500*time.Millisecond, &out, nil)
	f.add(t, "a3", "A", 2*time.Second, &out, nil)
	f.add(t, "a4", "A", 14*time.Hour, &out, nil)
	return f
}

// add writes receipt name of loop, chained to the loop's tip.
func (f *fixture) add(t *testing.T, name, loop string, offset time.Duration, output *string, mod func(*Receipt)) {
	t.Helper()
	start := fixtureBase.Add(offset)
	f.count++
	key := testKey(start, name, f.count)
	r := sampleReceipt(key, loop, start)
	r.Prev = f.tips[loop]
	if mod != nil {
		mod(r)
	}
	var res *WriteResult
	var err error
	if output != nil {
		res, err = f.st.Write(r, strings.NewReader(*output))
	} else {
		res, err = f.st.Write(r, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	f.keys[name], f.dirs[name], f.tips[loop] = key, res.Dir, res.Hash
}

// path returns the file-system path of a repo-relative path.
func (f *fixture) path(rel string) string { return filepath.Join(f.root, filepath.FromSlash(rel)) }

// rewrite replaces a receipt.json with the result of mod.
func (f *fixture) rewrite(t *testing.T, name string, mod func(r *Receipt)) {
	t.Helper()
	p := f.path(f.dirs[name] + "/receipt.json")
	r, err := ReadReceipt(p)
	if err != nil {
		t.Fatal(err)
	}
	mod(r)
	data, err := MarshalReceipt(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantProblem is an expected Verify finding: the run (by fixture name,
// or "=KEY"), the path (relative to the run folder, or repo-relative when
// it contains a '/'), and text the message must contain.
type wantProblem struct {
	run, path, text string
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, f *fixture)
		want   []wantProblem
	}{
		{name: "clean"},
		{
			name: "output.log edited",
			mutate: func(t *testing.T, f *fixture) {
				os.WriteFile(f.path(f.dirs["a2"]+"/output.log"), []byte("forged\n"), 0o644)
			},
			want: []wantProblem{{"a2", "output.log", "output.log hashes to"}},
		},
		{
			name:   "output.log missing",
			mutate: func(t *testing.T, f *fixture) { os.Remove(f.path(f.dirs["a3"] + "/output.log")) },
			want:   []wantProblem{{"a3", "output.log", "output.log is missing"}},
		},
		{
			name: "output.log without output_sha256",
			mutate: func(t *testing.T, f *fixture) {
				os.WriteFile(f.path(f.dirs["b1"]+"/output.log"), []byte("x\n"), 0o644)
			},
			want: []wantProblem{{"b1", "output.log", "output_sha256 is empty"}},
		},
		{
			name: "output.log replaced by a symlink",
			mutate: func(t *testing.T, f *fixture) {
				p := f.path(f.dirs["a2"] + "/output.log")
				os.Rename(p, p+".orig")
				if err := os.Symlink("output.log.orig", p); err != nil {
					t.Skip(err)
				}
			},
			want: []wantProblem{{"a2", "output.log", "symbolic link not followed"}},
		},
		{
			name: "artifact size differs",
			mutate: func(t *testing.T, f *fixture) {
				f.rewrite(t, "a4", func(r *Receipt) {
					r.Artifacts = []ArtifactRef{{Path: "artifacts/loop-a/10-list.txt", SHA256: HashBytes([]byte("tank 10T\n")), Size: 10}}
				})
			},
			want: []wantProblem{{"a4", "artifacts/loop-a/10-list.txt", "artifact is 9 bytes, the receipt says 10"}},
		},
		{
			name: "artifact edited",
			mutate: func(t *testing.T, f *fixture) {
				os.WriteFile(f.path("artifacts/loop-a/10-list.txt"), []byte("tank 11T\n"), 0o644)
			},
			want: []wantProblem{{"a2", "artifacts/loop-a/10-list.txt", "artifact hashes to"}},
		},
		{
			// A step retried (or another naming the same artifact):
			// the file is the later run's, the earlier receipt's hash is
			// of what git's history keeps.
			name: "artifact rewritten by a later run",
			mutate: func(t *testing.T, f *fixture) {
				os.WriteFile(f.path("artifacts/loop-a/10-list.txt"), []byte("tank 12T\n"), 0o644)
				f.add(t, "a5", "A", 15*time.Hour, nil, func(r *Receipt) {
					r.Artifacts = []ArtifactRef{{Path: "artifacts/loop-a/10-list.txt", SHA256: HashBytes([]byte("tank 12T\n")), Size: 9}}
				})
			},
		},
		{
			name: "artifact rewritten by a later run, then edited",
			mutate: func(t *testing.T, f *fixture) {
				f.add(t, "a5", "A", 15*time.Hour, nil, func(r *Receipt) {
					r.Artifacts = []ArtifactRef{{Path: "artifacts/loop-a/10-list.txt", SHA256: HashBytes([]byte("tank 12T\n")), Size: 9}}
				})
				os.WriteFile(f.path("artifacts/loop-a/10-list.txt"), []byte("tank 13T\n"), 0o644)
			},
			want: []wantProblem{{"a5", "artifacts/loop-a/10-list.txt", "artifact hashes to"}},
		},
		{
			// A receipt made up for another loop, naming the path with
			// the changed file's hash, does not take it over.
			name: "artifact edited, a receipt of another loop claims it",
			mutate: func(t *testing.T, f *fixture) {
				os.WriteFile(f.path("artifacts/loop-a/10-list.txt"), []byte("tank 12T\n"), 0o644)
				f.add(t, "z1", "FAKE", 15*time.Hour, nil, func(r *Receipt) {
					r.Artifacts = []ArtifactRef{{Path: "artifacts/loop-a/10-list.txt", SHA256: HashBytes([]byte("tank 12T\n")), Size: 9}}
				})
			},
			want: []wantProblem{{"a2", "artifacts/loop-a/10-list.txt", "artifact hashes to"}},
		},
		{
			name:   "artifact missing",
			mutate: func(t *testing.T, f *fixture) { os.Remove(f.path("artifacts/loop-a/10-list.txt")) },
			want:   []wantProblem{{"a2", "artifacts/loop-a/10-list.txt", "artifact is missing"}},
		},
		{
			name: "artifact replaced by a symlink",
			mutate: func(t *testing.T, f *fixture) {
				p := f.path("artifacts/loop-a/10-list.txt")
				os.Rename(p, p+".orig")
				if err := os.Symlink(p+".orig", p); err != nil {
					t.Skip(err)
				}
			},
			want: []wantProblem{{"a2", "artifacts/loop-a/10-list.txt", "symbolic link"}},
		},
		{
			name: "artifact path escaping the repo",
			mutate: func(t *testing.T, f *fixture) {
				f.add(t, "a5", "A", 15*time.Hour, nil, func(r *Receipt) {
					r.Artifacts = []ArtifactRef{{Path: "../../etc/passwd", SHA256: "00", Size: 1}}
				})
			},
			want: []wantProblem{{"a5", "../../etc/passwd", "unsafe path"}},
		},
		{
			name:   "receipt edited in the middle of the chain",
			mutate: func(t *testing.T, f *fixture) { f.rewrite(t, "a2", func(r *Receipt) { r.Status = StatusFail }) },
			want:   []wantProblem{{"a3", "receipt.json", "the receipt before it, =a2"}},
		},
		{
			name:   "receipt removed from the middle of the chain",
			mutate: func(t *testing.T, f *fixture) { os.RemoveAll(f.path(f.dirs["a2"])) },
			want:   []wantProblem{{"a3", "receipt.json", "the receipt before it, =a1"}},
		},
		{
			name:   "receipt.json removed, folder kept",
			mutate: func(t *testing.T, f *fixture) { os.Remove(f.path(f.dirs["a2"] + "/receipt.json")) },
			want: []wantProblem{
				{"a2", "receipt.json", "no receipt.json"},
				{"a3", "receipt.json", "matches no receipt"},
			},
		},
		{
			name:   "first receipt removed",
			mutate: func(t *testing.T, f *fixture) { os.RemoveAll(f.path(f.dirs["a1"])) },
			want:   []wantProblem{{"a2", "receipt.json", "the receipt before it in loop A was removed or edited"}},
		},
		{
			name: "folder moved to another date",
			mutate: func(t *testing.T, f *fixture) {
				os.MkdirAll(f.path("receipts/2026/03/05"), 0o755)
				newDir := "receipts/2026/03/05/" + f.keys["a3"]
				os.Rename(f.path(f.dirs["a3"]), f.path(newDir))
				f.dirs["a3"] = newDir
			},
			want: []wantProblem{{"a3", "receipt.json", "folder is under receipts/2026/03/05, but the run key is dated 2026/03/01"}},
		},
		{
			name: "folder renamed",
			mutate: func(t *testing.T, f *fixture) {
				k := testKey(fixtureBase.Add(2*time.Second), "renamed", 99)
				newDir := "receipts/2026/03/01/" + k
				os.Rename(f.path(f.dirs["a3"]), f.path(newDir))
				f.keys["a3"], f.dirs["a3"] = k, newDir
			},
			want: []wantProblem{{"a3", "receipt.json", "does not match its folder name"}},
		},
		{
			name: "command edited",
			mutate: func(t *testing.T, f *fixture) {
				f.rewrite(t, "a3", func(r *Receipt) { r.Command = "rm -rf /tank" })
			},
			want: []wantProblem{
				{"a3", "receipt.json", "command_sha256"},
				{"a4", "receipt.json", "matches no receipt"},
			},
		},
		{
			name: "pack check commands recorded with their hashes",
			mutate: func(t *testing.T, f *fixture) {
				f.rewrite(t, "a4", func(r *Receipt) {
					r.Checks = []CheckResult{
						{ID: "D114", Status: StatusPass, Command: "zpool status -x", CommandSHA256: CommandSHA256("zpool status -x")},
						{ID: "OLD", Status: StatusPass}, // a receipt of an earlier version records none
					}
				})
			},
		},
		{
			name: "pack check command edited",
			mutate: func(t *testing.T, f *fixture) {
				f.rewrite(t, "a4", func(r *Receipt) {
					r.Checks = []CheckResult{{ID: "D114", Status: StatusPass, Command: "true", CommandSHA256: CommandSHA256("zpool status -x")}}
				})
			},
			want: []wantProblem{{"a4", "receipt.json", "check D114: command_sha256"}},
		},
		{
			name: "corrupt receipt",
			mutate: func(t *testing.T, f *fixture) {
				os.WriteFile(f.path(f.dirs["a3"]+"/receipt.json"), []byte(`{"run_key": `), 0o644)
			},
			want: []wantProblem{
				{"a3", "receipt.json", "unreadable receipt"},
				{"a4", "receipt.json", "matches no receipt"},
			},
		},
		{
			name:   "unknown status on the last receipt",
			mutate: func(t *testing.T, f *fixture) { f.rewrite(t, "a4", func(r *Receipt) { r.Status = "done" }) },
			want:   []wantProblem{{"a4", "receipt.json", `unknown status "done"`}},
		},
		{
			name: "chain forks",
			mutate: func(t *testing.T, f *fixture) {
				f.tips["A"] = f.tips["B"] // a stale tip from another loop ...
				f.add(t, "x", "A", 15*time.Hour, nil, nil)
				f.tips["A"] = ChainTips(mustList(t, f.st))["A"]
				f.add(t, "y", "A", 16*time.Hour, nil, nil)
				f.tips["A"] = ChainTips(mustList(t, f.st))["A"]
				f.add(t, "z", "A", 17*time.Hour, nil, func(r *Receipt) {
					r.Prev = HashBytes(mustRead(t, f.path(f.dirs["x"]+"/receipt.json")))
				})
			},
			want: []wantProblem{
				{"x", "receipt.json", "of another loop, B"},
				{"z", "receipt.json", "is also the prev of =y: the chain of loop A forks"},
			},
		},
		{
			name: "second chain start",
			mutate: func(t *testing.T, f *fixture) {
				f.tips["B"] = ""
				f.add(t, "b3", "B", 15*time.Hour, nil, nil)
			},
			want: []wantProblem{{"b3", "receipt.json", "a second chain start"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.mutate != nil {
				tt.mutate(t, f)
			}
			rep, err := Verify(f.root, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with problems %v", rep.OK(), rep.Problems)
			}
			type loc struct{ RunKey, Path string }
			var want, got []loc
			for _, w := range tt.want {
				p := w.path
				if !strings.Contains(p, "/") {
					p = f.dirs[w.run] + "/" + p
				}
				want = append(want, loc{f.keys[w.run], p})
			}
			for _, p := range rep.Problems {
				got = append(got, loc{p.RunKey, p.Path})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("problems mismatch (-want +got):\n%s\nall: %v", diff, rep.Problems)
			}
			for i, w := range tt.want {
				text := w.text
				for name, key := range f.keys {
					text = strings.ReplaceAll(text, "="+name, key)
				}
				if !strings.Contains(rep.Problems[i].Problem, text) {
					t.Errorf("problem %q does not contain %q", rep.Problems[i].Problem, text)
				}
			}
		})
	}
}

func TestVerifyReceiptCount(t *testing.T) {
	f := newFixture(t)
	rep, err := Verify(f.root, &Store{Dir: "receipts"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Receipts != 6 || !rep.OK() || rep.Problems == nil {
		t.Errorf("Verify = %+v; want 6 receipts, no problems, non-nil list", rep)
	}
	p := Problem{RunKey: "K", Path: "receipts/x/receipt.json", Problem: "edited"}
	if p.String() != "receipts/x/receipt.json: K: edited" {
		t.Errorf("Problem.String() = %q", p.String())
	}
	if _, err := Verify(f.root, &Store{Root: f.root, Dir: "/abs"}); err == nil {
		t.Error("Verify with an absolute receipts dir: want error")
	}
}

func mustList(t *testing.T, st *Store) []Entry {
	t.Helper()
	es, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
