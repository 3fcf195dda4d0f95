package yamlx

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestErrorLine: a syntax error names the line of the problem, counted
// from 1, for the parser's errors (which yaml.v3 names by the enclosing
// collection's line, counted from 0) as for the scanner's.
func TestErrorLine(t *testing.T) {
	var ledger strings.Builder
	ledger.WriteString("gaps:\n")
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&ledger, "  - id: GAP-OP-%d\n    title: t\n", i)
		if i == 250 {
			ledger.WriteString("   status: open\n") // line 751
		} else {
			ledger.WriteString("    status: open\n")
		}
	}
	for _, tc := range []struct {
		name, src string
		line      int
		msg       string
	}{
		{"flow sequence left open", "a: 1\nb: 2\nkey: [a, b\n", 3, "did not find expected ',' or ']'"},
		{"flow sequence on the first line", "key: [a, b\n", 1, "did not find expected ',' or ']'"},
		{"flow mapping left open", "gaps:\n  - id: 1\n    title: x\n  - id: 2\n    title: {y\n", 5, "did not find expected ',' or '}'"},
		{"list item out of line", "a: 1\nrelated:\n  - a\n - c\n", 4, "did not find expected key"},
		{"key after a list", "- a\n- b\nc: d\n", 3, "did not find expected '-' indicator"},
		{"key out of line", "a:\n  b: 1\n c: 2\n", 3, "did not find expected key"},
		{"deep in a long ledger", ledger.String(), 751, "did not find expected '-' indicator"},
		{"tab (scanner)", "a: 1\nb:\n\tc: 2\n", 3, "found character that cannot start any token"},
		{"mapping in a value (scanner)", "a: 1\nb: c: d\n", 2, "mapping values are not allowed in this context"},
		{"open quote (scanner)", "a: 1\nb: \"unterminated\n", 2, "found unexpected end of stream"},
		{"CRLF lines", "a: 1\r\nb: 2\r\nkey: [a, b\r\n", 3, "did not find expected ',' or ']'"},
		{"bracket left open, lines before the end", "a: 1\napprovals: [X, Y\nowner: a\nb: 2\n", 2, "did not find expected ',' or ']'"},
		{"brace left open in a list", "gaps:\n  - id: 1\n    notes:\n      - {c: 1\n      - note 1\n      - note 2\n  - id: 2\n", 4, "did not find expected ',' or '}'"},
		{"in a second document", "loops: [a]\n---\npolicy:\n  approvers:\n   - a\n  - b\n", 6, "did not find expected key"},
		// Problems YAML names no line for: the line of the first
		// character the reader refuses, or of the alias.
		{"control character", "a: 1\nb: 2\nc: x\x01y\n", 3, "control characters are not allowed"},
		{"DEL after a long value", "a: " + strings.Repeat("v", 5000) + "\nb: 2\nc: \x7f\n", 3, "control characters are not allowed"},
		{"U+FFFE", "a: 1\nb: \uFFFE\n", 2, "control characters are not allowed"},
		{"not UTF-8", "a: 1\nb: 2\n# note\nc: caf\xe9 au lait\n", 4, "invalid trailing UTF-8 octet"},
		{"not UTF-8 on the first line", "\xffa: 1\n", 1, "invalid leading UTF-8 octet"},
		{"unknown anchor", "a: &x 1\nb: 2\n# *y in a comment\nc: '*y'\nd: [*x, *y]\n", 5, "unknown anchor 'y' referenced"},
		{"unknown anchor in a list", "a:\n  - 1\n  - *nope\n", 3, "unknown anchor 'nope' referenced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every document, as spine.yaml's reader does.
			dec := yaml.NewDecoder(strings.NewReader(tc.src))
			var err error
			for err == nil {
				var n yaml.Node
				err = dec.Decode(&n)
			}
			if errors.Is(err, io.EOF) {
				t.Fatal("parsed")
			}
			line, msg := ErrorLine([]byte(tc.src), err)
			if line != tc.line || msg != tc.msg {
				t.Errorf("ErrorLine = %d %q, want %d %q (yaml.v3: %v)", line, msg, tc.line, tc.msg, err)
			}
		})
	}
}

func FuzzErrorLine(f *testing.F) {
	f.Add("a: [1,\n2\n")
	f.Add("- a\n- b\nc: d\n")
	f.Add("a:\n  b: 1\n c: 2\n")
	f.Add("a: 1\nb: x\x01y\n")
	f.Add("a: caf\xe9\n")
	f.Add("a: &x 1\nb: [*x, *y]\n")
	f.Fuzz(func(t *testing.T, src string) {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(src), &n)
		if err == nil {
			return
		}
		line, _ := ErrorLine([]byte(src), err)
		if line < 0 || line > lineCount([]byte(src)) {
			t.Fatalf("line %d of a %d-line input", line, lineCount([]byte(src)))
		}
	})
}
