package main

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/internal/gen"
	"github.com/spinehq/spine/loops"
)

// encodeStatus is what `spine status --json` wrote before
// appendStatusJSON: the reference it must match byte for byte.
func encodeStatus(t testing.TB, out []statusLoop) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// statusOf builds the status of generated documents as the command does.
func statusOf(docs []*loops.Document) []statusLoop {
	out := make([]statusLoop, 0, len(docs))
	for i, d := range docs {
		l := statusLoop{LoopID: d.LoopID, Path: d.Path, Status: d.Status, Title: d.Title,
			Owner: d.Meta.String("owner"), Priority: d.Meta.String("priority"),
			HeartbeatStale: i%3 == 0, RunKeys: d.RunKeys, Gaps: d.GapIDs,
			Stages: []statusStage{}, Problems: []string{}}
		for si := range d.Stages {
			s := statusStage{Title: d.Stages[si].Title, Steps: []statusStep{}}
			for _, st := range d.Stages[si].Steps {
				s.Steps = append(s.Steps, statusStep{Name: st.Name, State: "pending"})
			}
			l.Stages = append(l.Stages, s)
		}
		for _, p := range d.Problems {
			l.Problems = append(l.Problems, p.String())
		}
		out = append(out, l)
	}
	return out
}

func TestAppendStatusJSON(t *testing.T) {
	var docs []*loops.Document
	for i, src := range gen.Docs(300, 7) {
		docs = append(docs, loops.Parse(gen.Path(i), src))
	}
	odd := "<b>&amp;</b> \"q\" \\ \x00\x01\x1f\b\f\n\r\t \x7f é \u2028\u2029 \xff\xfe bad \xe2\x82 end 😀"
	tests := []struct {
		name string
		out  []statusLoop
	}{
		{"nil", nil},
		{"empty", []statusLoop{}},
		{"nil and empty lists", []statusLoop{{}, {RunKeys: []string{}, Gaps: []string{}, Stages: []statusStage{}, Problems: []string{}}}},
		{"empty stage", []statusLoop{{Stages: []statusStage{{Title: "S"}, {Title: "T", Steps: []statusStep{}}}}}},
		{"escaping", []statusLoop{{LoopID: odd, Path: odd, Status: odd, Title: odd, Owner: odd, Priority: odd, HeartbeatStale: true,
			RunKeys: []string{odd, ""}, Gaps: []string{odd}, Problems: []string{odd},
			Stages: []statusStage{{Title: odd, Steps: []statusStep{{Name: odd, State: odd}, {}}}}}}},
		{"generated documents", statusOf(docs)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := encodeStatus(t, tt.out)
			got := appendStatusJSON(nil, tt.out)
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("appendStatusJSON differs from encoding/json (-want +got):\n%s", diff)
			}
			var w bytes.Buffer
			if err := writeStatusJSON(&w, tt.out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), w.String()); diff != "" {
				t.Errorf("writeStatusJSON differs from encoding/json (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzAppendJSONString checks string escaping against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<>&\"\\", "\x00\x1f\x7f", "\u2028\u2029", "\xff", "é😀", "\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := []statusLoop{{LoopID: s, RunKeys: []string{s}, Stages: []statusStage{{Title: s, Steps: []statusStep{{Name: s, State: s}}}}}}
		if want, got := encodeStatus(t, out), appendStatusJSON(nil, out); !bytes.Equal(want, got) {
			t.Fatalf("%q: got\n%s\nwant\n%s", s, got, want)
		}
	})
}

// BenchmarkStatusJSON writes the status of 5,000 generated documents.
func BenchmarkStatusJSON(b *testing.B) {
	var docs []*loops.Document
	for i, src := range gen.Docs(5000, 1) {
		docs = append(docs, loops.Parse(gen.Path(i), src))
	}
	out := statusOf(docs)
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			if err := writeStatusJSON(io.Discard, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			encodeStatus(b, out)
		}
	})
}
