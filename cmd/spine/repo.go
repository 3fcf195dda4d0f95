package main

import (
	"path/filepath"

	"github.com/spinehq/spine/config"
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
	// parsed (openRepoForPlanning), nil otherwise; historyErr is why it
	// could not be read.
	history    *pipeline.History
	historyErr error
}

// openRepo resolves the repository, loads spine.yaml and parses every loop
// document.
func (a *app) openRepo() (*repoContext, error) { return a.openRepoWith(false, false, false) }

// openRepoReadOnly is openRepo for commands that only report (lint): the
// documents unchanged since the last such command are taken from the
// document cache instead of being parsed again.
func (a *app) openRepoReadOnly() (*repoContext, error) { return a.openRepoWith(false, true, false) }

// openRepoForPlanning is openRepoReadOnly for the commands that plan
// (plan, status, site): the receipt history does not depend on the
// documents, so it is read on another core while they are parsed. With
// noSource the documents' bytes are not kept (plan and status only read
// the model; the site renders the bytes).
func (a *app) openRepoForPlanning(noSource bool) (*repoContext, error) {
	return a.openRepoWith(true, true, noSource)
}

// docCacheName is the document cache's file in the state folder
// (loops.Cache). Only read-only commands use it: what `spine run` executes
// is always parsed from the bytes it executes.
const docCacheName = "docs.cache"

func (a *app) openRepoWith(history, cached, noSource bool) (*repoContext, error) {
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
	if history {
		done = make(chan struct{})
		go func() {
			defer close(done)
			rc.history, rc.historyErr = pipeline.LoadHistory(root, cfg.Receipts, stateDir(root))
		}()
	}
	paths, err := loops.Discover(root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err == nil {
		var cache *loops.Cache
		if cached {
			cache = loops.OpenCache(filepath.Join(stateDir(root), docCacheName), loops.ExecutableIdentity())
		}
		rc.set = loops.LoadWith(root, paths, loops.LoadOptions{Cache: cache, NoSource: noSource})
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
		return nil, exitf(exitUsage, "finding loop documents: %v", err)
	}
	return rc, nil
}
