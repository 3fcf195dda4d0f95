package render

import (
	"strings"
	"testing"
)

func TestVisibleBidi(t *testing.T) {
	for in, want := range map[string]string{
		"plain — ✓ é":                                 "plain — ✓ é",
		"rm -rf /tmp/x-\u202etxt.exe\u202c":           "rm -rf /tmp/x-⟨U+202E⟩txt.exe⟨U+202C⟩",
		"\u202a\u202b\u202d \u2066\u2067\u2068\u2069": "⟨U+202A⟩⟨U+202B⟩⟨U+202D⟩ ⟨U+2066⟩⟨U+2067⟩⟨U+2068⟩⟨U+2069⟩",
		"\u200f RLM and \u2029 stay":                  "\u200f RLM and \u2029 stay",
		"cut \xe2\x80":                                "cut \xe2\x80",
	} {
		if got := VisibleBidi(in); got != want {
			t.Errorf("VisibleBidi(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHighlightShowsBidi: a command's bidirectional override is shown in
// its highlighted block, not obeyed.
func TestHighlightShowsBidi(t *testing.T) {
	r := New(Options{})
	out := r.Highlight("sh", "rm -rf /tmp/nothing-here-\u202etxt.exe\u202c\n# comment \u202e here\n")
	if strings.Contains(out, "\u202e") || strings.Count(out, "⟨U+202E⟩") != 2 || !strings.Contains(out, "⟨U+202C⟩") {
		t.Errorf("Highlight kept or lost a bidi control:\n%s", out)
	}
}

// TestHeadingsKeepOffThePagesIDs: a document heading "Gaps" does not take
// the id of the loop page's own gaps section.
func TestHeadingsKeepOffThePagesIDs(t *testing.T) {
	out, err := New(Options{}).HTML([]byte("# Loop\n\n## Gaps\n\n## Notes\n"), Doc{Path: "x.md"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), `id="gaps"`) || !strings.Contains(string(out), `id="gaps-1"`) || !strings.Contains(string(out), `id="notes"`) {
		t.Errorf("heading ids:\n%s", out)
	}
}

// TestProseShowsBidi: a bidirectional control character in a document's
// prose, headings, link text or a table reads the page otherwise than the
// document says: it is shown, not obeyed, wherever it is.
func TestProseShowsBidi(t *testing.T) {
	src := "# Wipe \u202eDROW\u202c\n\nApproved by \u2067lead\u2069 on the [runbook \u202e](https://example.com/x).\n\n| host | note |\n|---|---|\n| db1 | \u202dkeep\u202c |\n"
	out, err := New(Options{}).HTML([]byte(src), Doc{Path: "x.md"})
	if err != nil {
		t.Fatal(err)
	}
	page := string(out)
	if HasBidi(out) {
		t.Errorf("a bidi control is left in:\n%s", page)
	}
	for _, want := range []string{"Wipe ⟨U+202E⟩DROW⟨U+202C⟩</h1>", "Approved by ⟨U+2067⟩lead⟨U+2069⟩", "runbook ⟨U+202E⟩</a>", "⟨U+202D⟩keep⟨U+202C⟩"} {
		if !strings.Contains(page, want) {
			t.Errorf("no %q in:\n%s", want, page)
		}
	}
	// Without one, nothing changes (and "—" or "→", which also start with
	// the byte 0xE2, are not taken for one).
	if HasBidi([]byte("plain — → ’ text")) || !HasBidi([]byte("x\u2066")) || HasBidi([]byte("cut \xe2\x80")) {
		t.Error("HasBidi is wrong")
	}
}
