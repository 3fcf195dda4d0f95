package loops

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxDocumentSize is the largest document spine parses; larger files get a
// finding instead of being read into memory. Real loop documents are tens
// of kilobytes; one of 50 MB took a minute and 2 GB to publish.
const MaxDocumentSize = 8 << 20

// skipDirs are never searched for loop documents.
var skipDirs = map[string]bool{".git": true, "node_modules": true, "vendor": true}

// MatchGlob reports whether the slash-separated path name matches pattern,
// where `**` matches any number of path segments (including none) and each
// other segment follows path.Match.
func MatchGlob(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

// matchSegs matches pattern segments against name segments, "**" taking
// any number of segments, in time proportional to their product: at[j]
// says whether the pattern read so far matches name[:j]. Backtracking
// over each "**" took time exponential in their number (a spine.yaml of
// a few "**/a/" and one deep path stopped every command).
func matchSegs(pat, name []string) bool {
	at := make([]bool, len(name)+1)
	at[0] = true
	for _, p := range pat {
		alive := false
		if p == "**" {
			for j := range at {
				alive = alive || at[j]
				at[j] = alive
			}
		} else {
			for j := len(name); j >= 1; j-- {
				ok := false
				if at[j-1] {
					ok, _ = path.Match(p, name[j-1])
				}
				at[j] = ok
				alive = alive || ok
			}
			at[0] = false
		}
		if !alive {
			return false
		}
	}
	return at[len(name)]
}

// Discover returns the repository-relative paths (slash-separated, sorted)
// of the files under root matching any include glob and no exclude glob.
// Hidden directories, .git and the folders in skip (receipts, artifacts,
// the site output) are not searched. Symlinks are not followed.
func Discover(root string, include, exclude, skip []string) ([]string, error) {
	skipSet := map[string]bool{}
	for _, s := range skip {
		if s = strings.Trim(path.Clean(filepath.ToSlash(s)), "/"); s != "" && s != "." {
			skipSet[s] = true
		}
	}
	var out []string
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // unreadable folders are skipped, not fatal
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if de.IsDir() {
			if p != root && (skipDirs[de.Name()] || strings.HasPrefix(de.Name(), ".") || skipSet[rel]) {
				return filepath.SkipDir
			}
			return nil
		}
		if !de.Type().IsRegular() {
			return nil
		}
		for _, ex := range exclude {
			if MatchGlob(ex, rel) {
				return nil
			}
		}
		for _, in := range include {
			if MatchGlob(in, rel) {
				out = append(out, rel)
				break
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Set is every loop document of a repository, parsed, with the findings
// that involve more than one document.
type Set struct {
	Docs []*Document
	// Problems are findings about files that could not be read. Findings
	// across documents (duplicate loop ids) are added to each document.
	Problems []Problem
	byID     map[string]*Document
}

// ByID returns the document with loop id id, or nil. With duplicate ids the
// first in path order wins (and lint reports the duplicate).
func (s *Set) ByID(id string) *Document { return s.byID[id] }

// AllProblems returns every finding, per document and across documents,
// sorted by path and line.
func (s *Set) AllProblems() []Problem {
	var all []Problem
	for _, d := range s.Docs {
		all = append(all, d.Problems...)
	}
	all = append(all, s.Problems...)
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Path != all[j].Path {
			return all[i].Path < all[j].Path
		}
		return all[i].Line < all[j].Line
	})
	return all
}

// Load parses the documents at the given repository-relative paths in
// parallel. A file that cannot be read gets a finding; the others are
// still read.
func Load(root string, paths []string) *Set { return LoadWith(root, paths, LoadOptions{}) }

// LoadOptions tune LoadWith.
type LoadOptions struct {
	// Cache, when set, supplies the documents it holds unchanged instead
	// of parsing them again, and records the others. The caller saves it.
	Cache *Cache
	// NoSource leaves every document's Source nil, for commands that only
	// read the model (status, plan): each worker then reads the files into
	// one reused buffer instead of keeping every file's bytes in memory.
	NoSource bool
}

// LoadWith is Load with options.
func LoadWith(root string, paths []string, o LoadOptions) *Set {
	docs := make([]*Document, len(paths))
	probs := make([]*Problem, len(paths))
	// Workers take the next path from a counter: handing each path over
	// a channel woke a worker per document.
	var wg sync.WaitGroup
	var next atomic.Int64
	workers := min(runtime.GOMAXPROCS(0), max(1, len(paths)))
	for range workers {
		wg.Go(func() {
			l := &loader{root: root, o: o}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				docs[i], probs[i] = l.load(paths[i])
			}
		})
	}
	wg.Wait()
	s := &Set{byID: map[string]*Document{}}
	for i, d := range docs {
		if probs[i] != nil {
			s.Problems = append(s.Problems, *probs[i])
		}
		if d != nil {
			s.Docs = append(s.Docs, d)
		}
	}
	s.index()
	return s
}

// loader is one worker of LoadWith, with the buffers it reuses.
type loader struct {
	root string
	o    LoadOptions
	// buf holds the file being read when its bytes are not kept
	// (NoSource).
	buf []byte
	// scratch holds the parser's and the cache's buffers.
	scratch parseScratch
}

func (l *loader) load(rel string) (*Document, *Problem) {
	// A file that cannot be read stays in the set, as an invalid
	// document named after its file: plan, status and the site show it
	// with its error, as they do an empty one, and a run names it.
	cannot := func(err error) (*Document, *Problem) {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // removed since it was listed: no document
		}
		return unreadDocument(rel, msgCannotRead+err.Error()), nil
	}
	src, size, err := readDocument(filepath.Join(l.root, filepath.FromSlash(rel)), MaxDocumentSize, func(size int) []byte {
		if l.o.NoSource && size <= 1<<20 {
			if cap(l.buf) < size {
				l.buf = make([]byte, size)
			}
			return l.buf[:size]
		}
		return make([]byte, size)
	})
	if err != nil {
		return cannot(err)
	}
	if src == nil && size > MaxDocumentSize {
		return unreadDocument(rel, fmt.Sprintf("document is %d bytes, over the %d", size, MaxDocumentSize)+msgTooLarge), nil
	}
	d := l.o.Cache.parse(rel, src, &l.scratch)
	if l.o.NoSource {
		d.Source = nil
	}
	return d, nil
}

