// Package site builds and serves the evidence site: a static HTML site of
// loops, stages, receipts, gaps and verify packs, with a timeline, an Atom
// feed and a search index (DESIGN.md "The evidence site").
//
// Output is byte-identical for the same input: nothing in a page depends on
// the wall clock (heartbeat ages are measured against Options.Now, which
// defaults to the newest time found in the input), and everything is sorted.
// Builds are incremental: a manifest of input keys and content hashes in the
// output folder (.spine-manifest.json) lets a build skip the pages whose
// inputs did not change, write only the files whose bytes changed, and
// remove the files of pages that no longer exist. What a build reads from
// the inputs is recorded in the state folder (Options.StateDir, under
// StateSubdir), not in the output folder, which holds only the site: the
// output logs' sizes, line counts and hashes (SumsName) with each log's
// stat, so that a build verifies an unchanged log from its stat, and the
// receipts' bytes and chain hashes (ReceiptStateName) with the stat of each
// receipt.json, so that a build takes an unchanged receipt from its stat.
// A build into a fresh output folder uses them as well.
package site

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/exeid"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/render"
)

// generator names the page format version. The pages' key also holds the
// build's identity (exeid.Identity), so that a spine built from other code
// (an upgrade) makes every page again rather than keep, beside its own,
// pages an older spine wrote.
const generator = "spine-site/3"

// ManifestName is the manifest file written in the output folder.
const ManifestName = ".spine-manifest.json"

// BuildingName marks an output folder a build is writing: left by a build
// that stopped halfway, it makes the next one write every file again.
const BuildingName = ".spine-building"

// StateSubdir is the folder of Options.StateDir that holds the site's
// records of its inputs (SumsName, ReceiptStateName).
const StateSubdir = "site"

// legacyStateNames are the files in which earlier versions recorded the
// inputs in the output folder. A build removes them (they must not be
// published) and never reads them.
var legacyStateNames = [...]string{".spine-sums.json", ".spine-receipts", ".spine-sums.json.spine-tmp", ".spine-receipts.spine-tmp"}

//go:embed templates/*.html assets/*
var embedded embed.FS

// Options configure one build of the site.
type Options struct {
	// Root is the repository root.
	Root string
	// Out is the output folder; relative paths are taken relative to
	// Root. Empty means Config.Site.Out.
	Out string
	// Config is the repository's configuration; nil means the defaults.
	Config *config.Config
	// Full writes every file again, trusting nothing the last build's
	// manifest says of the output folder: a file changed or removed
	// there by hand, which an incremental build does not look at, is made
	// again. Pages no longer made are still removed.
	Full bool
	// Set holds the parsed loop documents.
	Set *loops.Set
	// StepState returns a step's current state for badges and progress.
	// Nil means a state derived from the receipts: done, failed, blocked,
	// interrupted, pending, or waiting / done for manual steps.
	// It is given the document of Set and the step of its Stages.
	StepState func(d *loops.Document, s *loops.Step) string
	// StepReason returns why a step that is not done waits (the
	// planner's reason). A loop page calls out each step held for an
	// operator (failed or interrupted) with it. Nil means no call-outs
	// but those of blocked gates.
	StepReason func(d *loops.Document, s *loops.Step) string
	// ReceiptsRead, when set, is called once by each build, after it read
	// the receipts and before it first calls StepState, with a lookup of
	// the receipts it read: the receipt decoded from a run folder
	// (repository-relative, slash-separated) and the chain hash of its
	// bytes, ok false for a folder it has no readable receipt of. The
	// lookup is safe for concurrent use, with the build and after it
	// returns (it reads only what the build read, which nothing changes
	// afterwards, not even a later build of the same Builder). A caller that plans the step states from the receipts uses
	// it so as not to read every receipt a second time
	// (pipeline.HistoryOptions.Source). A build that fails before it read
	// the receipts does not call it.
	ReceiptsRead func(lookup func(dir string) (rc *artifacts.Receipt, hash string, ok bool))
	// Now is the time heartbeat ages are measured against. Zero means the
	// newest receipt or heartbeat time in the input, so that the same
	// input always gives the same pages.
	Now time.Time
	// BaseURL is the site's public URL, used for absolute links in the
	// Atom feed; empty leaves them relative. Empty means
	// Config.Site.BaseURL.
	BaseURL string
	// Logger receives warnings (skipped pages, unreadable inputs); nil
	// discards them. They are also returned in Stats.Warnings.
	Logger *slog.Logger
	// StateDir is the repository's state folder (the pipeline's: the
	// spine command passes $SPINE_STATE_DIR, else .git/spine); a relative
	// path is taken relative to the current directory. A build
	// records what it read from the inputs in its StateSubdir folder, for
	// later builds in other processes, into this or any other output
	// folder. Empty means no such records: a build then reads every
	// input (a Builder still keeps them in memory between its builds),
	// and nothing is written outside the output folder.
	StateDir string
}

