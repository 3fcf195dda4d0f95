package loops

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/internal/gen"
)

// cacheTestDocs is every document the cache tests encode: the fixtures (LF
// and CRLF), the real corpus when present, and generated ones.
func cacheTestDocs(t *testing.T) []namedDoc {
	t.Helper()
	docs := fixtureDocs(t)
	for _, d := range fixtureDocs(t) {
		docs = append(docs, namedDoc{name: "crlf-" + d.name, src: bytes.ReplaceAll(d.src, []byte("\n"), []byte("\r\n"))})
	}
	if _, err := os.Stat(corpusDir); err == nil {
		docs = append(docs, readDocs(t, corpusDir)...)
	}
	for i, src := range gen.Docs(40, 7) {
		docs = append(docs, namedDoc{name: filepath.Base(gen.Path(i)), src: src})
	}
	docs = append(docs, namedDoc{name: "LOOP-EVIDENCE.md", src: []byte("---\nloop_id: LOOP-EVIDENCE\nstatus: active\n---\n# LOOP-EVIDENCE\n\n## Stage 1: Wipe\n\n" +
		"```sh {name=wipe}\nwipefs -a /dev/sdz\n```\n\n## Execution Evidence\n\n" + EvidenceBegin + "\n#### Stage 1: Wipe\n\n" +
		"- `CAP-20261126-101500__step.wipe__Rabcdefghij` (fail, step wipe: exit 4)\n- `CAP-20261126-101600__step.wipe__Rklmnopqrst` (pass, step wipe)\n" + EvidenceEnd + "\n")})
	return docs
}

// withoutSource is d as the cache gives it back before Source is set.
func withoutSource(d *Document) *Document {
	c := *d
	c.Source = nil
	return &c
}

