package gitx

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// realIndexes returns index files the git CLI wrote: version 2 with a
// TREE extension, version 3 (an intent-to-add entry), version 4, with an
// untracked cache, and a split index's own file.
func realIndexes(tb testing.TB) [][]byte {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		return nil
	}
	var out [][]byte
	for _, extra := range [][][]string{
		nil,
		{{"add", "-N", "ita"}},
		{{"update-index", "--index-version", "4"}},
		{{"config", "core.untrackedCache", "true"}, {"update-index", "--untracked-cache"}, {"status", "--porcelain"}},
		{{"update-index", "--split-index"}, {"add", "a.b"}, {"rm", "-q", "--cached", "a-b"}},
	} {
		dir := tb.TempDir()
		run := func(args ...string) {
			cmd := exec.Command("git", args...)
			cmd.Dir = dir
			cmd.Env = cliEnv()
			if b, err := cmd.CombinedOutput(); err != nil {
				tb.Fatalf("git %v: %v\n%s", args, err, b)
			}
		}
		run("init", "-q", "-b", "main")
		for p, c := range commitBase {
			p = filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "ita"), []byte("ita\n"), 0o644); err != nil {
			tb.Fatal(err)
		}
		run("add", "-A", ":!ita")
		run("commit", "-q", "-m", "base")
		if err := os.WriteFile(filepath.Join(dir, "a.b"), []byte("changed\n"), 0o644); err != nil {
			tb.Fatal(err)
		}
		for _, args := range extra {
			run(args...)
		}
		b, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzScanIndex: any bytes give an index or an error, never a panic; an
// index the scanner accepts splices into one it accepts again. The seeds
// in testdata/fuzz/FuzzScanIndex are index files git 2.39 wrote
// (realIndexes): version 2 with TREE, 3, 4, with UNTR, a split index.
//
//	go test ./internal/gitx -run '^$' -fuzz FuzzScanIndex -fuzztime 1m
func FuzzScanIndex(f *testing.F) {
	f.Add(emptyIndex())
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzIndex(t, data)
		if len(data) >= indexHashLen {
			// With a valid checksum, to get past it.
			fixed := append([]byte{}, data...)
			sum := sha1.Sum(fixed[:len(fixed)-indexHashLen])
			copy(fixed[len(fixed)-indexHashLen:], sum[:])
			fuzzIndex(t, fixed)
		}
		_, _, _ = readEWAH(data, 1024)
	})
}

func fuzzIndex(t *testing.T, data []byte) {
	ix, err := scanIndex(data, true)
	if err != nil {
		return
	}
	for i := range ix.offs {
		ix.name(i)
	}
	if ix.link != nil {
		var c indexCache
		if merged, err := c.unsplit(ix, filepath.Join(t.TempDir(), "none")); err == nil {
			_, _ = scanIndex(merged, true)
		}
		fuzzSplit(t, data, ix)
		return
	}
	files := []*stagedFile{
		{rel: "a"}, {rel: "a/b", deleted: true}, {rel: "fuzz/new"}, {rel: "zz", deleted: true},
	}
	var buf bytes.Buffer
	if _, err := spliceIndex(&buf, ix, files, time.Unix(1767225600, 0)); err != nil {
		t.Fatal(err)
	}
	out, err := scanIndex(buf.Bytes(), true)
	if err != nil {
		t.Fatalf("a spliced index does not scan: %v", err)
	}
	var names []string
	for i := range out.offs {
		names = append(names, string(out.name(i)))
	}
	if i := out.search("fuzz/new"); i == len(out.offs) || string(out.name(i)) != "fuzz/new" {
		t.Fatalf("fuzz/new missing from %q", names)
	}
	if i := out.search("zz"); i < len(out.offs) && string(out.name(i)) == "zz" {
		t.Fatalf("zz not deleted: %q", names)
	}
}

