package loops

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/spinehq/spine/internal/exeid"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/mapfile"
	"github.com/spinehq/spine/internal/varbin"
)

// A Cache remembers parsed documents by their path and content, so that a
// command run again over unchanged documents reads each file but does not
// parse it again: on 5,000 documents parsing is most of the time `spine
// status` and `spine plan` take.
//
// An entry is found by the SHA-256 of the document's path and bytes, never
// by file times, so a cached model is the one Parse returns for exactly
// those bytes. The cache file also records the identity of the executable
// that wrote it (path, size, modification time): another build of spine
// starts from an empty cache, so a change to the parser can never be
// answered from a model an older parser made. The file ends with a CRC-32C
// of its contents; a cache that is corrupt, truncated or of another format
// is ignored, not trusted.
//
// Documents parsed because the cache did not hold them are written to the
// next cache file as they are parsed, not kept in memory until Save.
//
// A Cache is safe for concurrent use by the workers of LoadWith.
type Cache struct {
	path     string
	identity string
	// data holds the file read at open; old maps an entry's key to its
	// encoded document, a substring of data.
	data string
	old  map[cacheKey]string

	mu sync.Mutex
	// used holds the entries of old this load used.
	used map[cacheKey]string
	// next is the cache file being written, opened at the first document
	// parsed; nil until then.
	next *cacheFile
	// stale is set when the file at path must be replaced even if no
	// document was parsed (it is damaged, or of another build).
	stale bool
	// hits and misses count the documents taken from the cache and parsed.
	hits, misses int
}

// cacheFile is a cache file being written: a temporary file renamed into
// place by Save.
type cacheFile struct {
	f   *os.File
	bw  *bufio.Writer
	sum hash.Hash32
	err error
	// scratch holds an entry's header while it is written.
	scratch []byte
}

// cacheKey is the SHA-256 of a document's path and content.
type cacheKey [sha256.Size]byte

