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
	for _, d := range []string{"loops", "receipts/2026/03/01/CAP-20260301-101500__step.a__Rk3j9x0abcd", "verify", ".hidden", "public"} {
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
	time.Sleep(300 * time.Millisecond)
	if c := w.take(); !c.empty() {
		t.Errorf("changes seen in unwatched folders: %+v", c)
	}
	w.mu.Lock()
	for _, d := range []string{"public", ".hidden", ".hidden/loops"} {
		if _, ok := w.byPath[filepath.Join(root, filepath.FromSlash(d))]; ok {
			t.Errorf("%s is watched", d)
		}
	}
	for _, d := range []string{"loops", "teams/loop-scopes", "receipts/2026/03/02/CAP-20260302-111500__step.c__Rk3j9x0abcd", "artifacts/x", "verify"} {
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
