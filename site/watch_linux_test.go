//go:build linux

package site

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spinehq/spine/config"
)

// waitChanges waits until w reports changes and returns them (a signal
// left from earlier events that were already taken is skipped).
func waitChanges(t *testing.T, w *watcher) changeSet {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-w.ready:
		case <-deadline:
			t.Fatal("no event")
		}
		time.Sleep(50 * time.Millisecond)
		if c := w.take(); !c.empty() {
			return c
		}
	}
}

// TestWatcherClassifies checks what the watcher makes of changes to each
// kind of input, that new folders are watched and scanned, and that a
// queue overflow makes it fail (Serve then polls).
func TestWatcherClassifies(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"loops", "receipts/2026/03/01/CAP-20260301-101500__step.a__Rk3j9x0abcd", "verify", ".hidden", "public",
		".git/refs/heads", ".git/refs/tags", ".git/objects/ab", ".git/spine"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w, err := newWatcher(Options{Root: root, Config: config.Default()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		change func()
		check  func(c changeSet) bool
	}{
		{"loop document", func() { write("loops/a.md", "x") }, func(c changeSet) bool { return c.docs["loops/a.md"] && !c.receipts() }},
		{"receipt edited in place", func() { write("receipts/2026/03/01/CAP-20260301-101500__step.a__Rk3j9x0abcd/receipt.json", "{}") },
			func(c changeSet) bool {
				return c.runs["receipts/2026/03/01/CAP-20260301-101500__step.a__Rk3j9x0abcd"] && len(c.docs) == 0
			}},
		{"new day folder with a run, filled at once", func() {
			write("receipts/2026/03/02/CAP-20260302-101500__step.b__Rk3j9x0abcd/receipt.json", "{}")
		}, func(c changeSet) bool { return c.receiptsAll }},
		{"a run in the new day folder (now watched)", func() {
			write("receipts/2026/03/02/CAP-20260302-111500__step.c__Rk3j9x0abcd/output.log", "x")
		}, func(c changeSet) bool {
			return c.runs["receipts/2026/03/02/CAP-20260302-111500__step.c__Rk3j9x0abcd"] && c.days["receipts/2026/03/02"]
		}},
		{"gap ledger", func() { write("gaps.yaml", "gaps: []\n") }, func(c changeSet) bool { return c.gaps && !c.config }},
		{"verify pack", func() { write("verify/p.yaml", "pack: p\n") }, func(c changeSet) bool { return c.packs }},
		{"spine.yaml", func() { write("spine.yaml", "site:\n  title: x\n") }, func(c changeSet) bool { return c.config }},
		{"new folder of loop scopes", func() { write("teams/loop-scopes/b.md", "x") }, func(c changeSet) bool { return c.rescan && c.docs["teams/loop-scopes/b.md"] }},
		{"artifact", func() { write("artifacts/x/y.txt", "x") }, func(c changeSet) bool { return c.artifacts }},
		{"a commit moves the branch", func() { write(".git/refs/heads/main", "x") }, func(c changeSet) bool { return c.git && !c.rescan }},
		{"a branch in a new folder", func() { write(".git/refs/heads/team/x", "x") }, func(c changeSet) bool { return c.git && !c.rescan }},
		{"a checkout moves HEAD", func() { write(".git/HEAD", "ref: refs/heads/team/x\n") }, func(c changeSet) bool { return c.git }},
		{"refs packed", func() { write(".git/packed-refs", "x") }, func(c changeSet) bool { return c.git }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.change()
			if c := waitChanges(t, w); !tc.check(c) || c.failed != "" {
				t.Errorf("changes %+v", c)
			}
		})
	}
	// Writes in the output folder and in dot folders are not watched.
	time.Sleep(100 * time.Millisecond)
	w.take()
	write("public/index.html", "x")
	write(".hidden/loops/c.md", "x")
	// Nor is the rest of .git: the index, objects, tags, spine's state.
	write(".git/index", "x")
	write(".git/objects/ab/cdef", "x")
	write(".git/refs/tags/v1", "x")
	write(".git/spine/docs.cache", "x")
	time.Sleep(300 * time.Millisecond)
	if c := w.take(); !c.empty() {
		t.Errorf("changes seen in unwatched folders: %+v", c)
	}
	w.mu.Lock()
	for _, d := range []string{"public", ".hidden", ".hidden/loops", ".git/objects", ".git/objects/ab", ".git/refs/tags", ".git/spine"} {
		if _, ok := w.byPath[filepath.Join(root, filepath.FromSlash(d))]; ok {
			t.Errorf("%s is watched", d)
		}
	}
	for _, d := range []string{"loops", "teams/loop-scopes", "receipts/2026/03/02/CAP-20260302-111500__step.c__Rk3j9x0abcd", "artifacts/x", "verify", ".git", ".git/refs", ".git/refs/heads", ".git/refs/heads/team"} {
		if _, ok := w.byPath[filepath.Join(root, filepath.FromSlash(d))]; !ok {
			t.Errorf("%s is not watched", d)
		}
	}
	w.mu.Unlock()
	// An overflowed queue: the watcher cannot be trusted any more.
	ev := make([]byte, unix.SizeofInotifyEvent)
	binary.NativeEndian.PutUint32(ev[0:4], ^uint32(0)) // wd -1
	binary.NativeEndian.PutUint32(ev[4:8], unix.IN_Q_OVERFLOW)
	w.handle(ev)
	if c := w.take(); c.failed == "" {
		t.Errorf("overflow not reported: %+v", c)
	}
}

// TestFingerprintSeesCommits checks that polling (the watcher's fallback)
// sees a commit, which moves the branch named by HEAD and nothing else.
func TestFingerprintSeesCommits(t *testing.T) {
	root := t.TempDir()
	for rel, data := range map[string]string{".git/HEAD": "ref: refs/heads/team/main\n", ".git/refs/heads/team/main": "a\n", "loops/a.md": "x"} {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{Root: root, Config: config.Default()}
	before := fingerprint(opts, nil)
	if err := os.WriteFile(filepath.Join(root, ".git/refs/heads/team/main"), []byte("bb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fingerprint(opts, nil) == before {
		t.Error("a moved branch does not change the fingerprint")
	}
}
