package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
)

// Defaults of PushOptions.
const (
	DefaultRemote       = "origin"
	DefaultPushAttempts = 5
	DefaultPushBackoff  = 250 * time.Millisecond
	// maxReplay bounds how many local commits a replay walks.
	maxReplay = 1000
	// backupRef keeps spine's original commits reachable while they are
	// being replayed.
	backupRef = "refs/spine/replay-backup"
)

// ErrReplayRefused is returned (wrapped) when spine's local commits cannot
// be replayed on the remote's new head without touching someone else's
// work: a local commit that is not spine's, a merge, uncommitted changes in
// the way, or a file both sides changed. Nothing is lost: the local commits
// stay where they are and the next push tries again.
var ErrReplayRefused = errors.New("replay refused")

// ErrReplayPending is returned by Push and Sync while a push killed in its
// replay is not recovered yet (backupRef exists): the branch may hold part
// of the replay and the working tree files of the rest, and a push would
// send the part. A run recovers it first (Runner.recoverInterruptedPush),
// and its push then replays everything.
var ErrReplayPending = errors.New("an interrupted push left spine's unpushed commits at " + backupRef + ", not recovered yet; the next spine run recovers them, then pushes")

// replayPending reports whether an interrupted push's backup reference
// exists.
func replayPending(g *gitx.Repo) bool {
	if g == nil {
		return false
	}
	_, err := g.R.Reference(plumbing.ReferenceName(backupRef), true)
	return err == nil
}

// PushOptions configure Push and Sync.
type PushOptions struct {
	Root     string
	Config   *config.Config
	Git      *gitx.Repo
	StateDir string
	// Remote is the remote's name (DefaultRemote when empty).
	Remote string
	// Branch is the remote branch (default: the current branch).
	Branch string
	Host   string
	// Attempts bounds the pushes tried (DefaultPushAttempts when 0).
	Attempts int
	// Backoff is the pause before the second attempt, doubled after each
	// (DefaultPushBackoff when 0).
	Backoff time.Duration
	Clock   func() time.Time
	Log     *slog.Logger
	// Notice receives one-line messages for the operator.
	Notice func(string)
	// DiscardLocalChanges lets a replay or sync overwrite working files
	// changed since the last commit. Only for a clone spine maintains itself
	// (the hook's worktree), never an operator's.
	DiscardLocalChanges bool
	// Fault, when set, is called at FaultMidPush (tests kill the process
	// there; see FaultPoints).
	Fault func(point string)
	// Signer is this host's receipt signing key (nil: none). A replay that
	// chains signed receipts anew (see rechain) signs them again with it.
	Signer *artifacts.Signer
}

// NewPushOptions derives push options from a run's options.
func NewPushOptions(o Options, remote, branch string) PushOptions {
	return PushOptions{
		Root: o.Root, Config: o.Config, Git: o.Git, StateDir: o.StateDir,
		Remote: remote, Branch: branch, Host: o.Host, Clock: o.Clock, Log: o.Log,
		Fault: o.Fault, Signer: o.Signer,
	}
}

// PushResult is what Push did.
type PushResult struct {
	Remote, Branch string
	// Pushed is set when the remote branch was moved to spine's commits.
	Pushed bool
	// Head is the commit the remote branch is at afterwards (when known).
	Head string
	// Attempts is how many pushes were tried.
	Attempts int
	// Replayed are the new hashes of commits replayed on a remote head
	// that moved on.
	Replayed []string
	// Notes are messages for the operator (e.g. a loop someone else
	// changed while spine ran).
	Notes []string
	// fetched is set once a push was rejected and the remote's branch
	// fetched: whether commits were replayed on it or not, the fetch left
	// a pack.
	fetched bool
}

// keptHouse reports whether Push kept house itself: it does after it
// fetched (and replayed, if anything was to be).
func (p *PushResult) keptHouse() bool { return p != nil && p.fetched }

