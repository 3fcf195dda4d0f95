package gaps

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// closeTime is the clock the Close tests use: 2026-03-02 in UTC, but still
// 2026-03-01 in the local zone, so a wrong zone shows up in fixed_at.
const closeTime = "2026-03-01T23:30:00-05:00"

func closeAt(tb testing.TB) time.Time {
	tb.Helper()
	now, err := time.Parse(time.RFC3339, closeTime)
	if err != nil {
		tb.Fatal(err)
	}
	return now
}

// replaceOnce returns s with old replaced by new, failing when old is not in s.
func replaceOnce(tb testing.TB, s, old, new string) string {
	tb.Helper()
	if !strings.Contains(s, old) {
		tb.Fatalf("fixture does not contain %q", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestClose(t *testing.T) {
	basic := string(readFixture(t, "basic.yaml"))
	weird := string(readFixture(t, "weird.yaml"))
	tests := []struct {
		name              string
		in                string
		id, fixedIn, note string
		old, new          string // the expected change: in with old replaced by new
		wantErr           error
		wantErrText       string
	}{
		{
			name: "missing keys are added at the end of the gap",
			in:   basic, id: "GAP-OP-003", fixedIn: "LOOP-BACKUP-20260203", note: "Exit code now propagates.",
			old: "    status: open\n    parent_loop: \"LOOP-BACKUP-20260203\"\n    fixed_by: \"nobody yet\"\n    resolution:\n      - step one\n      - step two\n",
			new: "    status: fixed\n    parent_loop: \"LOOP-BACKUP-20260203\"\n    fixed_by: \"nobody yet\"\n    resolution:\n      - step one\n      - step two\n" +
				"    fixed_in: \"LOOP-BACKUP-20260203\"\n    fixed_at: \"2026-03-02\"\n    notes: \"Exit code now propagates.\"\n",
		},
		{
			name: "comment kept, block notes appended",
			in:   basic, id: "GAP-OP-002", fixedIn: "commit abc123", note: "Probe added.\nSecond line.",
			old: "    status: open   # waiting on hardware\n    parent_loop: \"LOOP-MEDIA-20260201\"\n    notes: |\n      First probe attempt failed.\n\n      # not a comment: part of the notes\n",
			new: "    status: fixed # waiting on hardware\n    parent_loop: \"LOOP-MEDIA-20260201\"\n    notes: |\n      First probe attempt failed.\n\n      # not a comment: part of the notes\n      Probe added.\n      Second line.\n" +
				"    fixed_in: \"commit abc123\"\n    fixed_at: \"2026-03-02\"\n",
		},
		{
			name: "no note leaves notes alone",
			in:   "gaps:\n  - id: G-1\n    status: open\n    notes: \"keep\"\n", id: "G-1", fixedIn: "x",
			old: "    status: open\n    notes: \"keep\"\n",
			new: "    status: fixed\n    notes: \"keep\"\n    fixed_in: \"x\"\n    fixed_at: \"2026-03-02\"\n",
		},
		{
			name: "existing fixed_in and fixed_at are rewritten in place",
			in:   "gaps:\n  - id: G-1\n    fixed_in: \"\"\n    fixed_at: ~\n    status: 'open'\n  - id: G-2\n", id: "G-1", fixedIn: "it's \"done\"",
			old: "    fixed_in: \"\"\n    fixed_at: ~\n    status: 'open'\n",
			new: "    fixed_in: \"it's \\\"done\\\"\"\n    fixed_at: \"2026-03-02\"\n    status: fixed\n",
		},
		{
			name: "key on the dash line",
			in:   "gaps:\n- status: open\n  id: G-1\n# end\n", id: "G-1", fixedIn: "x",
			old: "- status: open\n  id: G-1\n",
			new: "- status: fixed\n  id: G-1\n  fixed_in: \"x\"\n  fixed_at: \"2026-03-02\"\n",
		},
		{
			name: "flow-style gap becomes a block",
			in:   weird, id: "W-8", fixedIn: "x",
			old: "- {id: W-8, status: open, description: \"flow style\", severity: low}\n",
			new: "- id: W-8\n  status: fixed\n  description: \"flow style\"\n  severity: low\n  fixed_in: \"x\"\n  fixed_at: \"2026-03-02\"\n",
		},
		{
			name: "flow-style gap keeps its line's comment",
			in:   "gaps:\n- {id: G-2, title: \"flow\", parent_loop: LOOP-C}   # owner: ops team\n- id: G-3\n", id: "G-2", fixedIn: "x",
			old: "- {id: G-2, title: \"flow\", parent_loop: LOOP-C}   # owner: ops team\n",
			new: "- id: G-2  # owner: ops team\n  title: \"flow\"\n  parent_loop: LOOP-C\n  status: fixed\n  fixed_in: \"x\"\n  fixed_at: \"2026-03-02\"\n",
		},
		{
			name: "merged status is overridden explicitly",
			in:   weird, id: "W-7", fixedIn: "x",
			old: "  description: merged fields\n",
			new: "  description: merged fields\n  status: fixed\n  fixed_in: \"x\"\n  fixed_at: \"2026-03-02\"\n",
		},
		{
			name: "accepted gap can be fixed",
			in:   weird, id: "W-9", fixedIn: "x",
			old: "  status: Accepted\n", new: "  status: fixed\n",
			// fixed_in and fixed_at land after the notes list.
		},
		{
			name: "CRLF line endings are kept",
			in:   "gaps:\r\n  - id: G-1\r\n    status: open\r\n  - id: G-2\r\n", id: "G-1", fixedIn: "x", note: "a\nb",
			old: "    status: open\r\n",
			new: "    status: fixed\r\n    fixed_in: \"x\"\r\n    fixed_at: \"2026-03-02\"\r\n    notes: |-\r\n      a\r\n      b\r\n",
		},
		{
			name: "no newline at end of file",
			in:   "gaps:\n  - id: G-1\n    status: open", id: "G-1", fixedIn: "x",
			old: "    status: open",
			new: "    status: fixed\n    fixed_in: \"x\"\n    fixed_at: \"2026-03-02\"\n",
		},
		{name: "unknown id", in: basic, id: "GAP-OP-999", fixedIn: "x", wantErr: ErrNotFound},
		{name: "already fixed", in: basic, id: "GAP-OP-001", fixedIn: "x", wantErr: ErrAlreadyClosed},
		{name: "no fixed_in", in: basic, id: "GAP-OP-003", fixedIn: " ", wantErrText: "fixed_in is empty"},
		{name: "notes is a list", in: weird, id: "W-9", fixedIn: "x", note: "n", wantErrText: "notes is not text"},
		{name: "entry repeated through an alias", in: "gaps:\n- &a\n  id: A-1\n  status: open\n- *a\n", id: "A-1", fixedIn: "x", wantErrText: "the edit changed gap A-1 unexpectedly"},
		{name: "shared through an alias", in: weird, id: "W-10", fixedIn: "x", wantErrText: "ledger left unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustParse(t, "g.yaml", []byte(tt.in))
			err := l.Close(tt.id, tt.fixedIn, tt.note, closeAt(t))
			if tt.wantErr != nil || tt.wantErrText != "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("Close error = %v, want %v %q", err, tt.wantErr, tt.wantErrText)
				}
				if b, _ := l.Bytes(); string(b) != tt.in {
					t.Error("a failed Close changed the ledger")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := l.Bytes()
			want := replaceOnce(t, tt.in, tt.old, tt.new)
			if tt.name == "accepted gap can be fixed" {
				want = replaceOnce(t, want, "  - two\n", "  - two\n  fixed_in: \"x\"\n  fixed_at: \"2026-03-02\"\n")
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("ledger after Close (-want +got):\n%s", diff)
			}
			g, ok := l.Lookup(tt.id)
			if !ok || g.Status != "fixed" || g.FixedIn != tt.fixedIn || g.FixedAt != "2026-03-02" {
				t.Errorf("after Close: %+v", g)
			}
			if err := l.Close(tt.id, "again", "", closeAt(t)); !errors.Is(err, ErrAlreadyClosed) {
				t.Errorf("second Close = %v, want ErrAlreadyClosed", err)
			}
		})
	}
}

func TestFile(t *testing.T) {
	basic := string(readFixture(t, "basic.yaml"))
	full := NewGap{
		Title: "Feed is stale", Description: "The feed stopped.\nSince Monday.\n", Type: "runtime-bug",
		Severity: "High", DiscoveredBy: "agent-session", DiscoveredAt: "2026-03-02",
		ParentLoop: "LOOP-FEED-20260302", Doc: "ops/feeds.yaml", Notes: "Filed by spine",
	}
	fullBlock := func(dash, keys string, quotedID bool, id string) string {
		idv := id
		if quotedID {
			idv = `"` + id + `"`
		}
		return dash + "id: " + idv + "\n" +
			keys + "title: \"Feed is stale\"\n" +
			keys + "discovered_by: \"agent-session\"\n" +
			keys + "discovered_at: \"2026-03-02\"\n" +
			keys + "type: runtime-bug\n" +
			keys + "doc: \"ops/feeds.yaml\"\n" +
			keys + "description: |\n" + keys + "  The feed stopped.\n" + keys + "  Since Monday.\n" +
			keys + "severity: high\n" +
			keys + "status: open\n" +
			keys + "notes: \"Filed by spine\"\n" +
			keys + "parent_loop: \"LOOP-FEED-20260302\"\n"
	}
	tests := []struct {
		name        string
		in          string
		gap         NewGap
		wantID      string
		old, new    string
		wantErrText string
	}{
		{
			name: "fixture: after the last gap, before trailing comments", in: basic, gap: full, wantID: "GAP-OP-004",
			old: "      - step two\n",
			new: "      - step two\n" + fullBlock("  - ", "    ", false, "GAP-OP-004"),
		},
		{
			name: "empty file", in: "", gap: full, wantID: "GAP-OP-001",
			new: "gaps:\n" + fullBlock("  - ", "    ", true, "GAP-OP-001"),
		},
		{
			name: "comment-only file", in: "# ledger\n", gap: NewGap{Title: "t"}, wantID: "GAP-OP-001",
			old: "# ledger\n", new: "# ledger\ngaps:\n  - id: \"GAP-OP-001\"\n    title: \"t\"\n    status: open\n",
		},
		{
			name: "empty flow list keeps its comment", in: "version: 1\ngaps: []  # none yet\nupdated: x\n", gap: NewGap{Title: "t", ID: "X-1"}, wantID: "X-1",
			old: "gaps: []  # none yet\n", new: "gaps: # none yet\n  - id: \"X-1\"\n    title: \"t\"\n    status: open\n",
		},
		{
			name: "null gaps", in: "gaps:\nupdated: x\n", gap: NewGap{Description: "d"}, wantID: "GAP-OP-001",
			old: "gaps:\n", new: "gaps:\n  - id: \"GAP-OP-001\"\n    description: \"d\"\n    status: open\n",
		},
		{
			name: "no gaps key", in: "version: 1", gap: NewGap{Title: "t"}, wantID: "GAP-OP-001",
			old: "version: 1", new: "version: 1\ngaps:\n  - id: \"GAP-OP-001\"\n    title: \"t\"\n    status: open\n",
		},
		{
			name: "indentless list, quoted ids, CRLF", in: "gaps:\r\n- id: \"G-9\"\r\n  status: open\r\nother: 1\r\n", gap: NewGap{Title: "t", Status: "Fixed"}, wantID: "G-10",
			old: "  status: open\r\n", new: "  status: open\r\n- id: \"G-10\"\r\n  title: \"t\"\r\n  status: fixed\r\n",
		},
		{
			name: "after a flow-style last gap", in: "gaps:\n    - {id: G-1,\n       status: open}\n", gap: NewGap{Title: "t"}, wantID: "G-2",
			old: "       status: open}\n", new: "       status: open}\n    - id: G-2\n      title: \"t\"\n      status: open\n",
		},
		{name: "duplicate id", in: basic, gap: NewGap{ID: "GAP-OP-002", Title: "t"}, wantErrText: "already exists (line 23)"},
		{name: "bad id", in: basic, gap: NewGap{ID: "a b", Title: "t"}, wantErrText: "want letters, digits"},
		{name: "nothing to say", in: basic, gap: NewGap{Type: "runtime-bug"}, wantErrText: "a title or a description is required"},
		{name: "bad severity", in: basic, gap: NewGap{Title: "t", Severity: "hgih"}, wantErrText: `severity "hgih"`},
		{name: "bad status", in: basic, gap: NewGap{Title: "t", Status: "wip"}, wantErrText: `status "wip"`},
		{name: "flow list", in: "gaps: [{id: G-1}]\n", gap: NewGap{Title: "t"}, wantErrText: "g.yaml:1: the gaps list is written in flow style"},
		{name: "gaps is a mapping", in: "gaps: {a: 1}\n", gap: NewGap{Title: "t"}, wantErrText: "`gaps:` is not a list"},
		{name: "flow root", in: "{version: 1}\n", gap: NewGap{Title: "t"}, wantErrText: "leaves no place for a new gap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustParse(t, "g.yaml", []byte(tt.in))
			g, err := l.File(tt.gap)
			if tt.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("File error = %v, want %q", err, tt.wantErrText)
				}
				if b, _ := l.Bytes(); string(b) != tt.in {
					t.Error("a failed File changed the ledger")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := l.Bytes()
			want := tt.in + tt.new
			if tt.old != "" {
				want = replaceOnce(t, tt.in, tt.old, tt.new)
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("ledger after File (-want +got):\n%s", diff)
			}
			if g.ID != tt.wantID || g.Status == "" {
				t.Errorf("File() = %+v, want id %s", g, tt.wantID)
			}
			// The edit reads back: the new gap is there, found by id.
			again := mustParse(t, "g.yaml", got)
			if back, ok := again.Lookup(tt.wantID); !ok || !cmp.Equal(back, g) {
				t.Errorf("re-parsed gap = %+v, %v; want %+v", back, ok, g)
			}
		})
	}
}

// changedLines returns the lines removed from before and added in after,
// by a longest-common-subsequence diff of the lines that differ.
func changedLines(before, after string) (removed, added []string, firstLine int) {
	a, b := strings.SplitAfter(before, "\n"), strings.SplitAfter(after, "\n")
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	a, b = a[p:len(a)-s], b[p:len(b)-s]
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			added = append(added, b[j])
			j++
		default:
			removed = append(removed, a[i])
			i++
		}
	}
	return removed, added, p + 1
}