// cacheMagic starts a cache file; the digit is the encoding's version,
// raised when the encoding of a document, or what Parse makes of one,
// changes.
const cacheMagic = "spine-docs-cache 7\n"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// crc32Checksum is the CRC-32C that ends a cache file.
func crc32Checksum(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

// OpenCache opens the document cache at path, which need not exist. A
// cache file that cannot be read, was written by another spine build or is
// corrupt gives an empty cache (the documents are then parsed, and Save
// replaces the file). identity names the program reading the cache;
// ExecutableIdentity gives the running binary's.
func OpenCache(path, identity string) *Cache { return openCache(path, identity, false) }

// OpenCacheMapped is OpenCache reading the file through a memory mapping
// that lasts until the process exits (mapfile.ReadString), which costs far
// less than reading it into fresh memory: for commands that load the
// documents once and exit, never for a long-running process that loads
// them again and again.
func OpenCacheMapped(path, identity string) *Cache { return openCache(path, identity, true) }

func openCache(path, identity string, mapped bool) *Cache {
	c := &Cache{path: path, identity: identity, used: map[cacheKey]string{}}
	if identity == "" {
		return c
	}
	data, err := mapfile.ReadString(path, mapped)
	if err != nil {
		return c
	}
	if old, ok := decodeCacheFile(data, identity); ok {
		c.data, c.old = data, old
	} else {
		// Whatever the file holds is not usable: the next Save rewrites it.
		c.stale = true
	}
	return c
}

// ExecutableIdentity describes the running executable, for OpenCache: its
// Go build ID (exeid.Identity), so that a spine built from other code has
// another identity and does not answer from an older build's parse. It is
// "" when the executable cannot be read, and a Cache with an empty
// identity never reads or writes its file.
func ExecutableIdentity() string { return exeid.Identity() }

// decodeCacheFile checks a cache file and indexes its entries, which are
// substrings of data: the decoded documents' strings share its memory
// instead of copying it (fresh memory is what costs most when loading).
func decodeCacheFile(data, identity string) (map[cacheKey]string, bool) {
	if len(data) < len(cacheMagic)+4 || data[:len(cacheMagic)] != cacheMagic {
		return nil, false
	}
	body := data[:len(data)-4]
	// The checksum reads the string's bytes in place; nothing writes them.
	if crc32Checksum(unsafe.Slice(unsafe.StringData(body), len(body))) != binary.LittleEndian.Uint32([]byte(data[len(body):])) {
		return nil, false
	}
	r := newCacheReader(body, len(cacheMagic))
	if r.Str() != identity || r.Err != nil {
		return nil, false
	}
	// Entries (key, length, encoded document) follow to the end; an
	// average document encodes to about 2 KB.
	old := make(map[cacheKey]string, (len(body)-r.Off)/2048)
	for r.Off < len(body) {
		var k cacheKey
		copy(k[:], r.Bytes(len(k)))
		enc := r.Str()
		if r.Err != nil {
			return nil, false
		}
		old[k] = enc
	}
	return old, true
}

// parseScratch holds the buffers one goroutine reuses from one document
// to the next while parsing: the cache entry's encoding and a stage's
// steps.
type parseScratch struct {
	enc   []byte
	steps []Step
}

// key is the cache key of the document at path with content src.
func key(path string, src []byte) cacheKey {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(path)))])
	h.Write([]byte(path))
	h.Write(src)
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// parse returns the document at path with content src from the cache, or
// parses it and records it; scratch holds the caller's buffers.
func (c *Cache) parse(path string, src []byte, scratch *parseScratch) *Document {
	if c == nil || c.identity == "" {
		d := parseWith(path, src, &scratch.steps)
		d.BlobID = GitBlobID(src)
		return d
	}
	k := key(path, src)
	if enc, ok := c.old[k]; ok {
		if d, err := decodeDocument(enc); err == nil && d.Path == path {
			d.Source = src
			c.mu.Lock()
			c.used[k] = enc
			c.hits++
			c.mu.Unlock()
			return d
		}
	}
	d := parseWith(path, src, &scratch.steps)
	d.BlobID = GitBlobID(src)
	w := &cacheWriter{b: scratch.enc[:0]}
	err := w.document(d)
	scratch.enc = w.b
	c.mu.Lock()
	c.misses++
	if err == nil {
		c.spill(k, w.b)
	} else {
		// Not cached: the file must still be rewritten without it.
		c.stale = true
	}
	c.mu.Unlock()
	return d
}

// spill writes one entry to the next cache file, creating it first. An
// error is kept for Save, which then leaves the old file in place. c.mu
// is held.
func (c *Cache) spill(k cacheKey, enc []byte) {
	c.openNext()
	c.next.entry(k, enc)
}

// openNext creates the next cache file and writes its header, unless it
// exists. c.mu is held.
func (c *Cache) openNext() {
	if c.next != nil {
		return
	}
	c.next = &cacheFile{}
	if err := os.MkdirAll(filepath.Dir(c.path), fsx.DirMode); err != nil {
		c.next.err = err
		return
	}
	f, err := os.OpenFile(c.tmpPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fsx.FileMode)
	if err != nil {
		c.next.err = err
		return
	}
	c.next.f, c.next.sum = f, crc32.New(crcTable)
	c.next.bw = bufio.NewWriterSize(io.MultiWriter(f, c.next.sum), 64<<10)
	w := &cacheWriter{b: []byte(cacheMagic)}
	w.str(c.identity)
	c.next.bw.Write(w.b)
}

// entry writes one entry: key, length, encoded document.
func (nf *cacheFile) entry(k cacheKey, enc []byte) {
	if nf.err != nil {
		return
	}
	w := &cacheWriter{b: append(nf.scratch[:0], k[:]...)}
	w.uint(uint64(len(enc)))
	nf.scratch = w.b
	nf.bw.Write(w.b)
	if _, err := nf.bw.Write(enc); err != nil {
		nf.err = err
	}
}

func (c *Cache) tmpPath() string { return fmt.Sprintf("%s.tmp-%d", c.path, os.Getpid()) }

