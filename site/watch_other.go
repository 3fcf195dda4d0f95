//go:build !linux

package site

import (
	"errors"
	"runtime"
)

// watcher is not available outside Linux: Serve polls.
type watcher struct {
	ready chan struct{}
}

func newWatcher(Options) (*watcher, error) {
	return nil, errors.New("no file watcher on " + runtime.GOOS)
}

func (w *watcher) take() changeSet { return changeSet{} }

func (w *watcher) close() {}

func (w *watcher) count() int { return 0 }
