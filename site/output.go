package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"iter"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/jsonscan"
	"github.com/spinehq/spine/internal/jsonw"
	"github.com/spinehq/spine/internal/mapfile"
)

// manifestEntry records one file of the site.
type manifestEntry struct {
	// Key hashes the inputs the file was made from ("" for pages that are
	// always rendered).
	Key string
	// SHA is the hash of the file's content.
	SHA string
}

// manifest maps each file of the site (slash-separated, relative to the
// output folder) to its entry.
type manifest struct {
	files map[string]manifestEntry
	// onDisk is set when the output folder holds exactly this manifest.
	onDisk bool
	// sorted lists the paths of files in order, when known (the
	// manifest's file lists them so): encodeTo then need not sort them.
	sorted []string
	// keepLines is set for a Builder that builds again (serve): encodeTo
	// then keeps lines, the JSON line of each path of sorted with the
	// entry it encodes, and the next encoding reuses a line whose entry
	// did not change. A rebuild after one loop changed re-encodes a few
	// entries instead of 20,000 (about 18 ms of a 70 ms rebuild).
	keepLines bool
	lines     []manifestLine
}

// manifestLine is one file's line of the manifest's JSON, with the entry
// it encodes.
type manifestLine struct {
	e    manifestEntry
	line []byte
}

// manifestFile is the JSON form of the manifest.
type manifestFile struct {
	Generator string      `json:"generator"`
	Files     [][3]string `json:"files"`
}

// readManifest reads the output folder's manifest; a missing or unreadable
// one gives an empty manifest (everything is then written). With mapped
// set the file is mapped rather than read (readOutFile).
func readManifest(out string, mapped bool) *manifest {
	m := &manifest{files: map[string]manifestEntry{}}
	data, err := readOutFile(filepath.Join(out, ManifestName), mapped)
	if err != nil {
		return m
	}
	// A manifest whose site is gone (the folder emptied but for it)
	// describes nothing.
	if _, err := os.Lstat(filepath.Join(out, "index.html")); err != nil {
		return m
	}
	defer func() {
		// A build stopped halfway left pages this manifest does not
		// describe (see writer.markBuilding).
		if _, err := os.Lstat(filepath.Join(out, BuildingName)); err == nil {
			m.forget()
		}
	}()
	files, ok := parseManifestFast(data)
	if !ok {
		var mf manifestFile
		if err := json.Unmarshal(data, &mf); err != nil || mf.Generator != generator {
			return m
		}
		files = mf.Files
	}
	m.files = make(map[string]manifestEntry, len(files))
	sorted := make([]string, 0, len(files))
	for _, f := range files {
		if !validOutPath(f[0]) {
			continue
		}
		m.files[f[0]] = manifestEntry{Key: f[1], SHA: f[2]}
		switch {
		case sorted == nil:
		case len(sorted) > 0 && sorted[len(sorted)-1] >= f[0]:
			sorted = nil // not in order, or twice: encodeTo sorts
		default:
			sorted = append(sorted, f[0])
		}
	}
	m.onDisk = true
	m.sorted = sorted
	return m
}

// forget keeps the manifest's list of files and drops what it says of
// them: no page is taken for one made from the same inputs or with the
// same content, so every file is written again (a build stopped halfway,
// or Options.Full), and the files of the list that no page makes any more
// are still removed.
func (m *manifest) forget() {
	for p := range m.files {
		m.files[p] = manifestEntry{}
	}
	m.onDisk, m.lines = false, nil
}

// readOutFile returns the content of a file the site keeps in its output
// folder or its state folder. With mapped set (a one-shot build) it is a read-only mapping of
// the file (mapfile.ReadString), which must not be written to, instead of
// fresh memory. The site replaces these files by renaming new ones into
// place, which leaves a mapping of the old one intact.
func readOutFile(path string, mapped bool) ([]byte, error) {
	s, err := mapfile.ReadString(path, mapped)
	if err != nil || s == "" {
		return nil, err
	}
	return unsafe.Slice(unsafe.StringData(s), len(s)), nil
}

