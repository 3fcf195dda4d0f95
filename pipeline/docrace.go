package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/loops"
)

// currentSource returns the bytes a stage's evidence is regenerated on. A
// loop document normally holds what this run last read or wrote (lr.src).
// When it changed during the run and the change is committed (a git pull
// while a step ran), that version is the base, so the other author's edit
// is kept; changed is then set. When the change is not committed (an
// operator editing while spine runs), err says so: the document is left
// alone and only the receipts are committed. err is also set when the
// document cannot be read safely (for example through a symbolic link).
func (r *Runner) currentSource(lr *loopRun) (src []byte, doc *loops.Document, changed bool, err error) {
	full, err := artifacts.SafeJoin(r.opts.Root, lr.doc.Path)
	if err != nil {
		return nil, nil, false, err
	}
	cur, err := os.ReadFile(full)
	if err != nil {
		return nil, nil, true, fmt.Errorf("read it again: %w", err)
	}
	if bytes.Equal(cur, lr.src) {
		return lr.src, lr.doc, false, nil
	}
	if r.opts.Git == nil {
		return nil, nil, true, errors.New("it changed while spine ran")
	}
	if dirty, err := r.opts.Git.Dirty(lr.doc.Path, cur); err != nil {
		return nil, nil, true, err
	} else if dirty {
		return nil, nil, true, errors.New("it has uncommitted changes made while spine ran")
	}
	return cur, loops.Parse(lr.doc.Path, cur), true, nil
}

// docChanged reports whether the loop document changed on disk since this
// run read (or last wrote) it, and says so: the rest of the loop is
// planned from the new text by the next run, never run from the old one.
func (r *Runner) docChanged(lr *loopRun) bool {
	_, _, changed, _ := r.currentSource(lr)
	if changed = changed || lr.stale; changed {
		r.report().Notice(fmt.Sprintf("%s changed while this run was working on it (a pull or an edit); %s stops here, the next run plans from the new text", lr.doc.Path, lr.doc.LoopID))
	}
	return changed
}
