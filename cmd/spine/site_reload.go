package main

import (
	"os"
	"path/filepath"

	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
	"github.com/spinehq/spine/site"
)

// siteLoader reads the repository for `spine site serve`: whole (load),
// or again only where the file watcher saw changes (reload), keeping the
// documents and the receipt history that did not change.
type siteLoader struct {
	a            *app
	out, baseURL string
	rc           *repoContext
	// planned waits for the step states of the last options to be
	// planned, and their approval lookups saved (see options).
	planned func()
}

// load reads the whole repository.
func (l *siteLoader) load() (site.Options, error) {
	l.settle()
	rc, err := l.a.openRepoForSite(false)
	if err != nil {
		l.rc = nil
		return site.Options{}, err
	}
	l.rc = rc
	return l.options(rc)
}

// options returns the build options of rc. The step states are planned
// on another goroutine meanwhile: the build waits for them only once it
// needs them (site.Options.StepState), after it has read what else
// changed. The next load or reload, and settle, wait for that planning to
// end, so that two never overlap.
func (l *siteLoader) options(rc *repoContext) (site.Options, error) {
	opts, wait, err := l.a.siteOptionsFrom(rc, l.out, l.baseURL)
	l.planned = wait
	return opts, err
}

// settle waits for the planning that the last options started, if any.
func (l *siteLoader) settle() {
	if l.planned != nil {
		l.planned()
		l.planned = nil
	}
}

// reload reads again what ch names: the loop documents changed (or all
// of them, discovered again, when folders changed), the receipt history
// when receipts changed. The step states are planned again for every loop:
// approvals come from git history, so a commit that changes no file
// (Changes.Git alone) can change them.
func (l *siteLoader) reload(_ site.Options, ch site.Changes) (site.Options, error) {
	l.settle()
	if l.rc == nil {
		return l.load()
	}
	rc := *l.rc
	if ch.Rescan || len(ch.Docs) > 0 {
		set, ok := l.reloadDocs(ch)
		if !ok {
			return l.load()
		}
		rc.set = set
	}
	if ch.Receipts {
		rc.history, rc.historyErr = pipeline.LoadHistory(rc.root, rc.cfg.Receipts, stateDir(rc.root))
	}
	l.rc = &rc
	return l.options(&rc)
}

// reloadDocs returns the documents of the last set with those ch names
// parsed again; ok is false when the set must be read whole (duplicate
// loop ids, whose findings are recorded in the documents themselves).
func (l *siteLoader) reloadDocs(ch site.Changes) (*loops.Set, bool) {
	old, root, cfg := l.rc.set, l.rc.root, l.rc.cfg
	if hasDuplicateIDs(old.Docs) {
		return nil, false
	}
	changed := make(map[string]bool, len(ch.Docs))
	for _, p := range ch.Docs {
		changed[p] = true
	}
	byPath := make(map[string]*loops.Document, len(old.Docs))
	for _, d := range old.Docs {
		byPath[d.Path] = d
	}
	var paths []string
	if ch.Rescan {
		var err error
		paths, err = loops.Discover(root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
		if err != nil {
			return nil, false
		}
	} else {
		seen := map[string]bool{}
		for _, d := range old.Docs {
			seen[d.Path] = true
			paths = append(paths, d.Path)
		}
		for _, p := range old.Problems {
			if !seen[p.Path] {
				seen[p.Path] = true
				paths = append(paths, p.Path)
			}
		}
		for _, p := range ch.Docs {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	var docs []*loops.Document
	var load []string
	for _, p := range paths {
		if d := byPath[p]; d != nil && !changed[p] {
			docs = append(docs, d)
			continue
		}
		if !ch.Rescan {
			// Discovery takes regular files only.
			if fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(p))); err != nil || !fi.Mode().IsRegular() {
				continue
			}
		}
		load = append(load, p)
	}
	fresh := loops.LoadWith(root, load, loops.LoadOptions{})
	docs = append(docs, fresh.Docs...)
	if hasDuplicateIDs(docs) {
		return nil, false
	}
	set := loops.NewSet(docs)
	reread := map[string]bool{}
	for _, p := range load {
		reread[p] = true
	}
	for _, p := range old.Problems {
		if !reread[p.Path] && byPath[p.Path] == nil && !changed[p.Path] {
			set.Problems = append(set.Problems, p)
		}
	}
	set.Problems = append(set.Problems, fresh.Problems...)
	return set, true
}

// hasDuplicateIDs reports whether two documents share a loop id.
func hasDuplicateIDs(docs []*loops.Document) bool {
	seen := make(map[string]bool, len(docs))
	for _, d := range docs {
		if d.LoopID == "" {
			continue
		}
		if seen[d.LoopID] {
			return true
		}
		seen[d.LoopID] = true
	}
	return false
}
