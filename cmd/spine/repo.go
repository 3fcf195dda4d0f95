package main

import (
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
func (a *app) openRepo() (*repoContext, error) { return a.openRepoWith(false) }

// openRepoForPlanning is openRepo for the read-only commands that plan
// (plan, status, site): the receipt history does not depend on the
// documents, so it is read on another core while they are parsed.
func (a *app) openRepoForPlanning() (*repoContext, error) { return a.openRepoWith(true) }

func (a *app) openRepoWith(history bool) (*repoContext, error) {
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
		rc.set = loops.Load(root, paths)
	}
	if done != nil {
		<-done
	}
	if err != nil {
		return nil, exitf(exitUsage, "finding loop documents: %v", err)
	}
	return rc, nil
}