func TestCacheEncodingRoundTrip(t *testing.T) {
	for _, nd := range cacheTestDocs(t) {
		t.Run(nd.name, func(t *testing.T) {
			d := Parse("loops/"+nd.name, nd.src)
			if nd.name == "LOOP-EVIDENCE.md" && len(d.Evidence) != 2 {
				t.Fatalf("evidence parsed as %+v, want 2 runs", d.Evidence)
			}
			enc, err := encodeDocument(d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeDocument(string(enc))
			if err != nil {
				t.Fatal(err)
			}
			// No EquateEmpty: nil and empty slices must come back as
			// they were (status --json prints null for one, [] for the
			// other).
			if diff := cmp.Diff(withoutSource(d), got); diff != "" {
				t.Errorf("decoded document differs (-parsed +decoded):\n%s", diff)
			}
		})
	}
}

func TestCacheEncodingValues(t *testing.T) {
	// Every kind of metadata value the YAML reader produces, with the
	// nil/empty distinctions and the float corner cases.
	d := &Document{Path: "loops/v.md", Meta: Meta{
		{Key: "nil", Value: nil, Line: 2},
		{Key: "s", Value: "text: with colon", Line: 3},
		{Key: "t", Value: true}, {Key: "f", Value: false},
		{Key: "i", Value: int64(-1 << 62)}, {Key: "pi", Value: 3.25},
		{Key: "inf", Value: math.Inf(-1)}, {Key: "negzero", Value: math.Copysign(0, -1)},
		{Key: "list", Value: []any{"a", int64(1), nil, []any{}, map[string]any{}}},
		{Key: "nillist", Value: []any(nil)}, {Key: "nilmap", Value: map[string]any(nil)},
		{Key: "map", Value: map[string]any{"b": "x", "a": []any{true}, "c": map[string]any{"d": 1.5}}},
	}, Stages: []Stage{}, RunKeys: []string{}, Problems: []Problem{{Path: "loops/v.md", Line: 1, Level: LevelWarning, Message: "m"}}}
	enc, err := encodeDocument(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeDocument(string(enc))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if v, _ := got.Meta.Get("negzero"); !math.Signbit(v.(float64)) {
		t.Error("-0 lost its sign")
	}
	// A type the YAML reader never produces is refused: that document is
	// parsed every time instead of being cached wrong.
	if _, err := encodeDocument(&Document{Meta: Meta{{Key: "x", Value: struct{}{}}}}); err == nil {
		t.Error("an unencodable value was encoded")
	}
}

// TestCacheCoversEveryField fails when a field is added to the document
// model: the cache's encoding must then be extended (and cacheMagic's
// version raised), or cached documents would come back without it.
func TestCacheCoversEveryField(t *testing.T) {
	want := map[reflect.Type][]string{
		reflect.TypeFor[Document]():    {"Path", "LoopID", "IDFrom", "FileID", "Title", "Status", "RawStatus", "Meta", "MetaSource", "BodyLine", "BodyOffset", "Stages", "RunKeys", "Evidence", "GapIDs", "LoopRefs", "Problems", "Source", "BlobID"},
		reflect.TypeFor[EvidenceRun](): {"Stage", "RunKey", "Status", "Step", "Line", "Text"},
		reflect.TypeFor[Stage]():       {"Number", "Title", "Level", "Line", "Steps"},
		reflect.TypeFor[Step]():        {"Kind", "Name", "Lang", "Attrs", "Command", "Checked", "Line", "Cap", "Gate", "Destructive", "AllowFailure", "Idempotent", "Background", "Timeout", "Host", "Artifact", "After", "Pack"},
		reflect.TypeFor[Attr]():        {"Key", "Value"},
		reflect.TypeFor[Field]():       {"Key", "Value", "Line"},
		reflect.TypeFor[Problem]():     {"Path", "Line", "Level", "Message"},
	}
	for typ, fields := range want {
		var got []string
		for i := 0; i < typ.NumField(); i++ {
			got = append(got, typ.Field(i).Name)
		}
		if diff := cmp.Diff(fields, got); diff != "" {
			t.Errorf("%s changed; update the cache encoding in cache.go and this list (-known +now):\n%s", typ, diff)
		}
	}
}

// writeDocs writes documents into a fresh repository folder and returns
// it with their paths.
func writeDocs(t *testing.T, docs []namedDoc) (string, []string) {
	t.Helper()
	root := t.TempDir()
	var paths []string
	for _, d := range docs {
		rel := "loops/" + d.name
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, d.src, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, rel)
	}
	return root, paths
}

// cacheCounts returns how many documents the cache answered and parsed.
func cacheCounts(c *Cache) (hits, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

func TestCacheLoad(t *testing.T) {
	docs := cacheTestDocs(t)
	root, paths := writeDocs(t, docs)
	cachePath := filepath.Join(t.TempDir(), "state", "docs.cache")
	want := Load(root, paths)
	loads := 0
	load := func(identity string, o LoadOptions) (*Set, *Cache) {
		t.Helper()
		// Alternate reading the file and mapping it.
		loads++
		c := OpenCache(cachePath, identity)
		if loads%2 == 0 {
			c = OpenCacheMapped(cachePath, identity)
		}
		o.Cache = c
		set := LoadWith(root, paths, o)
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}
		return set, c
	}
	check := func(name string, got *Set, wantHits, wantMisses int, c *Cache) {
		t.Helper()
		if diff := cmp.Diff(want.Docs, got.Docs, cmp.AllowUnexported(Set{})); diff != "" {
			t.Errorf("%s: documents differ from a plain Load (-want +got):\n%s", name, diff)
		}
		if h, m := cacheCounts(c); h != wantHits || m != wantMisses {
			t.Errorf("%s: %d hits, %d misses; want %d, %d", name, h, m, wantHits, wantMisses)
		}
	}
	n := len(paths)
	set, c := load("v1", LoadOptions{})
	check("first load", set, 0, n, c)
	set, c = load("v1", LoadOptions{})
	check("second load", set, n, 0, c)

	// Another build of spine: nothing is taken from the old cache.
	set, c = load("v2", LoadOptions{})
	check("other executable", set, 0, n, c)

	// One document edited: only it is parsed again, and its new model is
	// the one returned.
	edited := filepath.Join(root, filepath.FromSlash(paths[0]))
	src := append(bytes.Clone(docs[0].src), []byte("\n### Stage 99: Added\n\n```sh {name=added-step}\ntrue\n```\n")...)
	if err := os.WriteFile(edited, src, 0o644); err != nil {
		t.Fatal(err)
	}
	want = Load(root, paths)
	set, c = load("v2", LoadOptions{})
	check("one edited", set, n-1, 1, c)
	if _, st := set.Docs[0].Step("added-step"); st == nil && set.Docs[0].Path == paths[0] {
		t.Error("the edited document's new step is missing")
	}

	// Fewer documents (some deleted): the file keeps only those loaded,
	// although none was parsed.
	paths = paths[:n/2]
	want = Load(root, paths)
	set, c = load("v2", LoadOptions{})
	check("half the documents", set, n/2, 0, c)
	if c := OpenCache(cachePath, "v2"); len(c.old) != n/2 {
		t.Errorf("after loading %d documents the cache holds %d", n/2, len(c.old))
	}
	if left, _ := filepath.Glob(cachePath + ".tmp-*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// The same bytes under another path are another document (ids and
	// findings name the file).
	if k1, k2 := key("loops/a.md", []byte("x")), key("loops/b.md", []byte("x")); k1 == k2 {
		t.Error("the key ignores the path")
	}
	if k1, k2 := key("loops/ab", []byte("c")), key("loops/a", []byte("bc")); k1 == k2 {
		t.Error("path and content are not separated in the key")
	}
}

func TestCacheIgnoresDamagedFile(t *testing.T) {
	docs := fixtureDocs(t)
	root, paths := writeDocs(t, docs)
	cachePath := filepath.Join(t.TempDir(), "docs.cache")
	c := OpenCache(cachePath, "v1")
	LoadWith(root, paths, LoadOptions{Cache: c})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	want := Load(root, paths)
	damage := map[string][]byte{
		"empty":           {},
		"truncated":       good[:len(good)/2],
		"one bit flipped": flip(good, len(good)/2),
		"bad checksum":    flip(good, len(good)-1),
		"other format":    append([]byte("spine-docs-cache 0\n"), good[len(cacheMagic):]...),
		// A valid checksum over an entry table cut short: the decoder
		// itself must refuse it.
		"entries cut, valid checksum": resum(append(bytes.Clone(good[:len(good)-4-20]), 0, 0, 0, 0)),
	}
	for name, data := range damage {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(cachePath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			c := OpenCacheMapped(cachePath, "v1")
			if len(c.old) != 0 {
				t.Errorf("%d entries read from a damaged file", len(c.old))
			}
			c = OpenCache(cachePath, "v1")
			set := LoadWith(root, paths, LoadOptions{Cache: c})
			if diff := cmp.Diff(want.Docs, set.Docs); diff != "" {
				t.Errorf("documents differ (-want +got):\n%s", diff)
			}
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			// The damaged file is replaced by a good one.
			c = OpenCache(cachePath, "v1")
			LoadWith(root, paths, LoadOptions{Cache: c})
			if h, _ := cacheCounts(c); h != len(paths) {
				t.Errorf("after a rewrite: %d hits, want %d", h, len(paths))
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x10
	return b
}

// resum recomputes a cache file's trailing checksum.
func resum(b []byte) []byte {
	n := len(b) - 4
	binary.LittleEndian.PutUint32(b[n:], crc32Checksum(b[:n]))
	return b
}

// TestLoadNoSource loads with the read buffer reused between files: every
// model must be the one a plain Load makes, so no string of a document
// may share memory with the buffer the next file is read into.
func TestLoadNoSource(t *testing.T) {
	docs := cacheTestDocs(t)
	root, paths := writeDocs(t, docs)
	want := Load(root, paths)
	for _, d := range want.Docs {
		d.Source = nil
	}
	for _, withCache := range []bool{false, true} {
		o := LoadOptions{NoSource: true}
		if withCache {
			o.Cache = OpenCache(filepath.Join(t.TempDir(), "docs.cache"), "v1")
		}
		got := LoadWith(root, paths, o)
		if diff := cmp.Diff(want.Docs, got.Docs); diff != "" {
			t.Errorf("cache %v: (-want +got):\n%s", withCache, diff)
		}
		if d := got.Docs[0]; d.Body() != nil {
			t.Errorf("Body() of a document without Source = %q, want nil", d.Body())
		}
	}
}

// FuzzCacheDecode feeds arbitrary bytes to the document decoder: it must
// fail cleanly or return a document that encodes back to a form that
// decodes to the same document.
func FuzzCacheDecode(f *testing.F) {
	for _, src := range gen.Docs(5, 3) {
		if enc, err := encodeDocument(Parse("loops/x.md", src)); err == nil {
			f.Add(enc)
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeDocument(string(data))
		if err != nil {
			return
		}
		enc, err := encodeDocument(d)
		if err != nil {
			t.Fatalf("a decoded document does not encode: %v", err)
		}
		d2, err := decodeDocument(string(enc))
		if err != nil {
			t.Fatalf("re-encoded document does not decode: %v", err)
		}
		if diff := diffDeep(d, d2); diff != "" {
			t.Fatalf("(-first +second):\n%s", diff)
		}
	})
}

// TestLoadSetsBlobID: every loaded document carries the id git gives its
// content (so a planner can tell a committed document without its
// bytes), from a parse, from the cache and without Source alike.
func TestLoadSetsBlobID(t *testing.T) {
	// git hash-object of "hello\n".
	if got := hex.EncodeToString(func() []byte { id := GitBlobID([]byte("hello\n")); return id[:] }()); got != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Fatalf("GitBlobID(hello) = %s", got)
	}
	docs := cacheTestDocs(t)
	root, paths := writeDocs(t, docs)
	cachePath := filepath.Join(t.TempDir(), "docs.cache")
	// Without a cache, then parsed into it, then from it.
	for i, o := range []LoadOptions{{}, {NoSource: true}, {}, {NoSource: true}} {
		if i >= 2 {
			o.Cache = OpenCache(cachePath, "v1")
		}
		set := LoadWith(root, paths, o)
		if i == 3 {
			if h, _ := cacheCounts(o.Cache); h != len(paths) {
				t.Fatalf("from the cache: %d hits of %d", h, len(paths))
			}
		}
		if err := o.Cache.Save(); err != nil {
			t.Fatal(err)
		}
		for _, d := range set.Docs {
			src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(d.Path)))
			if err != nil {
				t.Fatal(err)
			}
			if d.BlobID != GitBlobID(src) {
				t.Fatalf("%s loaded with %+v: BlobID %x, want %x", d.Path, o, d.BlobID, GitBlobID(src))
			}
		}
	}
}