// parseManifestFast decodes a manifest as encode writes it (this
// generator's, one file a line, no escapes needed), as json.Unmarshal
// would; ok is false for anything else, left to json.Unmarshal. The
// strings share data.
func parseManifestFast(data []byte) (files [][3]string, ok bool) {
	header := `{"generator":` + strconv.Quote(generator) + `,"files":[`
	if !bytes.HasPrefix(data, []byte(header)) {
		return nil, false
	}
	d := jsonscan.Scanner{B: data, I: len(header)}
	files = make([][3]string, 0, bytes.Count(data, []byte("\n[")))
	if d.Peek() == ']' {
		d.I++
	} else {
		for !d.Bad {
			var f [3]string
			d.Expect('[')
			f[0] = d.Str()
			d.Expect(',')
			f[1] = d.Str()
			d.Expect(',')
			f[2] = d.Str()
			d.Expect(']')
			files = append(files, f)
			if d.Peek() == ',' {
				d.I++
				continue
			}
			d.Expect(']')
			break
		}
	}
	d.Expect('}')
	d.WS()
	if d.Bad || d.I != len(d.B) {
		return nil, false
	}
	return files, true
}

// encode returns the manifest's JSON: sorted, one file a line.
func (m *manifest) encode() []byte {
	var b bytes.Buffer
	b.Grow(len(m.files) * 128)
	m.encodeTo(&b) //nolint:errcheck // a bytes.Buffer does not fail
	return b.Bytes()
}

// encodeTo writes the manifest's JSON to out, in pieces of about 32 KiB.
// It records the order of the paths in m.sorted, and with m.keepLines
// each path's line in m.lines, reusing those of the last encoding.
func (m *manifest) encodeTo(out io.Writer) error {
	// The entries in the order of paths, each looked up once (a lookup
	// hashes the path: a few milliseconds for 20,000 of them).
	paths, prev := m.sorted, m.lines
	entries, ok := m.entriesOf(paths)
	if !ok {
		paths = make([]string, 0, len(m.files))
		for p := range m.files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		entries, _ = m.entriesOf(paths)
		prev = nil
	}
	if len(prev) != len(paths) {
		prev = nil
	}
	var lines []manifestLine
	if m.keepLines {
		lines = make([]manifestLine, len(paths))
	}
	var b bytes.Buffer
	b.WriteString(`{"generator":` + strconv.Quote(generator) + `,"files":[`)
	for i, p := range paths {
		if b.Len() >= 32<<10 {
			if _, err := out.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
		if i > 0 {
			b.WriteByte(',')
		}
		e := entries[i]
		if prev != nil && prev[i].e == e {
			b.Write(prev[i].line)
			lines[i] = prev[i]
			continue
		}
		start := b.Len()
		b.WriteString("\n[")
		writeJSONString(&b, p)
		b.WriteByte(',')
		writeJSONString(&b, e.Key)
		b.WriteByte(',')
		writeJSONString(&b, e.SHA)
		b.WriteByte(']')
		if lines != nil {
			lines[i] = manifestLine{e: e, line: bytes.Clone(b.Bytes()[start:])}
		}
	}
	b.WriteString("\n]}\n")
	m.sorted, m.lines = paths, lines
	_, err := out.Write(b.Bytes())
	return err
}

// entriesOf returns the entries of paths, in their order, if the
// distinct strings paths are the keys of m.files.
func (m *manifest) entriesOf(paths []string) ([]manifestEntry, bool) {
	if paths == nil || len(paths) != len(m.files) {
		return nil, false
	}
	entries := make([]manifestEntry, len(paths))
	for i, p := range paths {
		e, ok := m.files[p]
		if !ok {
			return nil, false
		}
		entries[i] = e
	}
	return entries, true
}

// validOutPath reports whether p is a path the site may write or remove:
// relative, clean, slash-separated, made of safe components.
func validOutPath(p string) bool {
	if p == "" || p == ManifestName || p == BuildingName || !filepath.IsLocal(filepath.FromSlash(p)) || path.Clean(p) != p {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c[0] == '.' {
			return false
		}
		for i := 0; i < len(c); i++ {
			ch := c[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
				return false
			}
		}
	}
	return true
}

// contentHash returns the hash recorded for file content.
func contentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return shortHash(sum[:])
}

// shortHash is the manifest's form of a SHA-256 sum: its first 16 bytes
// in hex.
func shortHash(sum []byte) string { return hex.EncodeToString(sum[:16]) }

// keyer hashes the inputs of a page into its key. Inputs are written,
// length-prefixed, to a hash through a small buffer, so that large inputs
// (a document's source) are hashed in place instead of copied.
type keyer struct {
	h   hash.Hash
	n   int
	buf [256]byte
}

func newKeyer(parts ...string) *keyer {
	k := &keyer{h: sha256.New()}
	for _, p := range parts {
		k.str(p)
	}
	return k
}

// reset empties the keyer for another key.
func (k *keyer) reset() {
	k.h.Reset()
	k.n = 0
}

