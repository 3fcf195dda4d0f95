package main

import (
	"bufio"
	"io"
	"text/tabwriter"

	"github.com/spinehq/spine/internal/termtext"
)

// table is the aligned-columns writer of every command's listing: a
// tabwriter whose output goes through a buffer. A tabwriter writes each
// cell and each padding with a call of its own, and on a terminal, pipe or
// file each is a system call (a 200-step run's summary made some 1,400,
// `spine status` of 5,000 loops some 30,000); through the buffer they are
// a few.
type table struct {
	*tabwriter.Writer
	buf *bufio.Writer
}

// newTable returns a table writing to w, its columns padded by two spaces.
func newTable(w io.Writer) *table {
	buf := bufio.NewWriterSize(w, 32<<10)
	return &table{Writer: tabwriter.NewWriter(buf, 2, 4, 2, ' ', 0), buf: buf}
}

// Write takes rows of cells (tab-separated, each ending in a line feed),
// their text made safe for a terminal (termtext.Safe): a document's owner
// or title may hold an escape sequence.
func (t *table) Write(p []byte) (int, error) {
	if _, err := io.WriteString(t.Writer, termtext.Safe(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes the rows out: aligned, then through the buffer.
func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	return t.buf.Flush()
}
