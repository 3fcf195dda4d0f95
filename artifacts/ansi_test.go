package artifacts

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVisibleText(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"plain", "hello\tworld", "hello\tworld"},
		{"colours", "token=\x1b[01;31m\x1b[Kghp_\x1b[m\x1b[Kabc", "token=ghp_abc"},
		{"NUL and BEL", "a\x00b\x07c\x7fd", "abcd"},
		{"OSC title dropped whole", "\x1b]0;title ghp_x\x07after", "after"},
		{"carriage return: the last segment", "10%\r50%\r100%\r", "100%"},
		{"lone escape at the end", "x\x1b", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, string(VisibleText([]byte(tc.line)))); d != "" {
				t.Errorf("VisibleText(%q) (-want +got):\n%s", tc.line, d)
			}
		})
	}
}

// TestRedactSeesWhatAReaderSees: a secret printed in pieces that a reader
// sees joined (colour codes, a NUL between them) is redacted, the line
// stored as seen; a line whose hidden bytes join nothing keeps them.
func TestRedactSeesWhatAReaderSees(t *testing.T) {
	red := NewRedactor([]string{"S3cr3tV4lue-XYZ"})
	for _, tc := range []struct{ name, in, want string }{
		{"grep --color token", "token=\x1b[01;31m\x1b[Kghp_\x1b[m\x1b[K" + tok36 + "\n", "token=" + Redacted + "\n"},
		{"NUL in a secret value", "v=S3cr3tV\x004lue-XYZ\n", "v=" + Redacted + "\n"},
		{"colours kept when nothing joins", "\x1b[32mok\x1b[m S3cr3tV4lue-XYZ\r\n", "\x1b[32mok\x1b[m " + Redacted + "\r\n"},
		{"Bearer placeholder is not redacted again", "Authorization: Bearer abcdefghijkl\r\n", "Authorization: Bearer " + Redacted + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := red.Redact([]byte(tc.in))
			if d := cmp.Diff(tc.want, string(got)); d != "" {
				t.Errorf("Redact (-want +got):\n%s", d)
			}
			var log bytes.Buffer
			o := NewOutput(&log, fixedClock, 0, red)
			o.Stream(StreamStdout).Write([]byte(tc.in))
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(prefixLines(tc.want, "out"), log.String()); d != "" {
				t.Errorf("output.log (-want +got):\n%s", d)
			}
		})
	}
}
