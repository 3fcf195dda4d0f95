package main

import (
	"fmt"
	"strings"
	"testing"
)

// countingWriter counts the writes it gets: each is a system call when
// the writer is a terminal, pipe or file.
type countingWriter struct {
	strings.Builder
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Builder.Write(p)
}

// TestTableWritesOnce checks that a listing of many rows reaches its
// writer aligned, in a few writes rather than one per cell.
func TestTableWritesOnce(t *testing.T) {
	var w countingWriter
	tw := newTable(&w)
	fmt.Fprintln(tw, "LOOP\tSTEP\tRESULT")
	for i := range 200 {
		fmt.Fprintf(tw, "LOOP-%d\tt%03d\tpass\n", i, i)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	if len(lines) != 201 {
		t.Fatalf("%d lines, want 201", len(lines))
	}
	if got, want := lines[0], "LOOP      STEP  RESULT"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if got, want := lines[200], "LOOP-199  t199  pass"; got != want {
		t.Errorf("last row %q, want %q", got, want)
	}
	if w.writes > 2 {
		t.Errorf("%d writes for 201 rows, want at most 2", w.writes)
	}
}
