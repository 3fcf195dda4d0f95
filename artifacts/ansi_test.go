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
		{"DCS and APC strings", "a\x1bPq\x1b\\b\x1b_x\x1b\\c", "abc"},
		{"character set select (tput sgr0)", "\x1b(B\x1b[mplain", "plain"},
		{"CSI without a final byte keeps the next byte", "\x1b[\xc3\xa4x", "\xc3\xa4x"},
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
		{"DCS in a secret", "v=S3cr3t\x1bPq\x1b\\V4lue-XYZ\n", "v=" + Redacted + "\n"},
		{"charset select in a secret", "v=S3cr3t\x1b(BV4lue-XYZ\n", "v=" + Redacted + "\n"},
		{"backspace joins", "v=S3cr3tX\bV4lue-XYZ\n", "v=" + Redacted + "\n"},
		{"cursor back joins", "v=S3cr3tXXX\x1b[3DV4lue-XYZ\n", "v=" + Redacted + "\n"},
		{"carriage return overwrite joins", "v=XXXXXXV4lue-XYZ\rv=S3cr3t\n", "v=" + Redacted + "\n"},
		{"text after the last carriage return", "AAAA S3cr3t\x1b[1mV4lue-XYZ\rB\n", "BAAA " + Redacted + "\n"},
		{"progress bar kept", "10%\r50%\r100%\r\n", "10%\r50%\r100%\r\n"},
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

func TestTerminalText(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"plain", "hello", "hello"},
		{"carriage return overwrites", "abcdef\rXY", "XYcdef"},
		{"backspace", "ab\bc", "ac"},
		{"cursor back and forward", "abcd\x1b[2DX\x1b[1CY", "abXdY"},
		{"cursor to column", "abcd\x1b[2GZ", "aZcd"},
		{"colours dropped", "\x1b[32mok\x1b[m", "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, string(TerminalText([]byte(tc.line)))); d != "" {
				t.Errorf("TerminalText(%q) (-want +got):\n%s", tc.line, d)
			}
		})
	}
}