// fuzzSplit points the split index data (scanned as ix) at a shared index
// of 200 entries and, when it reads, checks that staging files into it and
// writing it split reads back as the same entries as writing it whole.
func fuzzSplit(t *testing.T, data []byte, ix *rawIndex) {
	var files []*stagedFile
	for i := range 200 {
		files = append(files, &stagedFile{rel: fmt.Sprintf("s/%03d", i), hash: plumbing.NewHash("0123456789abcdef0123456789abcdef01234567"), mode: 0o100644})
	}
	var shared bytes.Buffer
	sum, err := spliceIndex(&shared, &rawIndex{data: emptyIndex(), version: indexVersionNew, end: indexHeaderLen}, files, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(sharedIndexPath(dir, sum[:]), shared.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := append([]byte{}, data...)
	copy(d[cap(data)-cap(ix.link):], sum[:])
	h := sha1.Sum(d[:len(d)-indexHashLen])
	copy(d[len(d)-indexHashLen:], h[:])
	own, err := scanIndex(d, true)
	if err != nil {
		t.Fatalf("the same index with another shared index does not scan: %v", err)
	}
	var c indexCache
	v, err := c.splitView(own, dir, false)
	if err != nil {
		return
	}
	v.stage([]*stagedFile{{rel: "s/005", mode: 0o100644}, {rel: "s/150", deleted: true}, {rel: "s/007/x", mode: 0o100644}, {rel: "t/new", mode: 0o100644}})
	v.smudgeRacy(time.Unix(1767225600, 0))
	var whole, split bytes.Buffer
	if _, err := v.writePlain(&whole); err != nil {
		t.Fatal(err)
	}
	if _, err := scanIndex(whole.Bytes(), true); err != nil {
		t.Fatalf("a split index written whole does not scan: %v", err)
	}
	if _, err := v.writeSplit(&split); err != nil {
		t.Fatal(err)
	}
	back, err := scanIndex(split.Bytes(), true)
	if err != nil || back.link == nil {
		t.Fatalf("a split index written does not scan: %v", err)
	}
	merged, err := c.unsplit(back, dir)
	if err != nil {
		t.Fatalf("a split index written does not read back: %v", err)
	}
	if !bytes.Equal(merged, whole.Bytes()) {
		t.Fatal("a split index written reads back as other entries")
	}
}

// TestScanIndexRejectsMalformedFiles: each kind of damage is an error
// (and unsupported layouts are errIndexUnsupported), never a panic.
func TestScanIndexRejectsMalformedFiles(t *testing.T) {
	needGit(t)
	seeds := realIndexes(t)
	v2 := seeds[0]
	resum := func(b []byte) []byte {
		b = append([]byte{}, b...)
		s := sha1.Sum(b[:len(b)-indexHashLen])
		copy(b[len(b)-indexHashLen:], s[:])
		return b
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, v2...)) }
	tests := []struct {
		name        string
		data        []byte
		unsupported bool
	}{
		{"empty", nil, false},
		{"bad signature", resum(edit(func(b []byte) []byte { b[0] = 'X'; return b })), false},
		{"bad checksum", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), false},
		{"version 5", resum(edit(func(b []byte) []byte { b[7] = 5; return b })), false},
		{"version 4", seeds[2], true},
		{"too many entries", resum(edit(func(b []byte) []byte { b[8] = 0x7f; return b })), false},
		{"truncated", resum(edit(func(b []byte) []byte { return append(b[:100], make([]byte, indexHashLen)...) })), false},
		{"conflict stage", resum(edit(func(b []byte) []byte { b[indexHeaderLen+entryFlagOffset] |= 0x10; return b })), true},
		{"out of order", resum(edit(func(b []byte) []byte {
			// The first name's first byte past every other name's.
			_, _, flags, _ := entryAt(b, indexHeaderLen)
			hdr := entryFixedLen
			if flags&entryFlagExt != 0 {
				hdr += 2
			}
			b[indexHeaderLen+hdr] = 'z'
			return b
		})), false},
		{"unknown required extension", resum(edit(func(b []byte) []byte {
			i := bytes.Index(b, []byte("TREE"))
			copy(b[i:], "tree")
			return b
		})), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scanIndex(tc.data, true)
			if err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(err, errIndexUnsupported) != tc.unsupported {
				t.Fatalf("err = %v, unsupported want %v", err, tc.unsupported)
			}
		})
	}
	for i, b := range seeds {
		if i == 2 {
			continue
		}
		if _, err := scanIndex(b, true); err != nil {
			t.Errorf("git's index %d: %v", i, err)
		}
	}
}

// TestScanIndexSurvivesMutations runs FuzzScanIndex's checks on seeded
// random mutations of the fuzz seeds (git's index files), so every test
// run covers damaged files, not only a fuzzing session.
func TestScanIndexSurvivesMutations(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzScanIndex")
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var seeds [][]byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		q := strings.TrimSuffix(strings.TrimPrefix(string(b), "go test fuzz v1\n[]byte("), ")\n")
		s, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("%s: %v", n.Name(), err)
		}
		seeds = append(seeds, []byte(s))
	}
	r := rand.New(rand.NewSource(1))
	for range 5000 {
		d := append([]byte{}, seeds[r.Intn(len(seeds))]...)
		for range 1 + r.Intn(4) {
			d[r.Intn(len(d))] = byte(r.Intn(256))
		}
		if r.Intn(4) == 0 {
			d = d[:r.Intn(len(d))]
		}
		if len(d) >= indexHashLen && r.Intn(2) == 0 {
			s := sha1.Sum(d[:len(d)-indexHashLen])
			copy(d[len(d)-indexHashLen:], s[:])
		}
		fuzzIndex(t, d)
		_, _, _ = readEWAH(d, 1024)
	}
}
