package render

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/render/internal/chromacss"
)

// TestCSSMatchesChroma fails when the committed chroma.css is not what
// chroma makes of the styles (run go generate ./render/ after upgrading
// chroma or changing the styles).
func TestCSSMatchesChroma(t *testing.T) {
	want, err := chromacss.CSS(LightStyle, DarkStyle)
	if err != nil {
		t.Fatal(err)
	}
	got, err := CSS()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chroma.css differs from chroma's output; run go generate ./render/ (-chroma +embedded):\n%s", diff)
	}
}

// lexTokens returns the tokens a lexer emits as "class:text" strings.
func lexTokens(lang, code string) []string {
	var out []string
	highlightTokens(lang, code, func(cls, s string) {
		out = append(out, cls+":"+s)
	})
	return out
}

func TestLexers(t *testing.T) {
	tests := []struct {
		lang, code string
		want       []string
	}{
		{"yaml", "pool: tank\n", []string{"nt:pool", "p::", "w: ", "l:tank", "w:\n"}},
		{"yml", "---\n# c\nlist:\n  - 'a'\n  - 3\nok: true # yes\nref: *anchor\n\"q\": \"v\"\n", []string{
			"nn:---", "w:\n", "c:# c", "w:\n", "nt:list", "p::", "w:\n  ", "p:-", "w: ", "s1:'a'", "w:\n  ", "p:-", "w: ", "m:3", "w:\n",
			"nt:ok", "p::", "w: ", "kc:true", "w: ", "c:# yes", "w:\n", "nt:ref", "p::", "w: ", "cp:*anchor", "w:\n",
			"nt:\"q\"", "p::", "w: ", "s2:\"v\"", "w:\n"}},
		{"json", `{"a": [1, -2.5e3, true, null], "b": "x\"y"}`, []string{
			"p:{", `nt:"a"`, "p::", ": ", "p:[", "m:1", "p:,", ": ", "m:-2.5e3", "p:,", ": ", "kc:true", "p:,", ": ", "kc:null", "p:],", ": ",
			`nt:"b"`, "p::", ": ", `s2:"x\"y"`, "p:}"}},
		{"sql", "SELECT id FROM t WHERE name = 'it''s' -- c\n/* m */ LIMIT 3;", []string{
			"k:SELECT", ": id ", "k:FROM", ": t ", "k:WHERE", ": name ", "o:=", ": ", "s1:'it''s'", ": ", "c1:-- c", ":\n",
			"cm:/* m */", ": ", "k:LIMIT", ": ", "m:3", "p:;"}},
		{"python", "@dec\ndef f(self, x=None):\n    \"\"\"doc\n\"\"\"\n    return len(x) # c\n", []string{
			"nd:@dec", ":\n", "k:def", ": ", "nf:f", "p:(", "bp:self", "p:,", ": x", "o:=", "kc:None", "p:):", ":\n    ",
			"s2:\"\"\"doc\n\"\"\"", ":\n    ", "k:return", ": ", "nb:len", "p:(", ":x", "p:)", ": ", "c1:# c", ":\n"}},
		{"go", "package main\n\nfunc f() error { return nil } // c\nvar s = `a\nb` + \"\\\"\" + 'c'\n", []string{
			"kn:package", ": ", "nn:main", ":\n\n", "kd:func", ": ", "nf:f", "p:()", ": ", "kt:error", ": ", "p:{", ": ", "k:return", ": ", "kc:nil", ": ", "p:}", ": ", "c1:// c", ":\n",
			"kd:var", ": s ", "o:=", ": ", "s:`a\nb`", ": ", "o:+", ": ", `s2:"\""`, ": ", "o:+", ": ", "sc:'c'", ":\n"}},
		{"diff", "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same\n", []string{
			"gh:diff --git a/x b/x\n--- a/x\n+++ b/x\n", "gu:@@ -1 +1 @@\n", "gd:-old\n", "gi:+new\n", ": same\n"}},
		{"ini", "[Unit]\n; c\nExecStart = /bin/x --y=1\nRestart=3\n", []string{
			"k:[Unit]", ":\n", "c1:; c", ":\n", "na:ExecStart", ": ", "o:=", ": ", "s:/bin/x --y=1", ":\n", "na:Restart", "o:=", "m:3", ":\n"}},
		{"toml", "enabled = true\n", []string{"na:enabled", ": ", "o:=", ": ", "kc:true", ":\n"}},
		{"dockerfile", "# c\nFROM alpine\nRUN apk add x && \\\n    echo ok\n", []string{
			"c:# c", ":\n", "k:FROM", ": alpine", ":\n", "k:RUN", ": apk add x ", "o:&&", ": ", "se:\\\n", ":    ", "nb:echo", ": ok", ":\n"}},
		{"sh", "echo $X\n", []string{"nb:echo", ": ", "nv:$X", ":\n"}},
		{"hcl", "a = <b>\n", []string{":a = <b>\n"}},
		{"", "plain\n", []string{":plain\n"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, lexTokens(tc.lang, tc.code)); diff != "" {
			t.Errorf("%s %q (-want +got):\n%s", tc.lang, tc.code, diff)
		}
	}
}

// lexerLangs names one fence language of every lexer.
var lexerLangs = []string{"sh", "yaml", "json", "sql", "python", "go", "diff", "ini", "dockerfile", "plain"}

// checkKeepsText fails when a lexer loses, repeats or reorders text, or
// emits an empty token.
func checkKeepsText(t *testing.T, lang, code string) {
	t.Helper()
	var b strings.Builder
	highlightTokens(lang, code, func(cls, s string) {
		if s == "" {
			t.Errorf("%s %q: empty token of class %q", lang, code, cls)
		}
		b.WriteString(s)
	})
	if b.String() != code {
		t.Errorf("%s: tokens give %q, want %q", lang, b.String(), code)
	}
}

// lexerSeeds are inputs that end in the middle of a construct.
var lexerSeeds = []string{
	"", "\n", "x", "\"", "'", "`", "\"\"\"", "/*", "\\", "a\\", "#", "--", "@", "- ", ": ", "[", "=",
	"\"abc\\", "'it''", "key: \"v\\\"", "`raw", "RUN x \\", "RUN x \\\n", "\xff\xfe", "ключ: значение\n",
	"a: |\n  b\n", "x = [1, 2]\n", "-1.5e-3", "$((1+2))", "<<EOF\nx\n", "def", "func", "package",
}

func TestLexersKeepText(t *testing.T) {
	for _, lang := range lexerLangs {
		for _, code := range lexerSeeds {
			checkKeepsText(t, lang, code)
		}
	}
}

func FuzzLexers(f *testing.F) {
	for _, s := range lexerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		for _, lang := range lexerLangs {
			checkKeepsText(t, lang, code)
		}
	})
}
