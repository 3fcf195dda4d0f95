package jsonscan

import (
	"encoding/json"
	"testing"
)

// scalarSeeds are JSON values the scanner reads, or gives up on.
var scalarSeeds = []string{
	`"plain"`, ` "spaced" `, `""`, `"é 日本"`, `"esc \" \\ \/ \b \f \n \r \t \u00e9 \u2028 \u0000"`,
	`"\ud83d\ude00"`, `"\ud83d"`, `"bad \xff"`, "\"ctl \x01\"", `"open`, `"\x"`, `"\u12"`,
	`0`, `-0`, `7`, `-42`, `01`, `1.5`, `1e3`, `-`, `9223372036854775807`, `-9223372036854775808`,
	`9223372036854775808`, `true`, `false`, `null`, `tru`, `truex`, `[]`, `{}`,
}

// checkScalars reads data as a string, an integer and a boolean, each as
// a whole value: where the scanner does not give up, it must agree with
// encoding/json, and take only what encoding/json takes.
func checkScalars(t *testing.T, data []byte) {
	t.Helper()
	agree(t, "Str", data, (*Scanner).Str)
	agree(t, "Int", data, (*Scanner).Int)
	agree(t, "Bool", data, (*Scanner).Bool)
}

// agree checks read against encoding/json for data as a whole value.
func agree[T comparable](t *testing.T, name string, data []byte, read func(*Scanner) T) {
	t.Helper()
	d := &Scanner{B: data}
	got := read(d)
	if d.WS(); d.Bad || d.I != len(d.B) {
		return // given up, or not the whole value: left to encoding/json
	}
	var want T
	if err := json.Unmarshal(data, &want); err != nil || got != want {
		t.Errorf("%s(%q) = %v; encoding/json: %v, %v", name, data, got, want, err)
	}
}

func TestScalarsAgreeWithEncodingJSON(t *testing.T) {
	for _, s := range scalarSeeds {
		checkScalars(t, []byte(s))
	}
}

func TestScannerGivesUp(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		read func(d *Scanner)
	}{
		{"surrogate escape", `"\ud83d\ude00"`, func(d *Scanner) { d.Str() }},
		{"invalid UTF-8", "\"\xff\"", func(d *Scanner) { d.Str() }},
		{"leading zero", `01`, func(d *Scanner) { d.Int() }},
		{"fraction", `1.5`, func(d *Scanner) { d.Int() }},
		{"out of range", `9223372036854775808`, func(d *Scanner) { d.Int() }},
		{"trailing comma", `[1,]`, func(d *Scanner) { d.Array(func() { d.Int() }) }},
		{"unknown member", `{"a":1,"b":2}`, func(d *Scanner) {
			d.Members(func(k string) (uint64, bool) { d.Int(); return 1, k == "a" })
		}},
		{"duplicate member", `{"a":1,"a":2}`, func(d *Scanner) {
			d.Members(func(string) (uint64, bool) { d.Int(); return 1, true })
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := &Scanner{B: []byte(tt.in)}
			tt.read(d)
			if !d.Bad {
				t.Errorf("%s: read without giving up", tt.in)
			}
		})
	}
	// And what it reads.
	d := &Scanner{B: []byte(`{"n":[1,-2],"s":"x"}`)}
	var n []int64
	var s string
	d.Members(func(k string) (uint64, bool) {
		switch k {
		case "n":
			d.Array(func() { n = append(n, d.Int()) })
			return 1, true
		case "s":
			s = d.Str()
			return 2, true
		}
		return 0, false
	})
	if d.WS(); d.Bad || d.I != len(d.B) || len(n) != 2 || n[0] != 1 || n[1] != -2 || s != "x" {
		t.Errorf("read %v %q, bad %v at %d", n, s, d.Bad, d.I)
	}
}

func FuzzScalars(f *testing.F) {
	for _, s := range scalarSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkScalars(t, data)
	})
}
