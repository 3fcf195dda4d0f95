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
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/google/go-cmp/cmp"
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
		fuzzIndex(t, data, true)
		if len(data) >= indexHashLen {
			// With a valid checksum, to get past it.
			fixed := append([]byte{}, data...)
			sum := sha1.Sum(fixed[:len(fixed)-indexHashLen])
			copy(fixed[len(fixed)-indexHashLen:], sum[:])
			fuzzIndex(t, fixed, true)
		}
		_, _, _ = readEWAH(data, 1024)
	})
}

// fuzzIndex runs FuzzScanIndex's checks on data; checkSplice's only when
// deep is set.
func fuzzIndex(t *testing.T, data []byte, deep bool) {
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
	out, _ := spliceIndex(scanCopy(t, data, 0), files, time.Unix(1767225600, 0))
	if _, err := scanIndex(out.data, true); err != nil {
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
	if deep {
		checkSplice(t, data, ix)
	}
}

// scanCopy scans a copy of data (an index scanIndex accepts) with spare
// bytes of capacity, for spliceIndex to work in.
func scanCopy(t *testing.T, data []byte, spare int) *rawIndex {
	t.Helper()
	ix, err := scanIndex(append(make([]byte, 0, len(data)+spare), data...), false)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// stagedFrom returns files to stage made from ix's names, sorted: with
// kind 0 a mix that replaces entries, deletes some, turns files into
// folders and folders into files; with 1 mostly new entries next to the
// old ones (the file grows: runs move towards the end); with 2 mostly
// deletions (runs move towards the start). Their mtimes are spread over
// the entries'.
func stagedFrom(ix *rawIndex, kind int) []*stagedFile {
	byName := map[string]*stagedFile{}
	for i := range ix.offs {
		name := string(ix.name(i))
		h := plumbing.NewHash(fmt.Sprintf("%040x", i+1))
		st := syscall.Stat_t{Size: int64(i), Ino: uint64(i)}
		m := entryMtime(ix.data[ix.offs[i]:])
		// Around the entry's (as go-git encodes them: nanoseconds
		// within the second).
		setStatMtime(&st, max(int64(m>>32)+int64(i%3)-1, 0), int64(m&0xffffffff)%1e9)
		f := &stagedFile{rel: name, hash: h, mode: filemode.Regular, stat: st}
		switch {
		case kind == 1 && i%7 != 0:
			f.rel += "~" + strings.Repeat("n", i%50)
		case kind == 2 && i%7 != 0:
			f.deleted = true
		case kind == 1, kind == 2:
		case i%5 == 1:
			f.deleted = true
		case i%5 == 2:
			f.rel += "/now-a-folder"
			f.mode = filemode.Executable
		case i%5 == 3:
			k := strings.LastIndexByte(name, '/')
			if k <= 0 {
				continue
			}
			f.rel = name[:k]
		case i%5 == 4:
			continue
		}
		byName[f.rel] = f
	}
	byName["fuzz/new"] = &stagedFile{rel: "fuzz/new", hash: plumbing.NewHash("0123456789abcdef0123456789abcdef01234567"), mode: filemode.Regular}
	files := make([]*stagedFile, 0, len(byName))
	for _, f := range byName {
		files = append(files, f)
	}
	sort.Slice(files, func(a, b int) bool { return files[a].rel < files[b].rel })
	return files
}

// checkSplice stages files (stagedFrom, each kind) into the index data
// (scanned as ix) with spliceIndex, working in place and in a new array,
// and checks both give the same file, with the entries go-git's decoder
// and encoder give (updateIndexGoGit) and the racily clean ones smudged,
// and its offsets, checksum and latest mtime right. Then it splices the
// result again, as CommitFiles does with the index it wrote last, with
// the index's mtime after every entry and in their midst.
func checkSplice(t *testing.T, data []byte, ix *rawIndex) {
	t.Helper()
	var mtimes []uint64
	for _, o := range ix.offs {
		mtimes = append(mtimes, entryMtime(ix.data[o:]))
	}
	slices.Sort(mtimes)
	for kind := range 3 {
		files := stagedFrom(ix, kind)
		// The index's mtime: a middle entry's, so that some are racy.
		var modTime time.Time
		if len(mtimes) > 0 {
			modTime = stampTime(mtimes[len(mtimes)/2])
		}
		var first *rawIndex
		for _, spare := range []int{0, 64 << 10} {
			out := checkSpliceOnce(t, data, scanCopy(t, data, spare), files, modTime)
			if out == nil {
				return // go-git cannot read it: nothing to compare with
			}
			if first == nil {
				first = out
			} else if !bytes.Equal(first.data, out.data) {
				t.Fatal("spliced in place, the index differs from the one built in a new array")
			}
		}
		if len(first.offs) == 0 {
			continue
		}
		var after []uint64
		for _, o := range first.offs {
			after = append(after, entryMtime(first.data[o:]))
		}
		slices.Sort(after)
		again := stagedFrom(first, (kind+1)%3)
		for _, m := range []uint64{after[len(after)-1] + 1, after[len(after)/2]} {
			prev := append(make([]byte, 0, len(first.data)+64<<10), first.data...)
			ix2 := *first
			ix2.data = prev
			ix2.offs = slices.Clone(first.offs)
			checkSpliceOnce(t, slices.Clone(prev), &ix2, again, stampTime(m))
		}
	}
}

// stampTime is the time whose mtimeStamp is m.
func stampTime(m uint64) time.Time {
	return time.Unix(int64(m>>32), int64(m&0xffffffff))
}

// checkSpliceOnce splices files into ix (the index data scanned, in an
// array of its own) and checks the result against go-git's; nil when
// go-git cannot read data.
func checkSpliceOnce(t *testing.T, data []byte, ix *rawIndex, files []*stagedFile, modTime time.Time) *rawIndex {
	t.Helper()
	ref, err := updateIndexGoGit(data, files)
	if err != nil {
		return nil
	}
	want := &index.Index{}
	if err := index.NewDecoder(bytes.NewReader(ref)).Decode(want); err != nil {
		t.Fatalf("go-git's own index does not decode: %v", err)
	}
	staged := map[string]bool{}
	for _, f := range files {
		staged[f.rel] = !f.deleted
	}
	// The entries' mtimes as stored (go-git normalises nanoseconds past
	// a second).
	mtime := map[string]uint64{}
	for i, o := range ix.offs {
		mtime[string(ix.name(i))] = entryMtime(ix.data[o:])
	}
	for _, e := range want.Entries {
		racy := !modTime.IsZero() && mtime[e.Name] >= mtimeStamp(modTime)
		if t := uint32(e.Mode) & 0o170000; !staged[e.Name] && racy && (t == 0o100000 || t == 0o120000) {
			e.Size = 0
		}
	}
	out, sum := spliceIndex(ix, files, modTime)
	back, err := scanIndex(out.data, true)
	if err != nil {
		t.Fatalf("a spliced index does not scan: %v", err)
	}
	if !slices.Equal(back.offs, out.offs) || back.end != out.end {
		t.Fatalf("spliced offsets %v (end %d), scanned %v (end %d)", out.offs, out.end, back.offs, back.end)
	}
	if !bytes.Equal(sum[:], out.data[len(out.data)-indexHashLen:]) {
		t.Fatal("the checksum returned is not the file's")
	}
	for _, o := range out.offs {
		if e := out.data[o:]; isFileEntry(e) && (!out.mtimeKnown || entryMtime(e) > out.maxMtime) {
			t.Fatalf("an entry's mtime %x is past the latest known, %x (%v)", entryMtime(e), out.maxMtime, out.mtimeKnown)
		}
	}
	got := &index.Index{}
	if err := index.NewDecoder(bytes.NewReader(out.data)).Decode(got); err != nil {
		t.Fatalf("go-git cannot read a spliced index: %v", err)
	}
	if d := cmp.Diff(want.Entries, got.Entries); d != "" {
		t.Fatalf("spliced entries differ from go-git's (-go-git +spliceIndex):\n%s", d)
	}
	return out
}

// fuzzSplit points the split index data (scanned as ix) at a shared index
// of 200 entries and, when it reads, checks that staging files into it and
// writing it split reads back as the same entries as writing it whole.
func fuzzSplit(t *testing.T, data []byte, ix *rawIndex) {
	if len(ix.link) < indexHashLen {
		// No shared index hash to point elsewhere: the view must refuse
		// the extension.
		var c indexCache
		if _, err := c.splitView(ix, t.TempDir(), false); err == nil {
			t.Fatal("a link extension shorter than a hash was read")
		}
		return
	}
	var files []*stagedFile
	for i := range 200 {
		files = append(files, &stagedFile{rel: fmt.Sprintf("s/%03d", i), hash: plumbing.NewHash("0123456789abcdef0123456789abcdef01234567"), mode: 0o100644})
	}
	shared, sum := spliceIndex(&rawIndex{data: emptyIndex(), version: indexVersionNew, end: indexHeaderLen, mtimeKnown: true}, files, time.Time{})
	dir := t.TempDir()
	if err := os.WriteFile(sharedIndexPath(dir, sum[:]), shared.data, 0o644); err != nil {
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
	for i := range 5000 {
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
		// The slower differential checks on one in ten.
		fuzzIndex(t, d, i%10 == 0)
		_, _, _ = readEWAH(d, 1024)
	}
}

// TestSpliceIndexMovesEntriesInPlace runs checkSplice on indexes of
// random names (written by go-git's encoder), large enough that the runs
// of entries spliceIndex moves in place go both ways, and overlap.
func TestSpliceIndexMovesEntriesInPlace(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, n := range []int{1, 7, 64, 500, 1500} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			seen := map[string]bool{}
			var files []*stagedFile
			for len(files) < n {
				var name []byte
				for range 1 + r.Intn(4) {
					if len(name) > 0 {
						name = append(name, '/')
					}
					name = append(name, "abcd-._"[r.Intn(7)], byte('0'+r.Intn(3)))
					name = append(name, strings.Repeat("x", r.Intn(20))...)
				}
				if seen[string(name)] {
					continue
				}
				seen[string(name)] = true
				st := syscall.Stat_t{Size: int64(r.Intn(1000)), Ino: uint64(len(files))}
				setStatMtime(&st, int64(1767225600+r.Intn(100)), 0)
				files = append(files, &stagedFile{rel: string(name), hash: plumbing.NewHash(fmt.Sprintf("%040x", len(files)+1)), mode: filemode.Regular, stat: st})
			}
			sort.Slice(files, func(a, b int) bool { return files[a].rel < files[b].rel })
			data, err := updateIndexGoGit(nil, files)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := scanIndex(data, true)
			if err != nil {
				t.Fatal(err)
			}
			checkSplice(t, data, ix)
		})
	}
}