// flush hashes the buffered bytes.
func (k *keyer) flush() {
	k.h.Write(k.buf[:k.n])
	k.n = 0
}

// put adds raw bytes.
func (k *keyer) put(s string) {
	if k.n+len(s) > len(k.buf) {
		k.flush()
		if len(s) > len(k.buf)/2 {
			k.h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
			return
		}
	}
	k.n += copy(k.buf[k.n:], s)
}

// num adds a decimal number followed by sep.
func (k *keyer) num(v int64, sep byte) {
	if k.n+21 > len(k.buf) {
		k.flush()
	}
	k.n = len(strconv.AppendInt(k.buf[:k.n], v, 10))
	k.buf[k.n] = sep
	k.n++
}

// str adds a length-prefixed string.
func (k *keyer) str(s string) *keyer {
	k.num(int64(len(s)), ':')
	k.put(s)
	return k
}

// bytes adds length-prefixed bytes.
func (k *keyer) bytes(b []byte) *keyer { return k.str(unsafeString(b)) }

// bool adds a flag.
func (k *keyer) bool(v bool) *keyer {
	if v {
		k.put("1")
	} else {
		k.put("0")
	}
	return k
}

// int adds a number.
func (k *keyer) int(v int64) *keyer {
	k.num(v, ';')
	return k
}

func (k *keyer) sum() string {
	k.flush()
	var s [sha256.Size]byte
	return hex.EncodeToString(k.h.Sum(s[:0])[:16])
}

// writer carries out the file operations of one build.
type writer struct {
	out  string
	old  *manifest
	mu   sync.Mutex
	next map[string]manifestEntry
	dirs sync.Map
	// dropped, when droppedKnown, holds every path of the previous
	// manifest that next did not start with (Builder.carry): only those
	// can be missing from next at the end, so finish need not look up
	// the others (22,000 paths: milliseconds of a rebuild).
	dropped      []string
	droppedKnown bool

	written, unchanged atomic.Int64
	wpaths             []string
	// dirty is set when an entry differs from the previous manifest.
	dirty atomic.Bool
	// final is the manifest finish left in the output folder.
	final *manifest
	// markOnce creates the output folder's BuildingName marker before the
	// first file this build writes (markBuilding); marked records that
	// it did, markErr how it failed.
	markOnce sync.Once
	marked   bool
	markErr  error
}

// markBuilding marks the output folder as being written (BuildingName),
// once, before the first file of this build is written: a build stopped
// halfway (killed, a full disk) leaves pages that its manifest does not
// describe, and the marker tells the next build to trust none of the
// manifest's keys and hashes (readManifest), only its list of files.
// finish removes it once the new manifest is in place.
func (w *writer) markBuilding() error {
	w.markOnce.Do(func() {
		if err := w.mkdir(w.out); err != nil {
			w.markErr = err
			return
		}
		f, err := createFresh(filepath.Join(w.out, BuildingName))
		if err != nil {
			w.markErr = fmt.Errorf("site: %w", err)
			return
		}
		if err := f.Close(); err != nil {
			w.markErr = fmt.Errorf("site: %w", err)
			return
		}
		w.marked = true
	})
	return w.markErr
}

// reuse reports whether every path was made from inputs with this key by
// the previous build; if so it records them in the new manifest.
func (w *writer) reuse(key string, paths ...string) bool {
	if key == "" {
		return false
	}
	for _, p := range paths {
		if e, ok := w.old.files[p]; !ok || e.Key != key {
			return false
		}
	}
	w.mu.Lock()
	for _, p := range paths {
		w.next[p] = w.old.files[p]
	}
	w.mu.Unlock()
	w.unchanged.Add(int64(len(paths)))
	return true
}

// emit writes a file made from data unless the previous build wrote the
// same bytes.
func (w *writer) emit(p, key string, data []byte) error {
	if !validOutPath(p) {
		return fmt.Errorf("site: refusing to write %q", p)
	}
	sha := contentHash(data)
	e, had := w.old.files[p]
	if had && e.SHA == sha {
		w.record(p, manifestEntry{Key: key, SHA: sha}, false)
		return nil
	}
	if err := w.markBuilding(); err != nil {
		return err
	}
	full := filepath.Join(w.out, filepath.FromSlash(p))
	if err := w.mkdir(filepath.Dir(full)); err != nil {
		return err
	}
	write := writeFileAtomic
	if !had {
		// A new file: nobody reads it yet, so no need for a rename.
		write = writeFileDirect
	}
	if err := write(full, data); err != nil {
		return fmt.Errorf("site: write %s: %w", p, err)
	}
	w.record(p, manifestEntry{Key: key, SHA: sha}, true)
	return nil
}