// Stats reports what a build did.
type Stats struct {
	// Files is the number of files the site holds (the manifest aside).
	Files int
	// Written counts files created or rewritten, Unchanged files left as
	// they were, Removed files of pages that no longer exist.
	Written, Unchanged, Removed int
	// WrittenPaths lists the written files (slash-separated, relative to
	// the output folder), sorted.
	WrittenPaths []string
	// RemovedPaths lists the removed files, sorted.
	RemovedPaths []string
	// Warnings are the problems met while building, sorted.
	Warnings []string
}

// Builder builds the site. It parses the templates once and keeps what a
// later build of the same repository and output folder can reuse (the
// manifest, receipts already read and verified, highlighted code), so that
// a rebuild after a small change costs little. A Builder is safe for
// concurrent use; builds are serialised.
type Builder struct {
	mu      sync.Mutex
	tmpl    *template.Template
	urlTmpl *template.Template
	md      *render.Renderer
	assets  map[string][]byte
	baseKey string
	// bufs and hws recycle page buffers, keyers the hashers of keys.
	bufs   sync.Pool
	hws    sync.Pool
	keyers sync.Pool

	// stepState is the current build's step-state function; it is set
	// before the build's workers start and read by the renderer.
	stepState func(loopID, stepName string) string

	// Caches kept between builds of the same root, output folder and
	// state folder (cacheState: StateDir's StateSubdir, or empty).
	cacheRoot, cacheOut, cacheState string
	manifest                        *manifest
	receipts                        *receiptCache
	sums                            *sumCache
	rstate                          *receiptState
	// lastWatch lists the input paths of the last build, for Serve.
	lastWatch []string
	// oneShot is set for a Builder that builds once (Build): it drops
	// what only a later build would reuse (a receipt's raw JSON once its
	// page is written), so that memory does not grow with the receipts.
	oneShot bool
	// hint, set by Serve for one build, says what changed since the last
	// build; prev is the last build's state, kept for such a build
	// (incremental.go); reverify lists the runs the hint says to verify
	// again.
	hint     *buildHint
	prev     *buildState
	reverify map[*receiptRec]bool
}