func TestCloseRealLedger(t *testing.T) {
	before := realLedger(t)
	l := mustParse(t, "gaps.yaml", before)
	g, ok := l.Lookup("GAP-OP-803")
	if !ok || g.Status != "open" {
		t.Skipf("GAP-OP-803 is not an open gap in this copy of the ledger")
	}
	if err := l.Close("GAP-OP-803", "LOOP-AUDIT-20260222-CLEANUP-20260222", "Stale worktrees pruned.", closeAt(t)); err != nil {
		t.Fatal(err)
	}
	after, _ := l.Bytes()
	removed, added, first := changedLines(string(before), string(after))
	wantRemoved := []string{
		"    status: open\n",
		"    notes: \"Filed via gaps.file at 2026-02-22T07:21:12Z\"\n",
	}
	wantAdded := []string{
		"    status: fixed\n",
		"    notes: |\n",
		"      Filed via gaps.file at 2026-02-22T07:21:12Z\n",
		"      Stale worktrees pruned.\n",
		"    fixed_in: \"LOOP-AUDIT-20260222-CLEANUP-20260222\"\n",
		"    fixed_at: \"2026-03-02\"\n",
	}
	if diff := cmp.Diff(wantRemoved, removed); diff != "" {
		t.Errorf("removed lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAdded, added); diff != "" {
		t.Errorf("added lines (-want +got):\n%s", diff)
	}
	if next, _ := mustParse(t, "gaps.yaml", before).Lookup("GAP-OP-804"); first <= g.Line || first >= next.Line {
		t.Errorf("first changed line %d is outside GAP-OP-803 (lines %d-%d)", first, g.Line, next.Line-1)
	}
	if got, _ := l.Lookup("GAP-OP-803"); got.Status != "fixed" || got.ParentLoop != g.ParentLoop || got.Description != g.Description {
		t.Errorf("after Close: %+v", got)
	}
}

// TestCloseEveryOpenGap closes each open gap of the real ledger in turn and
// checks that only lines inside that gap's entry change.
func TestCloseEveryOpenGap(t *testing.T) {
	before := realLedger(t)
	if testing.Short() {
		t.Skip("closes every open gap of the real ledger; skipped with -short")
	}
	base := mustParse(t, "gaps.yaml", before)
	for i, g := range base.Gaps {
		if !g.IsOpen() || isParked(g.Status) {
			continue
		}
		t.Run(g.ID, func(t *testing.T) {
			t.Parallel()
			end := strings.Count(string(before), "\n") + 1
			if i+1 < len(base.Gaps) {
				end = base.Gaps[i+1].Line
			}
			l := *base // Close replaces the copy's state; base stays as parsed
			if err := l.Close(g.ID, "LOOP-TEST", "closed by test", closeAt(t)); err != nil {
				t.Fatal(err)
			}
			after, _ := l.Bytes()
			removed, added, first := changedLines(string(before), string(after))
			if first <= g.Line || first >= end || len(added) == 0 {
				t.Errorf("changes start at line %d, outside the gap's lines %d-%d", first, g.Line, end-1)
			}
			for _, r := range removed {
				key := strings.TrimSpace(strings.SplitN(r, ":", 2)[0])
				if key != "status" && key != "notes" && key != "fixed_in" && key != "fixed_at" {
					t.Errorf("removed a line that is not status/notes/fixed_in/fixed_at: %q", r)
				}
			}
			// Everything before the gap's entry and after it is identical.
			bl, al := strings.SplitAfter(string(before), "\n"), strings.SplitAfter(string(after), "\n")
			tail := len(bl) - (end - 1)
			if !slices.Equal(bl[:g.Line], al[:g.Line]) || !slices.Equal(bl[len(bl)-tail:], al[len(al)-tail:]) {
				t.Error("lines outside the gap's entry changed")
			}
		})
	}
}

func TestFileRealLedger(t *testing.T) {
	before := realLedger(t)
	l := mustParse(t, "gaps.yaml", before)
	last := l.Gaps[len(l.Gaps)-1]
	g, err := l.File(NewGap{
		Title: "spine files gaps", Description: "Filed by the gaps package test.\n", Type: "missing-entry",
		Severity: "low", DiscoveredBy: "spine-test", DiscoveredAt: "2026-03-02", ParentLoop: "LOOP-SPINE-TEST",
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != "GAP-OP-839" {
		t.Errorf("new id = %s, want GAP-OP-839", g.ID)
	}
	after, _ := l.Bytes()
	removed, added, first := changedLines(string(before), string(after))
	wantAdded := []string{
		"  - id: \"GAP-OP-839\"\n",
		"    title: \"spine files gaps\"\n",
		"    discovered_by: \"spine-test\"\n",
		"    discovered_at: \"2026-03-02\"\n",
		"    type: missing-entry\n",
		"    description: \"Filed by the gaps package test.\\n\"\n",
		"    severity: low\n",
		"    status: open\n",
		"    parent_loop: \"LOOP-SPINE-TEST\"\n",
	}
	if len(removed) != 0 {
		t.Errorf("File removed lines: %q", removed)
	}
	if diff := cmp.Diff(wantAdded, added); diff != "" {
		t.Errorf("added lines (-want +got):\n%s", diff)
	}
	// The new entry follows the last gap's last line, before the trailing
	// legend comment.
	if first <= last.Line || !strings.HasPrefix(lineOf(after, first+len(added)), "# ───") {
		t.Errorf("new gap inserted at line %d; the line after it is %q", first, lineOf(after, first+len(added)))
	}
	again := mustParse(t, "gaps.yaml", after)
	if len(again.Gaps) != 830 {
		t.Errorf("re-parsed ledger has %d gaps, want 830", len(again.Gaps))
	}
	if back, ok := again.Lookup("GAP-OP-839"); !ok || !cmp.Equal(back, g) {
		t.Errorf("re-parsed new gap = %+v, %v", back, ok)
	}
	// Removing the added lines gives back the original bytes exactly.
	lines := strings.SplitAfter(string(after), "\n")
	restored := strings.Join(append(lines[:first-1:first-1], lines[first-1+len(added):]...), "")
	if restored != string(before) {
		t.Error("bytes outside the new entry changed")
	}
}