func (o *PushOptions) defaults() error {
	if o.Git == nil {
		return errors.New("push: not a git repository")
	}
	if o.Config == nil {
		o.Config = config.Default()
	}
	if o.Remote == "" {
		o.Remote = DefaultRemote
	}
	if o.Branch == "" {
		b, err := o.Git.CurrentBranch()
		if err != nil {
			return err
		}
		if b == "" {
			return errors.New("push: HEAD is detached; name the remote branch (--branch)")
		}
		o.Branch = b
	}
	if !o.Git.HasRemote(o.Remote) {
		return fmt.Errorf("push: the repository has no remote %q", o.Remote)
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultPushAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultPushBackoff
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// lock takes the repository's run lock (without waiting) for a change of
// the working tree, so it never interleaves with a run's commits. While
// it is held, every lock file a git change takes (index.lock, HEAD's and
// the branch's, the backup reference's) is journaled before it is put in
// place, as a run's are (journalLocks).
func (o *PushOptions) lock(ctx context.Context) (func(), error) {
	if o.StateDir == "" {
		return func() {}, nil
	}
	release, err := LockRepo(ctx, o.Git, o.StateDir, 0, o.Log)
	if err != nil {
		return nil, fmt.Errorf("update the working tree: %w; the next push or sync does it", err)
	}
	detach, err := o.journalLocks()
	if err != nil {
		release()
		return nil, err
	}
	return func() {
		detach()
		release()
	}, nil
}

// journalLocks records in the state folder's journal, until detach, the
// lock files the repository's git changes take, after removing those a
// spine process that died left: a push or a sync killed while it held
// one (moving the branch, committing a replay) left a lock no command
// could tell its own, and every commit after it stopped on it. It runs
// under the run lock: detach also drops the journal when it holds
// nothing more (as a run does at its end). Where a run records them
// already (its own push), nothing is changed.
func (o *PushOptions) journalLocks() (detach func(), err error) {
	g := o.Git
	if g == nil || g.OnIndexLock != nil {
		return func() {}, nil
	}
	j, err := OpenJournal(o.StateDir)
	if err != nil {
		return nil, err
	}
	unhook, err := attachLockJournal(j, g, o.Clock, o.Fault, func(msg string) { o.notice(nil, msg) })
	if err != nil {
		j.Close()
		return nil, err
	}
	return func() {
		unhook()
		if err := j.Compact(); err != nil {
			o.Log.Warn("journal compaction failed", "err", err)
		}
		j.Close()
	}, nil
}

func (o *PushOptions) notice(res *PushResult, msg string) {
	if res != nil {
		res.Notes = append(res.Notes, msg)
	}
	if o.Notice != nil {
		o.Notice(msg)
	}
	o.Log.Info(msg)
}

// Push pushes the local branch to the remote, never forcing. When the
// remote moved on it fetches, replays spine's own local commits on the
// remote's new head (receipts and artifacts are new files; loop documents
// get their evidence block and heartbeat regenerated on the remote's
// version) and pushes again, up to Attempts times with a doubling pause. A
// local branch that is behind the remote, with nothing of its own, is left
// alone and reported as nothing to push. Whatever fails, spine's commits
// stay committed locally, so the next Push pushes them.
func Push(ctx context.Context, o PushOptions) (*PushResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res := &PushResult{Remote: o.Remote, Branch: o.Branch}
	if replayPending(o.Git) {
		return res, ErrReplayPending
	}
	// A fetch (and the commits replayed after it) leaves objects that
	// any housekeeping before the push did not see: keep house after
	// it, as git fetch does after it fetched, also when nothing was
	// replayed (this clone was only behind) or the push still failed.
	defer func() {
		if res.keptHouse() {
			Housekeep(ctx, o.Git, o.Log)
		}
	}()
	var lastErr error
	var wait time.Duration
	for attempt := 1; attempt <= o.Attempts; attempt++ {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return res, fmt.Errorf("push to %s/%s: %w", o.Remote, o.Branch, ctx.Err())
			case <-time.After(wait):
			}
		}
		// Unless a fresh replay is pushed at once, the next attempt waits
		// Backoff, 2×Backoff, 4×Backoff...
		wait = o.Backoff << (attempt - 1)
		res.Attempts = attempt
		head, err := o.Git.Head()
		if err != nil {
			return res, err
		}
		moved, err := o.Git.Push(ctx, o.Remote, o.Branch)
		if err == nil {
			res.Head = head.String()
			res.Pushed = res.Pushed || moved
			return res, nil
		}
		lastErr = err
		o.Log.Info("push rejected; fetching", "remote", o.Remote, "branch", o.Branch, "attempt", attempt, "err", err)
		tip, ferr := o.Git.Fetch(ctx, o.Remote, o.Branch)
		if ferr != nil {
			lastErr = ferr
			continue
		}
		res.fetched = true
		if tip.IsZero() {
			continue // the branch is missing there: the push failed for another reason
		}
		if ok, aerr := o.Git.IsAncestor(tip, head); aerr != nil {
			return res, aerr
		} else if ok {
			continue // the remote did not move on: retry after a pause
		}
		n, err := replay(ctx, &o, res, head, tip)
		if err != nil {
			return res, err
		}
		if n == 0 {
			res.Head = tip.String()
			o.notice(res, fmt.Sprintf("nothing to push: %s/%s already has everything of this clone's", o.Remote, o.Branch))
			return res, nil
		}
		if attempt == 1 {
			wait = 0
		}
	}
	return res, fmt.Errorf("push to %s/%s failed after %d attempt(s); spine's commits stay committed locally and the next push sends them: %w", o.Remote, o.Branch, res.Attempts, lastErr)
}