// NewBuilder parses the embedded templates and prepares the assets.
func NewBuilder() (*Builder, error) {
	b := &Builder{}
	b.hws.New = func() any { return new(hw) }
	b.md = render.New(render.Options{StepState: func(loopID, step string) string {
		return b.stepState(loopID, step)
	}})
	t, err := template.New("site").Funcs(funcMap()).ParseFS(embedded, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("site templates: %w", err)
	}
	b.tmpl = t
	if b.urlTmpl, err = parseURLTemplate(); err != nil {
		return nil, fmt.Errorf("site templates: %w", err)
	}
	b.assets = map[string][]byte{}
	h := sha256.New()
	h.Write([]byte(generator))
	err = fs.WalkDir(embedded, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(data)
		if strings.HasPrefix(p, "assets/") {
			b.assets[p] = data
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("site assets: %w", err)
	}
	css, err := render.CSS()
	if err != nil {
		return nil, err
	}
	b.assets["assets/chroma.css"] = []byte(css)
	h.Write([]byte(css))
	h.Write([]byte(exeid.Identity()))
	b.baseKey = hex.EncodeToString(h.Sum(nil))
	return b, nil
}

// Build builds the site once with a fresh Builder.
func Build(ctx context.Context, opts Options) (Stats, error) {
	b, err := NewBuilder()
	if err != nil {
		return Stats{}, err
	}
	b.oneShot = true
	return b.Build(ctx, opts)
}

// OutDir returns the output folder a build with opts writes to.
func OutDir(opts Options) string {
	out := opts.Out
	if out == "" {
		cfg := opts.Config
		if cfg == nil {
			cfg = config.Default()
		}
		out = cfg.Site.Out
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(opts.Root, out)
	}
	return filepath.Clean(out)
}

// Build writes the site for opts, rewriting only what changed since the
// manifest in the output folder was written.
func (b *Builder) Build(ctx context.Context, opts Options) (Stats, error) {
	return b.build(ctx, opts, nil)
}

// build is Build with a hint of what changed since the last build (nil:
// unknown, check everything).
func (b *Builder) build(ctx context.Context, opts Options, h *buildHint) (Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hint = h
	defer func() { b.hint = nil }()
	if opts.Root == "" {
		return Stats{}, errors.New("site build: no repository root")
	}
	if opts.Set == nil {
		opts.Set = loops.NewSet(nil)
	}
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return Stats{}, fmt.Errorf("site build: %w", err)
	}
	opts.Root = root
	out := OutDir(opts)
	state, sdir := "", ""
	if opts.StateDir != "" {
		// Relative to the current directory, as the pipeline takes
		// $SPINE_STATE_DIR.
		if state, err = filepath.Abs(opts.StateDir); err != nil {
			return Stats{}, fmt.Errorf("site build: %w", err)
		}
		sdir = filepath.Join(state, StateSubdir)
	}
	if err := checkOut(root, out, state, opts.Config); err != nil {
		return Stats{}, err
	}
	// Written where it was checked to lead: a link swapped meanwhile
	// (lnk -> .git) does not take the pages elsewhere.
	out = fsx.Resolved(out)
	if b.cacheRoot != root || b.cacheOut != out || b.cacheState != sdir {
		b.cacheRoot, b.cacheOut, b.cacheState = root, out, sdir
		removeLegacyState(out)
		b.manifest = nil
		b.receipts = newReceiptCache()
		b.sums = nil
		b.rstate = nil
		b.prev = nil
	}
	b.reverify = map[*receiptRec]bool{}
	b.applyHint(root)
	// The manifest and the records of the inputs, read side by side
	// (each is megabytes to check and index for a large site).
	var wg sync.WaitGroup
	if b.manifest == nil {
		wg.Go(func() {
			b.manifest = readManifest(out, b.oneShot)
			if opts.Full {
				b.manifest.forget()
			}
			b.manifest.keepLines = !b.oneShot
		})
	}
	if b.sums == nil {
		wg.Go(func() { b.sums = readSums(sdir, b.oneShot) })
	}
	if b.rstate == nil {
		wg.Go(func() { b.rstate = readReceiptState(sdir, b.oneShot) })
	}
	wg.Wait()
	b.sums.begin(time.Now())
	b.receipts.state, b.receipts.cutoff = b.rstate, b.sums.cutoff
	b.receipts.wantLog = b.wantLog
	st, err := b.prepare(ctx, opts, out)
	if err != nil {
		b.prev = nil
		return Stats{}, err
	}
	b.lastWatch = st.watch
	// The receipts are all read: record them while the pages are
	// written (the pages do not change what is recorded).
	saved := make(chan error, 1)
	raws := make([][]byte, len(st.recs))
	for i, r := range st.recs {
		raws[i] = r.Raw
	}
	go func() {
		if sdir != "" {
			if err := os.MkdirAll(sdir, fsx.DirMode); err != nil {
				saved <- err
				return
			}
		}
		saved <- b.rstate.save(sdir, st.recs, raws)
	}()
	// The output logs' summaries are complete once the pages are made:
	// they are saved while the manifest is written.
	var sumsErr error
	stats, err := b.write(ctx, st, func() { sumsErr = b.sums.save(sdir) })
	serr := <-saved
	if b.oneShot {
		// Its records were read for this build's pages and state.
		b.rstate.close()
	}
	if err != nil {
		// The manifest on disk may not describe what is there any more.
		b.manifest = nil
		b.sums = nil
		b.rstate = nil
		b.prev = nil
		return Stats{}, err
	}
	// The records of the inputs only save time: a build that cannot
	// write them warns, and the next one reads the inputs again.
	if serr != nil {
		b.rstate = nil
		stats.Warnings = append(stats.Warnings, fmt.Sprintf("site: record the receipts in %s: %v", sdir, serr))
	}
	if sumsErr != nil {
		b.sums = nil
		stats.Warnings = append(stats.Warnings, fmt.Sprintf("site: record the output logs in %s: write %s: %v", sdir, SumsName, sumsErr))
	}
	if !b.oneShot {
		b.prev = st
	}
	sort.Strings(stats.Warnings)
	if opts.Logger != nil {
		for _, w := range stats.Warnings {
			opts.Logger.Warn(w)
		}
	}
	return stats, nil
}

