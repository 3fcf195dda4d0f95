package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
)

// replayedTrailer marks a commit a push replayed (see replayOne).
const replayedTrailer = "Spine-Replayed-From"

// recoverInterruptedPush undoes a push that died while replaying spine's
// commits on a remote head that had moved on (see replay): the branch may
// be at the remote's head, or a few replayed commits past it, with the
// working tree switched — receipts and artifacts of spine's unpushed
// commits are then only in refs/spine/replay-backup, and planning from the
// working tree would run their steps again. It moves the branch and the
// working tree back to the backup (the replay is redone by the next push)
// and reloads the loop documents. A push that died inside the working-tree
// switch, before the branch moved, is undone file by file.
//
// It refuses, running nothing, when the branch holds commits that are
// neither replays nor on a remote (someone committed since), or when
// uncommitted changes are in the way: the operator decides then.
func (r *Runner) recoverInterruptedPush() error {
	g := r.opts.Git
	if g == nil {
		return nil
	}
	ref, err := g.R.Reference(plumbing.ReferenceName(backupRef), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", backupRef, err)
	}
	backup := ref.Hash()
	head, err := g.Head()
	if err != nil {
		return err
	}
	refuse := func(why string) error {
		return fmt.Errorf("an interrupted push left spine's unpushed commits at %s (%s), but %s; nothing was run: check `git log %s`, then move the branch there (or delete the ref) by hand", backupRef, backup.String()[:12], why, backupRef)
	}
	writes := readReplayWrites(r.opts.StateDir)
	if head == backup {
		if err := r.undoPartialSwitch(backup); err != nil {
			return refuse(err.Error())
		}
	} else if ok, err := g.IsAncestor(backup, head); err != nil {
		return err
	} else if !ok {
		// Walk back over the replayed commits to the remote's head.
		c, err := g.HeadCommit()
		if err != nil {
			return err
		}
		for i := 0; c != nil && gitx.Trailer(c.Message, replayedTrailer) != "" && len(c.ParentHashes) == 1; i++ {
			if i > maxReplay {
				return refuse("too many replayed commits")
			}
			if c, err = g.R.CommitObject(c.ParentHashes[0]); err != nil {
				return fmt.Errorf("read commit: %w", err)
			}
		}
		if c == nil || !r.onRemote(c.Hash) {
			return refuse("the branch has commits since that are not on any remote")
		}
		// What the replay wrote and did not commit is spine's own
		// (replayWritesFile): it goes, an operator's edit stops it.
		if _, err := g.SwitchToOver(backup, writes); err != nil {
			return refuse(err.Error())
		}
	}
	// The temporary files of writes the kill cut short go too; the list
	// before the backup, so that no list outlives its backup.
	removeReplayTemps(r.opts.Root, writes)
	dropReplayWrites(r.opts.StateDir)
	if err := g.RemoveRef(backupRef); err != nil {
		return err
	}
	r.report().Notice(fmt.Sprintf("an interrupted push had moved the branch off spine's unpushed commits; restored them from %s (the next push sends them)", backupRef))
	r.log.Info("restored spine's commits after an interrupted push", "commit", backup.String())
	return r.reloadDocs()
}

// onRemote reports whether commit h is on a remote-tracking branch.
func (r *Runner) onRemote(h plumbing.Hash) bool {
	refs, err := r.opts.Git.R.References()
	if err != nil {
		return false
	}
	defer refs.Close()
	found := false
	_ = refs.ForEach(func(ref *plumbing.Reference) error {
		if !ref.Name().IsRemote() || ref.Type() != plumbing.HashReference {
			return nil
		}
		if ok, err := r.opts.Git.IsAncestor(h, ref.Hash()); err == nil && ok {
			found = true
			return errors.New("found")
		}
		return nil
	})
	return found
}

// undoPartialSwitch puts back HEAD's version of every working file that a
// switch from HEAD to a remote-tracking head had already replaced (a
// crash inside gitx.SwitchTo, which moves the branch last).
func (r *Runner) undoPartialSwitch(head plumbing.Hash) error {
	g := r.opts.Git
	refs, err := g.R.References()
	if err != nil {
		return err
	}
	var tips []plumbing.Hash
	_ = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Name().IsRemote() && ref.Type() == plumbing.HashReference {
			tips = append(tips, ref.Hash())
		}
		return nil
	})
	refs.Close()
	for _, tip := range tips {
		changes, err := g.Diff(head, tip)
		if err != nil {
			return err
		}
		for _, ch := range changes {
			full, err := artifacts.SafeJoin(r.opts.Root, ch.Path)
			if err != nil {
				continue
			}
			data, err := os.ReadFile(full)
			exists := err == nil
			switch {
			case !exists && !ch.From.Hash.IsZero() && errors.Is(err, os.ErrNotExist):
				// Removed by the switch: restore HEAD's version.
			case exists && !ch.To.Hash.IsZero() && gitx.BlobHash(data) == ch.To.Hash && gitx.BlobHash(data) != ch.From.Hash:
				// Replaced by the remote's version.
			default:
				continue
			}
			if ch.From.Hash.IsZero() {
				if err := os.Remove(full); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("undo switch: %w", err)
				}
				continue
			}
			if ch.From.Mode == filemode.Symlink || ch.From.Mode == filemode.Submodule {
				return fmt.Errorf("undo switch: %s is a %s", ch.Path, ch.From.Mode)
			}
			blob, err := g.Blob(ch.From.Hash)
			if err != nil {
				return err
			}
			perm := fsx.FileMode
			if ch.From.Mode == filemode.Executable {
				perm = fsx.ExecMode
			}
			if err := os.MkdirAll(filepath.Dir(full), fsx.DirMode); err != nil {
				return fmt.Errorf("undo switch: %w", err)
			}
			if err := artifacts.WriteFileAtomicMode(full, blob, perm); err != nil {
				return fmt.Errorf("undo switch: %w", err)
			}
		}
	}
	return nil
}

// reloadDocs parses the loop documents again after the working tree
// changed under the run.
func (r *Runner) reloadDocs() error {
	cfg := r.opts.Config
	paths, err := loops.Discover(r.opts.Root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err != nil {
		return fmt.Errorf("finding loop documents: %w", err)
	}
	*r.opts.Set = *loops.Load(r.opts.Root, paths)
	return nil
}