// replayFile is a non-document file a replayed commit writes (nil data:
// removes).
type replayFile struct {
	path   string
	data   []byte
	remove bool
}

// replayDoc is a loop document a replayed commit regenerates.
type replayDoc struct {
	path string
	// ours is spine's version in the original commit.
	ours []byte
	// useOurs is set when nobody else changed the document since the
	// original commit's parent: spine's version is the starting point.
	useOurs bool
}

// replayCommit is one local commit to redo on the remote's head.
type replayCommit struct {
	orig  *object.Commit
	files []replayFile
	docs  []replayDoc
}

// replay redoes spine's commits between the merge base and head on tip and
// returns how many commits it made.
func replay(ctx context.Context, o *PushOptions, res *PushResult, head, tip plumbing.Hash) (int, error) {
	g := o.Git
	base, err := g.MergeBase(head, tip)
	if err != nil {
		return 0, err
	}
	if base == head {
		return 0, nil
	}
	chain, err := g.Chain(base, head, maxReplay)
	if err != nil {
		return 0, fmt.Errorf("%w: %v; pull and push by hand", ErrReplayRefused, err)
	}
	var remoteSigs map[string]plumbing.Hash
	kept := chain[:0:0]
	for _, c := range chain {
		if gitx.Trailer(c.Message, "Spine-Run") != "" {
			kept = append(kept, c)
			continue
		}
		// An operator's commit whose change the remote already has (an
		// amend, a rebase: the same change under another hash, as git
		// rebase would skip it) is left out: spine's commits replay on
		// the remote's.
		if remoteSigs == nil {
			if remoteSigs, err = changeSigs(g, base, tip); err != nil {
				return 0, fmt.Errorf("%w: %v; pull and push by hand", ErrReplayRefused, err)
			}
		}
		sig, err := changeSig(c)
		if err != nil {
			return 0, fmt.Errorf("%w: %v; pull and push by hand", ErrReplayRefused, err)
		}
		if same, ok := remoteSigs[sig]; ok && sig != "" {
			o.notice(res, fmt.Sprintf("local commit %s (%q) is on %s/%s as %s (the same change): left out of the replay", c.Hash.String()[:12], firstLine(c.Message), o.Remote, o.Branch, same.String()[:12]))
			continue
		}
		return 0, fmt.Errorf("%w: local commit %s (%q) is not spine's and is not on %s/%s; spine only replays its own commits: pull --rebase and push by hand", ErrReplayRefused, c.Hash.String()[:12], firstLine(c.Message), o.Remote, o.Branch)
	}
	chain = kept
	o.notice(res, fmt.Sprintf("%s/%s moved on (now %s); replaying %d spine commit(s) on it", o.Remote, o.Branch, tip.String()[:12], len(chain)))
	plan, upstream, err := planReplay(o, chain, base, tip)
	if err != nil {
		return 0, err
	}
	moved, notes, err := rechain(o, plan, base, tip)
	rechained := moved != nil
	if err != nil {
		return 0, fmt.Errorf("%w: %v; pull and push by hand", ErrReplayRefused, err)
	}
	upstream = append(upstream, notes...)
	// No run may commit while the working tree moves under it.
	unlock, err := o.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if now, err := g.Head(); err != nil {
		return 0, err
	} else if now != head {
		return 0, errors.New("HEAD moved while preparing the replay (a run committed); the next push replays")
	}
	// Keep the originals reachable until their replay is committed.
	if err := g.SetRef(backupRef, head, "spine: keep commits while replaying them"); err != nil {
		return 0, err
	}
	if err := switchOverLeftovers(g, o.Root, tip, o.DiscardLocalChanges); err != nil {
		var ow *gitx.OverwriteError
		if errors.As(err, &ow) {
			// Refused before anything changed: there is nothing to
			// recover (the backup would hold every push until a run).
			_ = g.RemoveRef(backupRef)
			return 0, fmt.Errorf("%w: %v by the move to %s/%s's head; stash them or undo them, and the next push replays spine's commits (a commit of them is no commit of spine's, which it does not replay: pull --rebase and push by hand then)", ErrReplayRefused, err, o.Remote, o.Branch)
		}
		return 0, fmt.Errorf("move to %s/%s: %w", o.Remote, o.Branch, err)
	}
	for _, note := range upstream {
		o.notice(res, note)
	}
	// The receipt index caches each run folder's chain hash: receipts
	// chained anew change it. Dropped before they are written and again
	// after (a command that read the folders meanwhile may have saved it).
	if rechained {
		if err := dropReceiptIndex(o.StateDir); err != nil {
			return 0, err
		}
		defer func() {
			if err := dropReceiptIndex(o.StateDir); err != nil {
				o.Log.Warn("receipt index not dropped", "err", err)
			}
		}()
	}
	if o.Fault != nil {
		o.Fault(FaultMidPush)
	}
	made := 0
	for _, rc := range plan {
		if err := ctx.Err(); err != nil {
			return made, err
		}
		h, ok, err := replayOne(o, rc)
		if err != nil {
			// Go back to spine's original commits, so the next push tries
			// again from where this one started.
			if _, rerr := g.SwitchTo(head, true); rerr != nil {
				return made, fmt.Errorf("replay %s: %w; going back failed too (%v): the original commits are kept at %s", rc.orig.Hash.String()[:12], err, rerr, backupRef)
			}
			dropReplayWrites(o.StateDir)
			_ = g.RemoveRef(backupRef)
			return 0, fmt.Errorf("replay %s: %w (back at spine's original commits)", rc.orig.Hash.String()[:12], err)
		}
		if ok {
			made++
			res.Replayed = append(res.Replayed, h.String())
		}
		if o.Fault != nil {
			o.Fault(FaultMidPush)
		}
	}
	// The list first: no list outlives its backup.
	dropReplayWrites(o.StateDir)
	_ = g.RemoveRef(backupRef)
	if rechained {
		for _, note := range rechainLeftovers(o, moved) {
			o.notice(res, note)
		}
	}
	if made == 0 {
		// Everything spine did is already there: the branch is at tip.
		return 0, nil
	}
	return made, nil
}