// emitStream is emit for content too large to hold in memory (search.json
// of a large site): fill writes it, through a hash, to a temporary file
// that replaces p unless the previous build wrote the same content
// (writeStream). A writer error sticks: fill's later writes do nothing and
// it is returned.
func (w *writer) emitStream(p, key string, fill func(out io.Writer) error) error {
	if !validOutPath(p) {
		return fmt.Errorf("site: refusing to write %q", p)
	}
	if err := w.markBuilding(); err != nil {
		return err
	}
	full := filepath.Join(w.out, filepath.FromSlash(p))
	if err := w.mkdir(filepath.Dir(full)); err != nil {
		return err
	}
	h := sha256.New()
	var sha string
	written, err := writeStream(full, func(out io.Writer) error {
		return fill(io.MultiWriter(out, h))
	}, func() bool {
		sha = shortHash(h.Sum(nil))
		e, had := w.old.files[p]
		return !had || e.SHA != sha
	})
	if err != nil {
		return fmt.Errorf("site: write %s: %w", p, err)
	}
	w.record(p, manifestEntry{Key: key, SHA: sha}, written)
	return nil
}

// emitCopy copies the file src (whose content hash sha is known) unless the
// previous build wrote the same content.
func (w *writer) emitCopy(p, key, src, sha string) error {
	if !validOutPath(p) {
		return fmt.Errorf("site: refusing to write %q", p)
	}
	sha = shortSHA(sha)
	if e, ok := w.old.files[p]; ok && e.SHA == sha {
		w.record(p, manifestEntry{Key: key, SHA: sha}, false)
		return nil
	}
	if err := w.markBuilding(); err != nil {
		return err
	}
	full := filepath.Join(w.out, filepath.FromSlash(p))
	if err := w.mkdir(filepath.Dir(full)); err != nil {
		return err
	}
	if err := copyFile(src, full); err != nil {
		return fmt.Errorf("site: copy %s: %w", p, err)
	}
	w.record(p, manifestEntry{Key: key, SHA: sha}, true)
	return nil
}

// shortSHA cuts a full hex sha256 to the manifest's length.
func shortSHA(sha string) string {
	if len(sha) > 32 {
		return sha[:32]
	}
	return sha
}

func (w *writer) record(p string, e manifestEntry, written bool) {
	if old, ok := w.old.files[p]; !ok || old != e {
		w.dirty.Store(true)
	}
	w.mu.Lock()
	w.next[p] = e
	if written {
		w.wpaths = append(w.wpaths, p)
	}
	w.mu.Unlock()
	if written {
		w.written.Add(1)
	} else {
		w.unchanged.Add(1)
	}
}

// mkdir creates dir and its missing parents inside the output folder,
// each known to be a folder (not a symbolic link put in the output folder,
// through which pages would land anywhere: .git, receipts/) before
// anything is made in it. The output folder itself is checked before
// the build. Each folder is looked at once a build.
func (w *writer) mkdir(dir string) error {
	if _, ok := w.dirs.Load(dir); ok {
		return nil
	}
	if dir == w.out || !strings.HasPrefix(dir, w.out+string(filepath.Separator)) {
		// The output folder (checked before the build) and its parents.
		if err := os.MkdirAll(dir, fsx.DirMode); err != nil {
			return fmt.Errorf("site: %w", err)
		}
		w.dirs.Store(dir, true)
		return nil
	}
	if err := w.mkdir(filepath.Dir(dir)); err != nil {
		return err
	}
	err := os.Mkdir(dir, fsx.DirMode)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("site: %w", err)
	}
	if err != nil {
		if fi, lerr := os.Lstat(dir); lerr != nil {
			return fmt.Errorf("site: %w", lerr)
		} else if !fi.IsDir() {
			return fmt.Errorf("site: %s is not a folder (a symbolic link?): spine writes no page through it; remove it", dir)
		}
	}
	w.dirs.Store(dir, true)
	return nil
}

// A file the build makes under a name of its own (a temporary file, the
// marker) is made anew, O_EXCL: whatever is at the name (a file a crash
// left, or a symbolic or hard link put in the output folder, which
// O_TRUNC would write through, onto a receipt) is removed, not opened.
// The common case, nothing there, costs one system call.

