package termtext

import "testing"

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\twith tab\nand lines": "plain text\twith tab\nand lines",
		"héllo — ✓":                       "héllo — ✓",
		"\x1b]0;EVIL\x07title":            "^[]0;EVIL^Gtitle",
		"\x1b[2J clear":                   "^[[2J clear",
		"cr\rover":                        "cr^Mover",
		"del\x7f":                         "del^?",
		"c1 \u009b31m":                    `c1 \u009b31m`,
		"bad \xff utf8":                   "bad \ufffd utf8",
		"nul\x00":                         "nul^@",
		"gate \u202eSSAPYB\u202c ok":      `gate \u202eSSAPYB\u202c ok`,
		"iso \u2066x\u2069 \u200f \u061c": `iso \u2066x\u2069 \u200f \u061c`,
		"arabic عربي text":                "arabic عربي text",
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafe(f *testing.F) {
	f.Add("\x1b]52;c;aGVsbG8=\x07")
	f.Add("ok")
	f.Add("a\u202eb\u2066c")
	f.Fuzz(func(t *testing.T, s string) {
		out := Safe(s)
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
				t.Fatalf("Safe(%q) = %q holds control byte %#x", s, out, c)
			}
		}
		for _, r := range out {
			if r >= 0x80 && r < 0xa0 || IsBidiControl(r) {
				t.Fatalf("Safe(%q) = %q holds control %U", s, out, r)
			}
		}
		if Safe(out) != out {
			t.Fatalf("Safe is not idempotent on %q", s)
		}
	})
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"a longer text", 8, "a longer…"},
		{"naïve", 3, "na…"}, // ï is two bytes: not cut in half
		{"ïï", 1, "…"},
	} {
		if got := Clip(tc.s, tc.n); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