// isLoopDoc reports whether rel is (by configuration or content) a loop
// document whose evidence spine writes.
func isLoopDoc(cfg *config.Config, rel string, content []byte) bool {
	if !strings.HasSuffix(strings.ToLower(rel), ".md") {
		return false
	}
	for _, ex := range cfg.Exclude {
		if loops.MatchGlob(ex, rel) {
			return false
		}
	}
	for _, in := range cfg.Loops {
		if loops.MatchGlob(in, rel) {
			return true
		}
	}
	return bytes.Contains(content, []byte(loops.EvidenceBegin))
}

func under(dir, rel string) bool {
	dir = strings.Trim(path.Clean(dir), "/")
	return dir != "" && dir != "." && strings.HasPrefix(rel, dir+"/")
}

// planReplay decides, before anything in the working tree changes, what
// each commit writes, and refuses when both sides changed a file spine
// cannot regenerate. It also returns notes on loop documents someone else
// changed meanwhile.
func planReplay(o *PushOptions, chain []*object.Commit, base, tip plumbing.Hash) ([]replayCommit, []string, error) {
	g := o.Git
	// The content of each path on the new line of history (the zero hash:
	// absent), and the documents whose bytes are only known once they are
	// regenerated.
	sim := map[string]plumbing.Hash{}
	regen := map[string]bool{}
	cur := func(p string) (plumbing.Hash, error) {
		if h, ok := sim[p]; ok {
			return h, nil
		}
		e, ok, err := g.EntryAt(tip, p)
		if err != nil || !ok {
			return plumbing.ZeroHash, err
		}
		return e.Hash, nil
	}
	var plan []replayCommit
	var notes []string
	noted := map[string]bool{}
	for _, c := range chain {
		parent := plumbing.ZeroHash
		if len(c.ParentHashes) > 0 {
			parent = c.ParentHashes[0]
		}
		changes, err := g.Diff(parent, c.Hash)
		if err != nil {
			return nil, nil, err
		}
		rc := replayCommit{orig: c}
		for _, ch := range changes {
			now, err := cur(ch.Path)
			if err != nil {
				return nil, nil, err
			}
			var ours []byte
			if !ch.To.Hash.IsZero() {
				if ours, err = g.Blob(ch.To.Hash); err != nil {
					return nil, nil, err
				}
			}
			switch {
			case !ch.To.Hash.IsZero() && isLoopDoc(o.Config, ch.Path, ours):
				rc.docs = append(rc.docs, replayDoc{path: ch.Path, ours: ours, useOurs: !regen[ch.Path] && now == ch.From.Hash})
				regen[ch.Path] = true
				if !noted[ch.Path] {
					noted[ch.Path] = true
					if note := upstreamNote(o, ch.Path, base, tip, ours); note != "" {
						notes = append(notes, note)
					}
				}
				continue
			case now == ch.To.Hash:
				// Already there (or removed there).
			case under(o.Config.Receipts, ch.Path):
				if !now.IsZero() && now != ch.From.Hash {
					return nil, nil, fmt.Errorf("%w: receipt file %s exists on %s/%s with different content", ErrReplayRefused, ch.Path, o.Remote, o.Branch)
				}
				rc.files = append(rc.files, replayFile{path: ch.Path, data: ours, remove: ch.To.Hash.IsZero()})
			case under(o.Config.Artifacts, ch.Path):
				if now != ch.From.Hash {
					notes = append(notes, fmt.Sprintf("artifact %s was changed on %s/%s too; spine's version (the one its receipt hashes) is kept", ch.Path, o.Remote, o.Branch))
				}
				rc.files = append(rc.files, replayFile{path: ch.Path, data: ours, remove: ch.To.Hash.IsZero()})
			case now == ch.From.Hash:
				rc.files = append(rc.files, replayFile{path: ch.Path, data: ours, remove: ch.To.Hash.IsZero()})
			default:
				return nil, nil, fmt.Errorf("%w: %s was changed both by spine (commit %s) and on %s/%s; merge by hand", ErrReplayRefused, ch.Path, c.Hash.String()[:12], o.Remote, o.Branch)
			}
			sim[ch.Path] = ch.To.Hash
		}
		plan = append(plan, rc)
	}
	return plan, notes, nil
}