// Save writes the cache back when this load parsed a document it did not
// hold or left one of its entries unused, so the file holds exactly the
// documents last loaded. The new file is written beside the old one and
// renamed into place: a reader sees the old cache or the new one.
func (c *Cache) Save() error {
	if c == nil || c.identity == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil && !c.stale && len(c.used) == len(c.old) {
		return nil
	}
	// Nothing parsed but entries to drop, or a damaged file: the file is
	// rewritten with the entries used.
	c.openNext()
	nf := c.next
	c.next = nil
	for k, enc := range c.used {
		nf.entry(k, unsafe.Slice(unsafe.StringData(enc), len(enc)))
	}
	err := nf.err
	if err == nil {
		err = nf.bw.Flush()
	}
	if err == nil {
		_, err = nf.f.Write(binary.LittleEndian.AppendUint32(nil, nf.sum.Sum32()))
	}
	if nf.f != nil {
		if cerr := nf.f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(c.tmpPath(), c.path)
	}
	if err != nil {
		os.Remove(c.tmpPath())
		return fmt.Errorf("document cache: %w", err)
	}
	c.stale = false
	c.removeStaleTemps()
	return nil
}

// removeStaleTemps removes the temporary files that processes killed while
// saving (see tmpPath) left beside the cache. A file whose process may
// still be running, or whose name is not one of ours, is left alone.
func (c *Cache) removeStaleTemps() {
	prefix := filepath.Base(c.path) + ".tmp-"
	des, err := os.ReadDir(filepath.Dir(c.path))
	if err != nil {
		return
	}
	for _, de := range des {
		name := de.Name()
		if len(name) <= len(prefix) || name[:len(prefix)] != prefix || !de.Type().IsRegular() {
			continue
		}
		pid, err := strconv.Atoi(name[len(prefix):])
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.Remove(filepath.Join(filepath.Dir(c.path), name))
	}
}

// errUnencodable is returned for a metadata value of a type the cache does
// not encode; such a document is parsed every time.
var errUnencodable = errors.New("metadata value of an unencodable type")

// encodeDocument encodes every field of a parsed document but Source.
func encodeDocument(d *Document) ([]byte, error) {
	w := &cacheWriter{}
	err := w.document(d)
	return w.b, err
}

// document appends the encoding of every field of d but Source. Slices
// keep the difference between nil and empty: `spine status --json` prints
// one as null and the other as [].
func (w *cacheWriter) document(d *Document) error {
	for _, s := range []string{d.Path, d.LoopID, d.IDFrom, d.FileID, d.Title, d.Status, d.RawStatus, string(d.MetaSource)} {
		w.str(s)
	}
	w.int(int64(d.BodyLine))
	w.int(int64(d.BodyOffset))
	w.len(d.Meta == nil, len(d.Meta))
	for _, f := range d.Meta {
		w.str(f.Key)
		w.int(int64(f.Line))
		if err := w.value(f.Value, 0); err != nil {
			return err
		}
	}
	w.len(d.Stages == nil, len(d.Stages))
	for i := range d.Stages {
		st := &d.Stages[i]
		w.str(st.Number)
		w.str(st.Title)
		w.int(int64(st.Level))
		w.int(int64(st.Line))
		w.len(st.Steps == nil, len(st.Steps))
		for j := range st.Steps {
			w.step(&st.Steps[j])
		}
	}
	for _, l := range [][]string{d.RunKeys, d.GapIDs, d.LoopRefs} {
		w.strs(l)
	}
	w.len(d.Evidence == nil, len(d.Evidence))
	for _, e := range d.Evidence {
		for _, s := range []string{e.Stage, e.RunKey, e.Status, e.Step, e.Text} {
			w.str(s)
		}
		w.int(int64(e.Line))
	}
	w.len(d.Problems == nil, len(d.Problems))
	for _, p := range d.Problems {
		w.str(p.Path)
		w.int(int64(p.Line))
		w.str(string(p.Level))
		w.str(p.Message)
	}
	w.str(string(d.BlobID[:]))
	return nil
}

