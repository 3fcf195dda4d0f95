package pipeline

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/spinehq/spine/artifacts"
)

// removeTemps removes the temporary files (".<name>.tmp-*", see
// artifacts.CreateAtomic) that a run killed while writing left in the
// repository: the step's artifact being written, and half-written files in
// its run folder. They are never committed, and left behind they would make
// the working tree dirty for good. Only regular files are removed; errors
// are ignored (the next recovery tries again).
func (r *Runner) removeTemps(loopID, step, relDir string) {
	var globs []string
	if relDir != "" {
		if dir, err := artifacts.SafeJoin(r.opts.Root, relDir); err == nil {
			globs = append(globs, filepath.Join(dir, ".*.tmp-*"))
		}
	}
	if doc := r.opts.Set.ByID(loopID); doc != nil {
		if _, s := doc.Step(step); s != nil && s.Artifact != "" {
			if p, err := artifacts.ArtifactPath(r.opts.Root, r.opts.Config.Artifacts, doc.Slug(), s.Artifact); err == nil {
				globs = append(globs, filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*"))
			}
		}
	}
	removeGlobs(globs)
}

// removeDocTemps removes the temporary files (".<name>.tmp-*") of the
// loop document of loopID that a run killed while it rewrote the document
// (its evidence block, heartbeat) left beside it.
func (r *Runner) removeDocTemps(loopID string) {
	doc := r.opts.Set.ByID(loopID)
	if doc == nil {
		return
	}
	if full, err := artifacts.SafeJoin(r.opts.Root, doc.Path); err == nil {
		removeGlobs([]string{filepath.Join(filepath.Dir(full), "."+filepath.Base(full)+".tmp-*")})
	}
}

// removeReplayTemps removes the temporary files (".<name>.tmp-*") beside
// the files a replay recorded it writes (replayWritesFile): a push killed
// while it wrote one left it in the working tree.
func removeReplayTemps(root string, writes map[string]plumbing.Hash) {
	var globs []string
	for rel := range writes {
		if full, err := artifacts.SafeJoin(root, rel); err == nil {
			globs = append(globs, filepath.Join(filepath.Dir(full), "."+filepath.Base(full)+".tmp-*"))
		}
	}
	removeGlobs(globs)
}

// removeGlobs removes the regular files matching globs whose names hold
// ".tmp-"; errors are ignored.
func removeGlobs(globs []string) {
	for _, g := range globs {
		matches, _ := filepath.Glob(g)
		for _, m := range matches {
			if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() && strings.Contains(fi.Name(), ".tmp-") {
				_ = os.Remove(m)
			}
		}
	}
}

// strayArtifact returns the artifact of a step that was killed after its
// artifact file was moved into place but before its result was journaled
// (a crash, or a full disk failing the journal): the file is the step's
// output and must be committed with the interrupted receipt, not left
// untracked. It returns nil when the step has no artifact, the file does
// not exist, or it is exactly as committed in HEAD.
func (r *Runner) strayArtifact(loopID, step string) *artifacts.ArtifactRef {
	doc := r.opts.Set.ByID(loopID)
	if doc == nil {
		return nil
	}
	_, s := doc.Step(step)
	if s == nil || s.Artifact == "" {
		return nil
	}
	rel, err := artifacts.ArtifactRelPath(r.opts.Config.Artifacts, doc.Slug(), s.Artifact)
	if err != nil {
		return nil
	}
	full, err := artifacts.SafeJoin(r.opts.Root, rel)
	if err != nil {
		return nil
	}
	if fi, err := os.Lstat(full); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if r.opts.Git != nil {
		data, err := os.ReadFile(full)
		if err != nil {
			return nil
		}
		if dirty, err := r.opts.Git.Dirty(rel, data); err != nil || !dirty {
			return nil
		}
	}
	sum, size, err := artifacts.HashFile(full)
	if err != nil {
		return nil
	}
	return &artifacts.ArtifactRef{Path: rel, SHA256: sum, Size: size}
}

// runFileExts are the suffixes of the files a run keeps in the runs folder
// under a run key: the running log, the script file of long code, and a
// background step's spec, pid, exit and artifact files.
var runFileExts = []string{".log", ".sh", ".spec.json", ".pid", ".exit", ".artifact"}

// runFileKey returns the run key a file of the runs folder belongs to:
// "<KEY><ext>" with ext one of runFileExts, or a temporary file of one
// being written (".<KEY><ext>.tmp-*", see artifacts.CreateAtomic). ok is
// false for any other name, which sweepRuns leaves alone.
func runFileKey(name string) (key string, ok bool) {
	if rest, found := strings.CutPrefix(name, "."); found {
		i := strings.LastIndex(rest, ".tmp-")
		if i < 0 {
			return "", false
		}
		name = rest[:i]
	}
	for _, ext := range runFileExts {
		if k, found := strings.CutSuffix(name, ext); found && artifacts.ValidRunKey(k) {
			return k, true
		}
	}
	return "", false
}

// sweepRuns removes from the runs folder what no run will use: the files
// of runs the journal does not know or has done with (left by a run
// killed after it made a step's running log or script file and before it
// journaled the step's intent: the step never started; or by a cleanup
// that failed), and the spare running log of a run that stopped (see
// makeSpareLog). The files of runs the journal holds open stay: recovery
// takes their output, and a live background step still writes them.
// Only regular files are removed, and only names spine gives them; errors
// are ignored (the next run tries again). The caller holds the run lock.
func (r *Runner) sweepRuns(entries map[string]*Entry) {
	dir := filepath.Join(r.opts.StateDir, "runs")
	files, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, f := range files {
		name := f.Name()
		if name != spareLogName {
			key, ok := runFileKey(name)
			if !ok {
				continue
			}
			if e := entries[key]; e != nil && !e.Done {
				continue
			}
		}
		if f.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
}
