package gaps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to Parse and, when they parse, exercises
// the editors: nothing may panic, an unedited ledger returns its bytes
// unchanged, and every successful edit reads back (File and Close check
// their own result, so an inconsistent edit shows up as an error, never as
// a corrupt ledger).
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	if data, err := os.ReadFile(filepath.Join("..", "..", "shared", "corpus", "gaps.yaml")); err == nil {
		f.Add(data[:min(len(data), 4096)]) // a head of the real ledger keeps runs fast
	}
	for _, s := range []string{
		"", "gaps:\n", "gaps: []\n", "- id: G-1\n", "gaps:\n- {id: G-1, status: open}\n",
		"gaps:\r\n  - id: G-1\r\n    status: open\r\n", "gaps:\n  - id: G-1\n    status: open",
		"a: &a {status: open}\ngaps:\n  - id: G-1\n    <<: *a\n",
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if b, _ := l.Bytes(); string(b) != string(data) {
			t.Fatal("Bytes() of an unedited ledger differs from the input")
		}
		for _, g := range l.Gaps {
			if g.IsOpen() && !isParked(g.Status) && g.ID != "" {
				before, _ := l.Bytes()
				if err := l.Close(g.ID, "fix", "note\nline", now); err != nil {
					if b, _ := l.Bytes(); string(b) != string(before) {
						t.Fatalf("failed Close changed the ledger: %v", err)
					}
				}
				break
			}
		}
		before, _ := l.Bytes()
		n := len(l.Gaps)
		g, err := l.File(NewGap{Title: "t", Description: "a\nb\n", Severity: "low"})
		after, _ := l.Bytes()
		if err != nil {
			if string(after) != string(before) {
				t.Fatalf("failed File changed the ledger: %v", err)
			}
			return
		}
		if len(l.Gaps) != n+1 || l.Gaps[n].ID != g.ID {
			t.Fatalf("File: %d gaps after, want %d", len(l.Gaps), n+1)
		}
	})
}

// FuzzEdit files and closes gaps with arbitrary text in a fixture ledger:
// whatever the text, File and Close must succeed, and the values must read
// back exactly (File and Close verify their own edits).
func FuzzEdit(f *testing.F) {
	f.Add("Feed is stale", "line one\nline two\n", "notes", "LOOP-X", "fixed it")
	f.Add(" leading space", "\n\nblank start", "trailing  \n", "a: b # c", "#note")
	f.Add("\"quoted\"", "tab\there", "\u2028sep", "null", "- dash")
	f.Add("|", ">", "'", "~", "\r\n")
	base, err := Parse("basic.yaml", mustRead(f, "basic.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, title, description, notes, fixedIn, note string) {
		if strings.TrimSpace(title) == "" || strings.TrimSpace(fixedIn) == "" {
			return
		}
		l := *base
		g, err := l.File(NewGap{Title: title, Description: description, Notes: notes, ParentLoop: fixedIn})
		if err != nil {
			t.Fatalf("File: %v", err)
		}
		if g.Title != strings.ToValidUTF8(title, "\uFFFD") {
			t.Fatalf("title read back as %q", g.Title)
		}
		if err := l.Close(g.ID, fixedIn, note, now); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := l.Close("GAP-OP-002", fixedIn, note, now); err != nil {
			t.Fatalf("Close GAP-OP-002: %v", err)
		}
	})
}

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
