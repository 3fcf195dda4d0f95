package main

import (
	"path/filepath"
	"sync"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/hugeheap"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

// repoContext is what most commands start from: the repository root, its
// configuration and its parsed loop documents.
type repoContext struct {
	root string
	cfg  *config.Config
	set  *loops.Set
	// history is the receipt history read while the documents were
	// parsed (openRepoForPlanning, openRepoForSite), nil otherwise; historyErr is why it
	// could not be read.
	history    *pipeline.History
	historyErr error
	// historyLater, set instead of history by openOptions.shareReceipts,
	// waits for the receipt history and returns it; giveReceipts hands
	// the history the receipts the site build read (the first call
	// counts; nil means none: call it before waiting for the history).
	historyLater func() (*pipeline.History, error)
	giveReceipts func(pipeline.ReceiptSource)
	// historySettle, set with historyLater, waits for the history and
	// for the receipt index it writes afterwards; call it, after
	// giveReceipts, before the process exits.
	historySettle func()
}

// hugeHeapDocs and hugeHeapBytes: a read-only command that finds at least
// hugeHeapDocs loop documents puts its heap on transparent huge pages
// (hugeheap, hugeHeapBytes of address space). On a VM where each fresh
// 4 KB page costs ~23 µs, `spine plan` of 5,000 loops took 24,000 minor
// faults and 2.7-3.2 s of CPU, and 3,300 and 1.8-2.3 s so; the
// reservation itself costs ~10 ms, more than a small repository's heap
// saves.
const (
	hugeHeapDocs  = 100
	hugeHeapBytes = 256 << 20
)

// openOptions say what a command needs from openRepoWith.
type openOptions struct {
	// history reads the receipt history on another core while the
	// documents are parsed (it does not depend on them).
	history bool
	// shareReceipts, with history, is for a site build: the history
	// takes the receipts its receipt index lacks from the build, which
	// reads every receipt for its pages anyway, instead of reading them
	// a second time (on a fresh clone, 20,000 receipts are a third of a
	// build's reading). openRepoWith then does not wait for the history:
	// see repoContext.historyLater.
	shareReceipts bool
	// cached takes documents unchanged since the last read-only command
	// from the document cache instead of parsing them again.
	cached bool
	// hugeHeap reserves a heap on huge pages for a large repository
	// (hugeHeapDocs).
	hugeHeap bool
	// oneShot is for commands that read the repository once, report and
	// exit (plan, status, lint): the documents' bytes are not kept when
	// noSource is set, and the caches are read through memory mappings
	// that last until the process exits (cheaper than fresh memory).
	oneShot, noSource bool
}

// openRepo resolves the repository, loads spine.yaml and parses every loop
// document.
func (a *app) openRepo() (*repoContext, error) { return a.openRepoWith(openOptions{}) }

// openRepoReadOnly is openRepo for lint, which only reports.
func (a *app) openRepoReadOnly() (*repoContext, error) {
	return a.openRepoWith(openOptions{cached: true, oneShot: true, hugeHeap: true})
}

// openRepoForPlanning is openRepo for plan and status, which read the
// repository once and only read the documents' model.
func (a *app) openRepoForPlanning() (*repoContext, error) {
	return a.openRepoWith(openOptions{history: true, cached: true, oneShot: true, noSource: true, hugeHeap: true})
}

// openRepoForSite is openRepo for the site, which renders the documents'
// bytes; once is false for `site serve`, which reads the repository again
// on every change.
func (a *app) openRepoForSite(once bool) (*repoContext, error) {
	return a.openRepoWith(openOptions{history: true, shareReceipts: once, cached: true, oneShot: once})
}

// docCacheName is the document cache's file in the state folder
// (loops.Cache). Only read-only commands use it: what `spine run` executes
// is always parsed from the bytes it executes.
const docCacheName = "docs.cache"

func (a *app) openRepoWith(o openOptions) (*repoContext, error) {
	root, err := a.repoRoot()
	if err != nil {
		return nil, err
	}
	cfg, err := a.config(root)
	if err != nil {
		return nil, err
	}
	rc := &repoContext{root: root, cfg: cfg}
	var done chan struct{}
	if o.history && o.shareReceipts {
		rc.historyLater, rc.giveReceipts, rc.historySettle = a.historySharing(root, cfg.Receipts, o.oneShot)
	} else if o.history {
		done = make(chan struct{})
		go func() {
			defer close(done)
			if o.oneShot {
				rc.history, rc.historyErr = pipeline.LoadHistoryMapped(root, cfg.Receipts, stateDir(root))
			} else {
				rc.history, rc.historyErr = pipeline.LoadHistory(root, cfg.Receipts, stateDir(root))
			}
		}()
	}
	paths, err := loops.Discover(root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if o.hugeHeap && len(paths) >= hugeHeapDocs {
		_ = hugeheap.Reserve(hugeHeapBytes)
	}
	if err == nil {
		var cache *loops.Cache
		switch cachePath := filepath.Join(stateDir(root), docCacheName); {
		case o.cached && o.oneShot:
			cache = loops.OpenCacheMapped(cachePath, loops.ExecutableIdentity())
		case o.cached:
			cache = loops.OpenCache(cachePath, loops.ExecutableIdentity())
		}
		rc.set = loops.LoadWith(root, paths, loops.LoadOptions{Cache: cache, NoSource: o.noSource})
		if err := cache.Save(); err != nil {
			// The cache only saves time: a read-only repository or a full
			// disk must not stop the command.
			a.logger().Debug("document cache not saved", "err", err)
		}
	}
	if done != nil {
		<-done
	}
	if err != nil {
		if rc.giveReceipts != nil {
			rc.giveReceipts(nil)
		}
		return nil, exitf(exitUsage, "finding loop documents: %v", err)
	}
	return rc, nil
}

// historySharing starts reading the receipt history of the repository at
// root on another goroutine, taking from the receipts handed to give
// those its receipt index lacks (openOptions.shareReceipts). get waits
// for the history; give(nil) lets it read them all itself. The receipt
// index is written after the history is handed over
// (HistoryOptions.SaveLater): settle waits for both, and must be called
// (after give) before the process exits.
func (a *app) historySharing(root, receiptsDir string, mapped bool) (get func() (*pipeline.History, error), give func(pipeline.ReceiptSource), settle func()) {
	src := make(chan pipeline.ReceiptSource, 1)
	var once sync.Once
	give = func(s pipeline.ReceiptSource) { once.Do(func() { src <- s }) }
	var (
		h    *pipeline.History
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		h, err = pipeline.LoadHistoryWith(root, receiptsDir, stateDir(root), pipeline.HistoryOptions{
			Mapped:    mapped,
			Source:    func() pipeline.ReceiptSource { return <-src },
			SaveLater: true,
		})
	}()
	get = func() (*pipeline.History, error) { <-done; return h, err }
	settle = func() { <-done; h.WaitSaved() }
	return get, give, settle
}
