package gitx

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestVerifiedRecord: a record is written over the last in place, in a
// file of verifiedSize bytes, and read back; one of the earlier, unpadded
// form is read too; a damaged one (a write cut short, a flipped byte, a
// tail left behind) is not.
func TestVerifiedRecord(t *testing.T) {
	p := filepath.Join(t.TempDir(), "spine", "index.verified")
	a := verifiedRecord{id: fileID{dev: 1, ino: 2, size: 3, mtime: syscall.Timespec{Sec: 4, Nsec: 5}, ctime: syscall.Timespec{Sec: 6, Nsec: 7}}}
	a.sum[0] = 0xab
	b := a
	b.id.ino, b.sum[1] = 99999999999, 0xcd
	for _, r := range []verifiedRecord{a, b, a} {
		writeVerified(p, r.sum, r.id)
		data, err := os.ReadFile(p)
		if err != nil || len(data) != verifiedSize {
			t.Fatalf("record file of %d bytes (%v), want %d", len(data), err, verifiedSize)
		}
		if got, ok := readVerified(p); !ok || got != r {
			t.Fatalf("read back %+v, %v; want %+v", got, ok, r)
		}
	}
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// The earlier form: the line without padding.
	line := append(bytes.TrimRight(good[:len(good)-1], " "), '\n')
	if err := os.WriteFile(p, line, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, ok := readVerified(p); !ok || got != a {
		t.Fatalf("unpadded record: %+v, %v", got, ok)
	}
	for name, damage := range map[string]func([]byte) []byte{
		"cut short": func(b []byte) []byte { return b[:100] },
		"byte flipped": func(b []byte) []byte {
			b[30] ^= 1
			return b
		},
		"tail behind": func(b []byte) []byte { return append(b, "x 0\n"...) },
		"no newline":  func(b []byte) []byte { return b[:len(b)-1] },
	} {
		if err := os.WriteFile(p, damage(bytes.Clone(good)), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, ok := readVerified(p); ok {
			t.Errorf("%s: read %+v", name, got)
		}
	}
	// A longer file is cut to one record when written.
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 2*verifiedSize), 0o644); err != nil {
		t.Fatal(err)
	}
	writeVerified(p, b.sum, b.id)
	if got, ok := readVerified(p); !ok || got != b {
		t.Fatalf("record written over a longer file: %+v, %v", got, ok)
	}
}