// upstreamNote describes how a loop document changed on the remote since
// the merge base ("" when it did not).
func upstreamNote(o *PushOptions, rel string, base, tip plumbing.Hash, ours []byte) string {
	g := o.Git
	be, bok, err1 := g.EntryAt(base, rel)
	te, tok, err2 := g.EntryAt(tip, rel)
	if err1 != nil || err2 != nil || (bok == tok && be.Hash == te.Hash) {
		return ""
	}
	id := loops.Parse(rel, ours).LoopID
	if !tok {
		return fmt.Sprintf("%s: %s was removed on %s/%s while spine ran; its receipts are kept, its evidence is not written", id, rel, o.Remote, o.Branch)
	}
	var baseDoc *loops.Document
	if bok {
		if data, err := g.Blob(be.Hash); err == nil {
			baseDoc = loops.Parse(rel, data)
		}
	}
	var tipDoc *loops.Document
	if data, err := g.Blob(te.Hash); err == nil {
		tipDoc = loops.Parse(rel, data)
	}
	steps := changedSteps(baseDoc, tipDoc)
	what := "changed"
	if len(steps) > 0 {
		what = "changed (steps " + strings.Join(steps, ", ") + ")"
	}
	return fmt.Sprintf("%s: %s was %s on %s/%s while spine ran; spine's receipts are kept and the evidence block is regenerated on the new version (spine plan shows what this means for each step)", id, rel, what, o.Remote, o.Branch)
}