// writeNew writes data to path as a new file (see above; fsx.WriteFile
// also opens with O_NOFOLLOW where there is one).
func writeNew(path string, data []byte) error {
	err := fsx.WriteFile(path, data, os.O_EXCL, fsx.FileMode)
	if errors.Is(err, fs.ErrExist) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		err = fsx.WriteFile(path, data, os.O_EXCL, fsx.FileMode)
	}
	return err
}

// createFresh creates path as a new file for writing (see above).
func createFresh(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fsx.FileMode)
	if errors.Is(err, fs.ErrExist) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fsx.FileMode)
	}
	return f, err
}

// copyFile copies src to dst through a temporary file, without following
// a symlink at src.
func copyFile(src, dst string) error {
	in, err := openNoFollow(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".spine-tmp"
	out, err := createFresh(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// finish removes the files of the previous build that this one did not
// make, then writes the manifest, which it leaves in w.final, and then
// removes the marker of a build under way (markBuilding).
func (w *writer) finish() (removed []string, err error) {
	removed, err = w.finishManifest()
	if err == nil && w.marked {
		if err := os.Remove(filepath.Join(w.out, BuildingName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("site: %w", err)
		}
	}
	return removed, err
}

// finishManifest is finish but for the marker.
func (w *writer) finishManifest() (removed []string, err error) {
	for p := range w.gone() {
		if _, ok := w.next[p]; ok || !validOutPath(p) {
			continue
		}
		full := filepath.Join(w.out, filepath.FromSlash(p))
		if dir := path.Dir(p); dir != "." {
			// Not through a symbolic link put in the output folder: it
			// would remove a file anywhere.
			if _, _, err := artifacts.SafeLstat(w.out, dir); err != nil {
				return nil, fmt.Errorf("site: remove %s: %w (symbolic link not followed: spine removes no page through one; remove it)", p, err)
			}
		}
		if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("site: remove %s: %w", p, err)
		}
		removed = append(removed, p)
		// Remove the folders it leaves empty, up to the output folder.
		for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if os.Remove(filepath.Join(w.out, filepath.FromSlash(dir))) != nil {
				break
			}
		}
	}
	sort.Strings(removed)
	// The paths are those of the last manifest but for pages made or
	// removed: its order and lines serve when they are the same paths.
	m := &manifest{files: w.next, sorted: w.old.sorted, keepLines: w.old.keepLines, lines: w.old.lines}
	w.final = m
	if !w.dirty.Load() && len(removed) == 0 && len(w.next) == len(w.old.files) && w.old.onDisk {
		return removed, nil // the manifest on disk is already this one
	}
	mp := filepath.Join(w.out, ManifestName)
	// The manifest is written as it is encoded, not first encoded whole
	// (22,000 pages: 3 MB of fresh memory, more than its encoding costs),
	// where there is nothing to compare it with: the one on disk is the
	// previous one, which differs (see above), or there is none (a new
	// output folder).
	fresh := false
	if !w.old.onDisk {
		_, err := os.Lstat(mp)
		fresh = errors.Is(err, fs.ErrNotExist)
	}
	if w.old.onDisk || fresh {
		if fresh {
			if err := w.mkdir(w.out); err != nil {
				return nil, err
			}
		}
		if _, err := writeStream(mp, m.encodeTo, nil); err != nil {
			return nil, fmt.Errorf("site: write manifest: %w", err)
		}
		return removed, nil
	}
	data := m.encode()
	if old, err := os.ReadFile(mp); err != nil || !bytes.Equal(old, data) {
		if err := w.mkdir(w.out); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(mp, data); err != nil {
			return nil, fmt.Errorf("site: write manifest: %w", err)
		}
	}
	return removed, nil
}

// gone yields the paths of the previous manifest that may be missing from
// next: those carry dropped when it ran, else every one.
func (w *writer) gone() iter.Seq[string] {
	if w.droppedKnown {
		return slices.Values(w.dropped)
	}
	return maps.Keys(w.old.files)
}

// job makes one or more files of the site.
type job func(w *writer) error

// runJobs runs jobs on GOMAXPROCS workers and returns the first error.
func runJobs(ctx context.Context, w *writer, jobs []job) error {
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), max(1, len(jobs)))
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) || ctx.Err() != nil {
					return
				}
				if err := jobs[i](w); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// writeJSONString appends s to b as a JSON string, as encoding/json
// writes it: <, > and & escaped too, so that the text is inert wherever it
// ends up.
func writeJSONString(b *bytes.Buffer, s string) {
	b.Grow(len(s) + 8)
	b.Write(jsonw.AppendString(b.AvailableBuffer(), s))
}