// wantLog reports whether the page job of r will look the summary of its
// output.log up rather than read the log (verify): its page is in the
// manifest and a summary of the log is recorded.
func (b *Builder) wantLog(r *receiptRec) bool {
	if !b.sums.has(r.Dir) {
		return false
	}
	var buf [128]byte
	p := append(append(append(buf[:0], "receipts/"...), r.RunKey...), "/index.html"...)
	_, ok := b.manifest.files[string(p)]
	return ok
}

// removeLegacyState removes the records of the inputs that earlier
// versions kept in the output folder out.
func removeLegacyState(out string) {
	for _, name := range legacyStateNames {
		os.Remove(filepath.Join(out, name))
	}
}

// checkOut refuses output folders that would overwrite the repository: its
// root, .git, or the folders of receipts, artifacts and verify packs; and
// output folders that hold spine's state folder stateDir (which would
// publish its journal and records) or lie inside it.
func checkOut(root, out, stateDir string, cfg *config.Config) error {
	// Compared where they lead: an output folder that is a link (a
	// committed public -> .git) must not get past these checks.
	shown := out
	root, out = fsx.Resolved(root), fsx.Resolved(out)
	if stateDir != "" {
		stateDir = fsx.Resolved(stateDir)
	}
	if err := checkOutResolved(root, out, stateDir, cfg); err != nil {
		if shown != out {
			return fmt.Errorf("%w (%s leads to %s)", err, shown, out)
		}
		return err
	}
	return nil
}

// checkOutResolved is checkOut on paths without links.
func checkOutResolved(root, out, stateDir string, cfg *config.Config) error {
	for _, dir := range []string{cfg.Receipts, cfg.Artifacts, cfg.VerifyDir} {
		if dir == "" {
			continue
		}
		d := filepath.Join(root, filepath.FromSlash(dir))
		if fsx.Within(d, out) {
			return fmt.Errorf("site build: output folder %s is inside %s", out, dir)
		}
		if fsx.Within(out, d) {
			return fmt.Errorf("site build: output folder %s holds %s", out, dir)
		}
	}
	// Nor where loop documents are (site.out is checked so in spine.yaml;
	// --out is checked here): a build removes files it listed there.
	for _, g := range cfg.Loops {
		base := config.GlobBase(g)
		if base == "." || filepath.IsAbs(base) {
			continue
		}
		d := filepath.Join(root, filepath.FromSlash(base))
		if fsx.Within(d, out) || fsx.Within(out, d) {
			return fmt.Errorf("site build: output folder %s and the loop documents' folder %s (loops: %q) overlap; build the site elsewhere", out, base, g)
		}
	}
	if stateDir != "" {
		if fsx.Within(out, stateDir) {
			return fmt.Errorf("site build: output folder %s holds spine's state folder %s (set $SPINE_STATE_DIR outside it)", out, stateDir)
		}
		if fsx.Within(stateDir, out) {
			return fmt.Errorf("site build: output folder %s is inside spine's state folder %s", out, stateDir)
		}
	}
	if fsx.Within(out, root) {
		if out == root {
			return fmt.Errorf("site build: output folder %s is the repository root", out)
		}
		return fmt.Errorf("site build: output folder %s contains the repository", out)
	}
	if fsx.Within(filepath.Join(root, ".git"), out) {
		return fmt.Errorf("site build: output folder %s is inside .git", out)
	}
	return nil
}