// changedSteps names the steps added, removed or whose text changed
// between two versions of a document.
func changedSteps(a, b *loops.Document) []string {
	cmds := func(d *loops.Document) map[string]string {
		m := map[string]string{}
		if d == nil {
			return m
		}
		for _, st := range d.Stages {
			for _, s := range st.Steps {
				m[s.Name] = s.Command + "\x00" + fmt.Sprint(s.Attrs)
			}
		}
		return m
	}
	ma, mb := cmds(a), cmds(b)
	var out []string
	for n, c := range ma {
		if cb, ok := mb[n]; !ok || cb != c {
			out = append(out, n)
		}
	}
	for n := range mb {
		if _, ok := ma[n]; !ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// replayOne writes one commit's files on the current head, regenerates its
// documents and commits them with the original message.
func replayOne(o *PushOptions, rc replayCommit) (plumbing.Hash, bool, error) {
	var paths []string
	// What the replay writes is recorded before it is written (see
	// replayWritesFile): first the files, then, once the receipts among
	// them are there to make the evidence from, the documents too.
	writes := map[string]plumbing.Hash{}
	for _, f := range rc.files {
		writes[f.path] = plumbing.ZeroHash
		if !f.remove {
			writes[f.path] = gitx.BlobHash(f.data)
		}
	}
	if err := recordReplayWrites(o.StateDir, writes); err != nil {
		return plumbing.ZeroHash, false, err
	}
	for _, f := range rc.files {
		full, err := artifacts.SafeJoin(o.Root, f.path)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if f.remove {
			if err := removeFile(full); err != nil {
				return plumbing.ZeroHash, false, err
			}
		} else if err := writeFile(full, f.data); err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("write %s: %w", f.path, err)
		}
		paths = append(paths, f.path)
	}
	if len(rc.docs) > 0 {
		hist, err := LoadHistory(o.Root, o.Config.Receipts, o.StateDir)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		type docWrite struct {
			rel, full string
			data      []byte
		}
		var docs []docWrite
		for _, d := range rc.docs {
			full, out, err := regenerateDoc(o, hist, d, rc.orig)
			if err != nil {
				return plumbing.ZeroHash, false, err
			}
			if out != nil {
				writes[d.path] = gitx.BlobHash(out)
				docs = append(docs, docWrite{d.path, full, out})
			}
		}
		if err := recordReplayWrites(o.StateDir, writes); err != nil {
			return plumbing.ZeroHash, false, err
		}
		for _, d := range docs {
			if err := artifacts.WriteFileAtomic(d.full, d.data, fsx.FileMode); err != nil {
				return plumbing.ZeroHash, false, fmt.Errorf("write %s: %w", d.rel, err)
			}
			paths = append(paths, d.rel)
		}
	}
	msg := strings.TrimRight(rc.orig.Message, "\n") + "\nSpine-Replayed-From: " + rc.orig.Hash.String() + "\n"
	sig := o.Git.Signature(o.Host, o.Clock().UTC())
	return o.Git.CommitFiles(paths, msg, sig)
}

// replayWritesFile, in the state folder, names what the replay of one
// commit writes in the working tree before committing it: each path with
// the blob hash of its new content (the zero hash: removed). A push killed
// between the two left files that are spine's, neither the branch's
// version nor the unpushed commits', and the next run's recovery refused
// them as an operator's uncommitted changes, for good; it now overwrites
// them (recoverInterruptedPush).
const replayWritesFile = "replay-writes.json"

// recordReplayWrites makes writes durable as replayWritesFile, before
// they are made (nothing without a state folder).
func recordReplayWrites(stateDir string, writes map[string]plumbing.Hash) error {
	if stateDir == "" {
		return nil
	}
	m := make(map[string]string, len(writes))
	for p, h := range writes {
		m[p] = h.String()
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, fsx.DirMode); err != nil {
		return fmt.Errorf("record the replay: %w", err)
	}
	if err := artifacts.WriteFileAtomic(filepath.Join(stateDir, replayWritesFile), data, fsx.FileMode); err != nil {
		return fmt.Errorf("record the replay: %w", err)
	}
	return nil
}

// readReplayWrites returns what replayWritesFile names (nil when there is
// none, or it cannot be read: recovery then refuses as before).
func readReplayWrites(stateDir string) map[string]plumbing.Hash {
	if stateDir == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(stateDir, replayWritesFile))
	if err != nil {
		return nil
	}
	var m map[string]string
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	out := make(map[string]plumbing.Hash, len(m))
	for p, h := range m {
		out[p] = plumbing.NewHash(h)
	}
	return out
}

