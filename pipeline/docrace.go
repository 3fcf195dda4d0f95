package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
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
//
// It is asked before every step. Reading the whole document each time
// costs a read proportional to its size per step (a loop of many steps is
// a long document), so once the file's content has been found equal to
// lr.src, its stat stamp is kept (see docStamp) and later checks whose
// stamp is unchanged skip the read.
func (r *Runner) docChanged(lr *loopRun) bool {
	changed := lr.stale
	if !changed {
		changed = r.docMoved(lr)
	}
	if changed {
		r.report().Notice(fmt.Sprintf("%s changed while this run was working on it (a pull or an edit); %s stops here, the next run plans from the new text", lr.doc.Path, lr.doc.LoopID))
		// An edit not committed waits for an operator (exit 3), as a
		// loop skipped for its uncommitted changes does; a pull does not.
		if _, _, _, err := r.currentSource(lr); err != nil && !slices.ContainsFunc(r.out.Skipped, func(s Skip) bool { return s.What == lr.doc.LoopID }) {
			r.out.Skipped = append(r.out.Skipped, Skip{What: lr.doc.LoopID, Why: fmt.Sprintf("%s: %v; commit or revert it", lr.doc.Path, err)})
		}
	}
	return changed
}

// docMoved is docChanged without the notice: the stamp fast path, else
// currentSource.
func (r *Runner) docMoved(lr *loopRun) bool {
	// The real clock, not Options.Clock: the stamp is compared with the
	// file system's timestamps. The path check's Lstat of the document is
	// the stamp's.
	before := time.Now()
	_, fi, err := artifacts.SafeLstat(r.opts.Root, lr.doc.Path)
	if err != nil {
		// currentSource decides, as it always did.
		lr.stamp = srcStamp{}
		_, _, changed, _ := r.currentSource(lr)
		return changed
	}
	var st docStamp
	stOK := fi != nil && fi.Mode().IsRegular()
	if stOK {
		st, stOK = fsx.StampOf(fi)
	}
	if stOK && lr.stamp.valid(lr.src) && lr.stamp.st == st {
		return false
	}
	lr.stamp = srcStamp{}
	_, _, changed, _ := r.currentSource(lr)
	if !changed && stOK && st.Settled(before, docSettle) {
		lr.stamp = srcStamp{st: st, src: lr.src, ok: true}
	}
	return changed
}

// docSettle is how old a document's last change must be for its stamp to
// be trusted (see fsx.Stamp).
const docSettle = fsx.SettleMargin

// docStamp identifies a document's content without reading it (see
// fsx.Stamp for why an equal, settled stamp proves an equal content).
type docStamp = fsx.Stamp

// srcStamp is a docStamp that vouches for one content: src, the slice the
// file was found equal to (lr.src at the time). It is void as soon as
// lr.src is another slice (the run wrote or adopted a new text).
type srcStamp struct {
	st  docStamp
	src []byte
	ok  bool
}

// valid reports whether the stamp vouches for src.
func (s srcStamp) valid(src []byte) bool {
	return s.ok && len(s.src) == len(src) && len(src) > 0 && &s.src[0] == &src[0]
}

// halfEdited reports whether the loop document rel, whose working-tree
// content is src, holds changes HEAD does not have, other than the ones
// spine makes itself (loops.OnlySpineEdits): spine neither runs a loop from
// someone's half-edit nor commits one. A document never committed is one.
// leftover is set when the document differs from HEAD only by spine's own
// edit, which a run that wrote it and then failed to commit (a crash, a
// stale index.lock, a full disk) leaves behind: the next run regenerates
// and commits it rather than refusing the loop for good.
func halfEdited(g *gitx.Repo, rel string, src []byte) (half, leftover bool, err error) {
	dirty, err := g.Dirty(rel, src)
	if err != nil || !dirty {
		return false, false, err
	}
	head, ok, err := g.HeadFile(rel)
	if err != nil || !ok {
		return true, false, err
	}
	if loops.OnlySpineEdits(head, src) {
		return false, true, nil
	}
	return true, false, nil
}

// spineLeftovers returns, for each of paths (repository-relative files a
// switch of the working tree refused to overwrite) that differs from HEAD
// only by spine's own edit of a loop document (its evidence block and
// heartbeat, see halfEdited), the blob hash of its working-tree content;
// nil unless every one of paths is such a leftover. Such an edit is
// regenerated from the receipts when they are committed (the journal has
// them), so a switch may overwrite it: refusing left the clone running on
// what it had, behind the remote, and a step another host had run since
// ran again.
func spineLeftovers(g *gitx.Repo, root string, paths []string) map[string]plumbing.Hash {
	mine := map[string]plumbing.Hash{}
	for _, rel := range paths {
		full, err := artifacts.SafeJoin(root, rel)
		if err != nil {
			return nil
		}
		src, err := os.ReadFile(full)
		if err != nil {
			return nil
		}
		head, ok, err := g.HeadFile(rel)
		if err != nil || !ok || !loops.OnlySpineEdits(head, src) {
			return nil
		}
		mine[rel] = gitx.BlobHash(src)
	}
	return mine
}

// switchOverLeftovers is g.SwitchTo(target, force), which, when it refuses
// only because of spine's own uncommitted edits (spineLeftovers),
// overwrites those.
func switchOverLeftovers(g *gitx.Repo, root string, target plumbing.Hash, force bool) error {
	_, err := g.SwitchTo(target, force)
	var ow *gitx.OverwriteError
	if errors.As(err, &ow) {
		if mine := spineLeftovers(g, root, ow.Paths); mine != nil {
			_, err = g.SwitchToOver(target, mine)
		}
	}
	return err
}

// leftoverNotice tells the operator that a loop document's uncommitted
// change was spine's own (see halfEdited), and what becomes of it.
func leftoverNotice(rel string) string {
	return fmt.Sprintf("%s: its evidence block and heartbeat differ from HEAD, left by an earlier run that could not commit them; regenerated and committed with this run", rel)
}
