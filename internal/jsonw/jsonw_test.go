package jsonw

import (
	"encoding/json"
	"testing"
)

var seeds = []string{"", "plain", "<>&\"\\", "\x00\x1f\x7f\b\f\n\r\t", "\u2028\u2029", "\xff", "é😀", "\xe2\x82", "a\xffb\xfe"}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzAppendString checks string escaping against encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s, want x%s", s, got, want)
		}
	})
}
