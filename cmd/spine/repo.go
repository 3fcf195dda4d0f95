package main

import (
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
)

// repoContext is what most commands start from: the repository root, its
// configuration and its parsed loop documents.
type repoContext struct {
	root string
	cfg  *config.Config
	set  *loops.Set
}

// openRepo resolves the repository, loads spine.yaml and parses every loop
// document.
func (a *app) openRepo() (*repoContext, error) {
	root, err := a.repoRoot()
	if err != nil {
		return nil, err
	}
	cfg, err := a.config(root)
	if err != nil {
		return nil, err
	}
	paths, err := loops.Discover(root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err != nil {
		return nil, exitf(exitUsage, "finding loop documents: %v", err)
	}
	return &repoContext{root: root, cfg: cfg, set: loops.Load(root, paths)}, nil
}
