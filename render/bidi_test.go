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
