package mapfile

import (
	"fmt"
	"io"
	"os"
)

// Mapping is the content of a file, read-only: backed by a read-only
// mapping of it where the platform allows, else read into memory. Unlike
// ReadString's mappings it is released by Close, so a long-running
// process can map a file once per version of it. Its bytes must not be
// written (a write to a mapping faults) and must not be used after Close.
type Mapping struct {
	b       []byte
	unmap   func([]byte) error
	release func([]byte) error
	closed  bool
}

// Map returns the content of the open regular file f. f may be closed
// once Map returns; the mapping stays valid until Close. As with
// ReadString, a file replaced by rename keeps its content in the mapping,
// while one truncated in place makes reads of the lost part fault.
func Map(f *os.File) (*Mapping, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("map: %w", err)
	}
	size := fi.Size()
	if !fi.Mode().IsRegular() || size != int64(int(size)) {
		return nil, fmt.Errorf("map %s: not a regular file of a size this platform can map", f.Name())
	}
	if size > 0 {
		if b, unmap, ok := mapFile(f, int(size)); ok {
			return &Mapping{b: b, unmap: unmap, release: releasePages}, nil
		}
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), b); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return &Mapping{b: b}, nil
}

// Bytes returns the content. It must not be written.
func (m *Mapping) Bytes() []byte { return m.b }

// Release drops the pages of a mapping from the process's resident
// memory; they stay in the file's page cache and are mapped again, with
// the same content, when next read. A process that reads a large file
// piece by piece over a long time calls it now and then, so that what it
// read does not stay counted in its memory. Reads may go on at the same
// time. For content read into memory (no mapping) it does nothing.
func (m *Mapping) Release() error {
	if m == nil || m.closed || m.release == nil || len(m.b) == 0 {
		return nil
	}
	if err := m.release(m.b); err != nil {
		return fmt.Errorf("release mapping: %w", err)
	}
	return nil
}

// Close releases the mapping; Bytes must not be used afterwards. Closing
// twice does nothing.
func (m *Mapping) Close() error {
	if m == nil || m.closed {
		return nil
	}
	m.closed = true
	b := m.b
	m.b = nil
	if m.unmap != nil {
		if err := m.unmap(b); err != nil {
			return fmt.Errorf("unmap: %w", err)
		}
	}
	return nil
}