func (w *cacheWriter) step(s *Step) {
	for _, v := range []string{string(s.Kind), s.Name, s.Lang, s.Command, s.Cap, s.Gate, s.Host, s.Artifact, s.After, s.Pack} {
		w.str(v)
	}
	w.len(s.Attrs == nil, len(s.Attrs))
	for _, a := range s.Attrs {
		w.str(a.Key)
		w.str(a.Value)
	}
	w.int(int64(s.Line))
	w.int(int64(s.Timeout))
	var flags uint64
	for i, b := range []bool{s.Checked, s.Destructive, s.AllowFailure, s.Idempotent, s.Background} {
		if b {
			flags |= 1 << i
		}
	}
	w.uint(flags)
}

// Value tags of metadata values.
const (
	tagNil = iota
	tagString
	tagTrue
	tagFalse
	tagInt
	tagFloat
	tagList
	tagNilList
	tagMap
	tagNilMap
)

func (w *cacheWriter) value(v any, depth int) error {
	if depth > 100 {
		return errUnencodable
	}
	switch x := v.(type) {
	case nil:
		w.uint(tagNil)
	case string:
		w.uint(tagString)
		w.str(x)
	case bool:
		if x {
			w.uint(tagTrue)
		} else {
			w.uint(tagFalse)
		}
	case int64:
		w.uint(tagInt)
		w.int(x)
	case float64:
		w.uint(tagFloat)
		w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(x))
	case []any:
		if x == nil {
			w.uint(tagNilList)
			break
		}
		w.uint(tagList)
		w.uint(uint64(len(x)))
		for _, e := range x {
			if err := w.value(e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if x == nil {
			w.uint(tagNilMap)
			break
		}
		w.uint(tagMap)
		w.uint(uint64(len(x)))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.str(k)
			if err := w.value(x[k], depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: %T", errUnencodable, v)
	}
	return nil
}

// decodeDocument is the inverse of encodeDocument; it fails on any
// malformed input instead of returning a partial document.
func decodeDocument(enc string) (*Document, error) {
	r := newCacheReader(enc, 0)
	d := &Document{}
	for _, p := range []*string{&d.Path, &d.LoopID, &d.IDFrom, &d.FileID, &d.Title, &d.Status, &d.RawStatus} {
		*p = r.Str()
	}
	d.MetaSource = MetaSource(r.Str())
	d.BodyLine = r.intN()
	d.BodyOffset = r.intN()
	if n, ok := r.len(); ok {
		d.Meta = make(Meta, n)
		for i := range d.Meta {
			f := &d.Meta[i]
			f.Key = r.Str()
			f.Line = r.intN()
			f.Value = r.value(0)
		}
	}
	if n, ok := r.len(); ok {
		d.Stages = make([]Stage, n)
		for i := range d.Stages {
			st := &d.Stages[i]
			st.Number = r.Str()
			st.Title = r.Str()
			st.Level = r.intN()
			st.Line = r.intN()
			if n, ok := r.len(); ok {
				st.Steps = make([]Step, n)
				for j := range st.Steps {
					r.step(&st.Steps[j])
				}
			}
		}
	}
	d.RunKeys = r.strs()
	d.GapIDs = r.strs()
	d.LoopRefs = r.strs()
	if n, ok := r.len(); ok {
		d.Evidence = make([]EvidenceRun, n)
		for i := range d.Evidence {
			e := &d.Evidence[i]
			e.Stage, e.RunKey, e.Status, e.Step, e.Text = r.Str(), r.Str(), r.Str(), r.Str(), r.Str()
			e.Line = r.intN()
		}
	}
	if n, ok := r.len(); ok {
		d.Problems = make([]Problem, n)
		for i := range d.Problems {
			p := &d.Problems[i]
			p.Path = r.Str()
			p.Line = r.intN()
			p.Level = Level(r.Str())
			p.Message = r.Str()
		}
	}
	if id := r.Str(); len(id) == len(d.BlobID) {
		copy(d.BlobID[:], id)
	} else {
		r.Fail()
	}
	if r.Off != len(enc) {
		r.Fail()
	}
	if r.Err != nil {
		return nil, fmt.Errorf("cached document: %w", r.Err)
	}
	return d, nil
}

func (r *cacheReader) step(s *Step) {
	s.Kind = StepKind(r.Str())
	for _, p := range []*string{&s.Name, &s.Lang, &s.Command, &s.Cap, &s.Gate, &s.Host, &s.Artifact, &s.After, &s.Pack} {
		*p = r.Str()
	}
	if n, ok := r.len(); ok {
		s.Attrs = make([]Attr, n)
		for i := range s.Attrs {
			s.Attrs[i] = Attr{Key: r.Str(), Value: r.Str()}
		}
	}
	s.Line = r.intN()
	s.Timeout = time.Duration(r.Varint())
	flags := r.Uvarint()
	for i, p := range []*bool{&s.Checked, &s.Destructive, &s.AllowFailure, &s.Idempotent, &s.Background} {
		*p = flags&(1<<i) != 0
	}
	if flags>>5 != 0 {
		r.Fail()
	}
}

func (r *cacheReader) value(depth int) any {
	if depth > 100 {
		r.Fail()
		return nil
	}
	switch tag := r.Uvarint(); tag {
	case tagNil:
		return nil
	case tagString:
		return r.Str()
	case tagTrue:
		return true
	case tagFalse:
		return false
	case tagInt:
		return r.Varint()
	case tagFloat:
		b := r.Bytes(8)
		if r.Err != nil {
			return nil
		}
		return math.Float64frombits(binary.LittleEndian.Uint64([]byte(b)))
	case tagList, tagNilList:
		if tag == tagNilList {
			return []any(nil)
		}
		n := r.count()
		l := make([]any, n)
		for i := range l {
			l[i] = r.value(depth + 1)
		}
		return l
	case tagMap, tagNilMap:
		if tag == tagNilMap {
			return map[string]any(nil)
		}
		n := r.count()
		m := make(map[string]any, n)
		for i := 0; i < n; i++ {
			k := r.Str()
			m[k] = r.value(depth + 1)
		}
		return m
	default:
		r.Fail()
		return nil
	}
}

// cacheWriter appends the cache's encoding: unsigned and zig-zag varints,
// length-prefixed strings.
type cacheWriter struct{ b []byte }

func (w *cacheWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *cacheWriter) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *cacheWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

// len writes a slice's length, 0 for nil and n+1 otherwise.
func (w *cacheWriter) len(isNil bool, n int) {
	if isNil {
		w.uint(0)
		return
	}
	w.uint(uint64(n) + 1)
}

func (w *cacheWriter) strs(l []string) {
	w.len(l == nil, len(l))
	for _, s := range l {
		w.str(s)
	}
}

// cacheReader decodes what cacheWriter wrote, on varbin's decoder: the
// first error sticks, every later read returns a zero value, and the
// caller checks Err once.
type cacheReader struct{ varbin.Decoder }

// errCacheEntry is the error of a malformed cache entry.
var errCacheEntry = errors.New("malformed cache entry")

// newCacheReader returns a reader of s from offset off.
func newCacheReader(s string, off int) *cacheReader {
	return &cacheReader{varbin.Decoder{S: s, Off: off, Corrupt: errCacheEntry}}
}

// intN reads an int that must fit an int.
func (r *cacheReader) intN() int {
	v := r.Varint()
	if v != int64(int(v)) {
		r.Fail()
		return 0
	}
	return int(v)
}

// count reads a number of elements that cannot exceed the bytes left (every
// element takes at least one byte).
func (r *cacheReader) count() int {
	n := r.Uvarint()
	if n > uint64(len(r.S)-r.Off) {
		r.Fail()
		return 0
	}
	return int(n)
}

// len reads what cacheWriter.len wrote: ok is false for a nil slice.
func (r *cacheReader) len() (int, bool) {
	n := r.Uvarint()
	if n == 0 || r.Err != nil {
		return 0, false
	}
	if n-1 > uint64(len(r.S)-r.Off) {
		r.Fail()
		return 0, false
	}
	return int(n - 1), true
}

func (r *cacheReader) strs() []string {
	n, ok := r.len()
	if !ok {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.Str()
	}
	return l
}