// dropReplayWrites removes replayWritesFile once the replay it records is
// committed or undone.
func dropReplayWrites(stateDir string) {
	if stateDir != "" {
		_ = os.Remove(filepath.Join(stateDir, replayWritesFile))
	}
}

// regenerateDoc returns a loop document's content with its evidence block
// and heartbeat regenerated on the version now in the working tree (or
// spine's own when nobody else changed it), and its path; nil content
// when the document no longer exists.
func regenerateDoc(o *PushOptions, hist *History, d replayDoc, orig *object.Commit) (string, []byte, error) {
	full, err := artifacts.SafeJoin(o.Root, d.path)
	if err != nil {
		return "", nil, err
	}
	src := d.ours
	if !d.useOurs {
		data, err := readFileIfExists(full)
		if err != nil {
			return "", nil, err
		}
		if data == nil {
			return "", nil, nil
		}
		src = data
	}
	ourDoc := loops.Parse(d.path, d.ours)
	doc := loops.Parse(d.path, src)
	id := ourDoc.LoopID
	if id == "" {
		id = doc.LoopID
	}
	out, err := loops.SetEvidence(src, EvidenceBlock(doc, hist.Loop(id), LostEvidence(src, hist, id)))
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", d.path, err)
	}
	beat := orig.Author.When.UTC()
	if v := ourDoc.Meta.String(loops.HeartbeatKey); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			beat = t.UTC()
		}
	}
	if hb, err := loops.SetFrontmatter(out, loops.HeartbeatKey, loops.QuoteYAML(beat.Format(time.RFC3339))); err == nil {
		out = hb
	} else if !errors.Is(err, loops.ErrNoFrontmatter) {
		o.Log.Warn("heartbeat not recorded", "path", d.path, "err", err)
	}
	return full, out, nil
}

// removeFile removes a file (absent is fine).
func removeFile(full string) error {
	if err := os.Remove(full); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", full, err)
	}
	return nil
}

// writeFile writes a file atomically, creating its folder.
func writeFile(full string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(full), fsx.DirMode); err != nil {
		return err
	}
	return artifacts.WriteFileAtomic(full, data, fsx.FileMode)
}

// readFileIfExists returns a file's content, or nil when it does not exist.
func readFileIfExists(full string) ([]byte, error) {
	data, err := os.ReadFile(full)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", full, err)
	}
	return data, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// changeSig identifies the change commit c makes to its first parent (an
// empty string when it makes none): the paths it changes, each with its
// mode and blob before and after, in order. Two commits with one change
// have one signature, whatever their hashes, messages or authors (git's
// patch id, on trees).
func changeSig(c *object.Commit) (string, error) {
	if c.NumParents() != 1 {
		return "", fmt.Errorf("commit %s has %d parents", c.Hash.String()[:12], c.NumParents())
	}
	parent, err := c.Parent(0)
	if err != nil {
		return "", err
	}
	from, err := parent.Tree()
	if err != nil {
		return "", err
	}
	to, err := c.Tree()
	if err != nil {
		return "", err
	}
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return "", err
	}
	lines := make([]string, 0, len(changes))
	for _, ch := range changes {
		lines = append(lines, fmt.Sprintf("%s %s %s %s %s %s", ch.From.Name, ch.From.TreeEntry.Mode, ch.From.TreeEntry.Hash, ch.To.Name, ch.To.TreeEntry.Mode, ch.To.TreeEntry.Hash))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

// changeSigs returns the change signature of every commit from base
// (excluded) to tip, with the commit: what the remote already has.
func changeSigs(g *gitx.Repo, base, tip plumbing.Hash) (map[string]plumbing.Hash, error) {
	chain, err := g.Chain(base, tip, maxReplay)
	if err != nil {
		return nil, err
	}
	sigs := map[string]plumbing.Hash{}
	for _, c := range chain {
		if c.NumParents() != 1 {
			continue
		}
		sig, err := changeSig(c)
		if err != nil {
			return nil, err
		}
		sigs[sig] = c.Hash
	}
	return sigs, nil
}