// unreadDocument is the document of a file that could not be read: its
// id from the file name, one error saying why.
func unreadDocument(rel, why string) *Document {
	d := Parse(rel, nil)
	d.Problems = []Problem{{Path: rel, Line: 1, Level: LevelError, Message: why}}
	return d
}

// NewSet builds a set from already parsed documents (tests, generators).
func NewSet(docs []*Document) *Set {
	s := &Set{Docs: docs, byID: map[string]*Document{}}
	s.index()
	return s
}

// index builds the id map and reports duplicate loop ids, naming both files.
func (s *Set) index() {
	sort.SliceStable(s.Docs, func(i, j int) bool { return s.Docs[i].Path < s.Docs[j].Path })
	bySlug := make(map[string]*Document, len(s.Docs))
	for _, d := range s.Docs {
		if d.LoopID == "" {
			continue
		}
		if first, dup := s.byID[d.LoopID]; dup {
			// Both documents are in error: receipts are keyed by loop id,
			// so neither may run until one is renamed.
			d.Problems = append(d.Problems, Problem{
				Path: d.Path, Line: max(1, d.Meta.Line("loop_id")), Level: LevelError,
				Message: fmt.Sprintf("duplicate loop id %q (also in %s:%d)", d.LoopID, first.Path, max(1, first.Meta.Line("loop_id"))),
			})
			first.Problems = append(first.Problems, Problem{
				Path: first.Path, Line: max(1, first.Meta.Line("loop_id")), Level: LevelError,
				Message: fmt.Sprintf("duplicate loop id %q (also in %s:%d)", d.LoopID, d.Path, max(1, d.Meta.Line("loop_id"))),
			})
			continue
		}
		s.byID[d.LoopID] = d
		// Ids that differ only in case (or in leading dots and dashes)
		// share a slug, and so the folder of their artifacts: one loop's
		// artifact would replace the other's.
		slug := d.Slug()
		if first, dup := bySlug[slug]; dup {
			d.Problems = append(d.Problems, Problem{
				Path: d.Path, Line: max(1, d.Meta.Line("loop_id")), Level: LevelError,
				Message: fmt.Sprintf("loop id %q and loop id %q (%s:%d) share the artifact folder name %q: rename one", d.LoopID, first.LoopID, first.Path, max(1, first.Meta.Line("loop_id")), slug),
			})
			first.Problems = append(first.Problems, Problem{
				Path: first.Path, Line: max(1, first.Meta.Line("loop_id")), Level: LevelError,
				Message: fmt.Sprintf("loop id %q and loop id %q (%s:%d) share the artifact folder name %q: rename one", first.LoopID, d.LoopID, d.Path, max(1, d.Meta.Line("loop_id")), slug),
			})
			continue
		}
		bySlug[slug] = d
	}
}
