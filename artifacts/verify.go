package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spinehq/spine/internal/par"
)

// ChainTips returns, for each loop id, the ChainHash of its last receipt:
// the Prev the loop's next receipt must carry. Entries whose receipt did not
// parse are ignored. In a sound chain the tip is the one receipt no other
// receipt names as Prev; when a broken chain leaves several, the last of
// them in run order wins. entries need not be sorted.
func ChainTips(entries []Entry) map[string]string {
	byLoop := groupByLoop(entries)
	tips := make(map[string]string, len(byLoop))
	for loop, es := range byLoop {
		referenced := make(map[string]bool, len(es))
		for _, e := range es {
			if e.Receipt.Prev != "" {
				referenced[e.Receipt.Prev] = true
			}
		}
		tip := es[len(es)-1]
		for i := len(es) - 1; i >= 0; i-- {
			if !referenced[es[i].Hash] {
				tip = es[i]
				break
			}
		}
		tips[loop] = tip.Hash
	}
	return tips
}

// groupByLoop returns the parsed entries of each loop in run order.
func groupByLoop(entries []Entry) map[string][]*Entry {
	sorted := slices.Clone(entries)
	SortEntries(sorted)
	byLoop := make(map[string][]*Entry)
	for i := range sorted {
		e := &sorted[i]
		if e.Receipt == nil || e.Receipt.LoopID == "" {
			continue
		}
		byLoop[e.Receipt.LoopID] = append(byLoop[e.Receipt.LoopID], e)
	}
	return byLoop
}

// Problem is one finding of Verify.
type Problem struct {
	// RunKey is the run the problem belongs to (its folder name); empty
	// for a problem of a folder of receipts (a symbolic link).
	RunKey string `json:"run_key"`
	// Path is the repository-relative file concerned (receipt.json,
	// output.log or an artifact), with forward slashes.
	Path string `json:"path"`
	// Problem says what does not match, in a sentence.
	Problem string `json:"problem"`
}

// String formats the problem as "path: RUN_KEY: problem" ("path:
// problem" without a run key).
func (p Problem) String() string {
	if p.RunKey == "" {
		return p.Path + ": " + p.Problem // of a folder, not of a run
	}
	return p.Path + ": " + p.RunKey + ": " + p.Problem
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	// Receipts is the number of run folders checked.
	Receipts int `json:"receipts"`
	// Problems lists every mismatch, in run order.
	Problems []Problem `json:"problems"`
}

// OK reports whether verification found no problem.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// Verify lists the receipts of st (nil means the default receipts folder of
// repoRoot; an empty st.Root means repoRoot) and checks them with
// VerifyEntries. It fails only when the receipts cannot be listed.
func Verify(repoRoot string, st *Store) (*VerifyReport, error) {
	s := Store{Root: repoRoot}
	if st != nil {
		s = *st
		if s.Root == "" {
			s.Root = repoRoot
		}
	}
	entries, err := s.List()
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rep := VerifyEntries(repoRoot, s.Root, entries)
	links, err := s.LinkedFolders()
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	for _, l := range links {
		rep.Problems = append(rep.Problems, Problem{Path: l, Problem: "a symbolic link where a folder of receipts belongs: spine does not follow it, so the receipts behind it are not verified (or seen by plan and the site)"})
	}
	return rep, nil
}

// VerifyEntries checks listed run folders (as returned by List of a store
// rooted at storeRoot; artifacts are looked up under repoRoot):
//
//   - receipt.json exists and parses, its run_key is a valid run key equal
//     to the folder's name, and the folder sits under the key's YYYY/MM/DD;
//   - status is a known value and command_sha256 is the hash of command;
//   - output.log hashes to output_sha256 (missing counts as a mismatch; an
//     output.log with an empty output_sha256 too);
//   - every artifact exists under repoRoot, without symlinks, with the
//     recorded sha256 and size, unless a later receipt records the same
//     path (a retried step, or two steps naming one artifact, rewrote it:
//     the earlier file is in git's history, which verify does not read);
//   - per loop, the hash chain: the first receipt has an empty prev and
//     every other one's prev is the ChainHash of an existing receipt of the
//     same loop, with no two receipts naming the same prev. A receipt edited
//     after the next one was written, or removed from the middle of the
//     chain, leaves the next one's prev matching nothing; that receipt is
//     reported, naming the one before it in run order.
//
// Files are hashed by runtime.GOMAXPROCS workers. The report lists problems
// in run order.
func VerifyEntries(repoRoot, storeRoot string, entries []Entry) *VerifyReport {
	sorted := slices.Clone(entries)
	SortEntries(sorted)
	// An artifact's file is its loop's last run's: a step run again
	// (--retry), or another step of the loop naming the same artifact,
	// rewrote it, and the earlier receipts' hashes are of what git's
	// history keeps. Only a receipt of the same loop, in a folder named by
	// its valid run key, takes a path over: a receipt made up for another
	// loop does not hide an artifact changed since its run.
	lastWriter := make(map[string]int)
	for i := range sorted {
		if r := sorted[i].Receipt; ArtifactWriter(&sorted[i]) {
			for _, a := range r.Artifacts {
				lastWriter[ArtifactKey(r.LoopID, a.Path)] = i
			}
		}
	}
	problems := make([][]Problem, len(sorted))
	par.Do(len(sorted), 0, func(i int) {
		loop := ""
		if r := sorted[i].Receipt; r != nil {
			loop = r.LoopID
		}
		problems[i] = verifyEntry(repoRoot, storeRoot, &sorted[i], func(p string) bool {
			last, ok := lastWriter[ArtifactKey(loop, p)]
			return ok && last != i
		})
	})
	index := make(map[*Entry]int, len(sorted))
	for i := range sorted {
		index[&sorted[i]] = i
	}
	byHash := make(map[string]*Entry, len(sorted))
	for i := range sorted {
		if e := &sorted[i]; e.Hash != "" {
			byHash[e.Hash] = e
		}
	}
	byLoop := make(map[string][]*Entry)
	var loops []string
	for i := range sorted {
		e := &sorted[i]
		if e.Receipt == nil || e.Receipt.LoopID == "" {
			continue
		}
		if _, ok := byLoop[e.Receipt.LoopID]; !ok {
			loops = append(loops, e.Receipt.LoopID)
		}
		byLoop[e.Receipt.LoopID] = append(byLoop[e.Receipt.LoopID], e)
	}
	for _, loop := range loops {
		for _, cp := range verifyChain(loop, byLoop[loop], byHash) {
			i := index[cp.e]
			problems[i] = append(problems[i], Problem{RunKey: cp.e.RunKey, Path: cp.e.Dir + "/" + ReceiptFile, Problem: cp.msg})
		}
	}
	rep := &VerifyReport{Receipts: len(sorted), Problems: []Problem{}}
	for _, ps := range problems {
		rep.Problems = append(rep.Problems, ps...)
	}
	return rep
}

// ArtifactWriter reports whether e's receipt may take over the artifact
// paths it records from its loop's earlier receipts (see VerifyEntries):
// it parsed, and its folder is named by its valid run key.
func ArtifactWriter(e *Entry) bool {
	if e.Err != nil || e.Receipt == nil || e.Receipt.RunKey != e.RunKey {
		return false
	}
	_, err := ParseRunKey(e.RunKey)
	return err == nil
}

// ArtifactKey names an artifact path as its loop writes it: only a later
// receipt of the same loop takes the path over (see ArtifactWriter).
func ArtifactKey(loopID, path string) string { return loopID + "\x00" + path }

// chainProblem is a chain finding on one entry.
type chainProblem struct {
	e   *Entry
	msg string
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// verifyChain checks the chain of one loop (es in run order).
func verifyChain(loop string, es []*Entry, byHash map[string]*Entry) []chainProblem {
	var out []chainProblem
	followers := make(map[string]*Entry, len(es))
	var first *Entry
	for i, e := range es {
		prev := e.Receipt.Prev
		if prev == "" {
			if first != nil {
				out = append(out, chainProblem{e, fmt.Sprintf("prev is empty, but the chain of loop %s already starts at %s: a second chain start", loop, first.RunKey)})
			} else {
				first = e
			}
			continue
		}
		target, ok := byHash[prev]
		switch {
		case !ok && i == 0:
			out = append(out, chainProblem{e, fmt.Sprintf("prev %s matches no receipt: the receipt before it in loop %s was removed or edited", short(prev), loop)})
			continue
		case !ok:
			before := es[i-1]
			out = append(out, chainProblem{e, fmt.Sprintf("prev %s matches no receipt (the receipt before it, %s, hashes to %s): %s was edited, or a receipt of loop %s between them was removed",
				short(prev), before.RunKey, short(before.Hash), before.RunKey, loop)})
			continue
		case target.Receipt == nil:
			// The target did not parse; that is reported on the target.
		case target.Receipt.LoopID != loop:
			out = append(out, chainProblem{e, fmt.Sprintf("prev %s is the receipt %s of another loop, %s", short(prev), target.RunKey, target.Receipt.LoopID)})
			continue
		}
		if other, dup := followers[prev]; dup {
			out = append(out, chainProblem{e, fmt.Sprintf("prev %s (%s) is also the prev of %s: the chain of loop %s forks", short(prev), target.RunKey, other.RunKey, loop)})
			continue
		}
		followers[prev] = e
	}
	return out
}

// verifyEntry runs the per-folder checks. superseded reports whether a
// later receipt records an artifact path, whose file is then not this
// receipt's to check.
func verifyEntry(repoRoot, storeRoot string, e *Entry, superseded func(path string) bool) []Problem {
	var ps []Problem
	receiptRel := e.Dir + "/" + ReceiptFile
	add := func(p, format string, args ...any) {
		ps = append(ps, Problem{RunKey: e.RunKey, Path: p, Problem: fmt.Sprintf(format, args...)})
	}
	if e.Err != nil {
		if errors.Is(e.Err, fs.ErrNotExist) {
			add(receiptRel, "no receipt.json in the run folder (a run interrupted before its receipt was written, or a removed receipt)")
		} else {
			add(receiptRel, "unreadable receipt: %v", e.Err)
		}
		return ps
	}
	r := e.Receipt
	if r.RunKey != e.RunKey {
		add(receiptRel, "run_key %q does not match its folder name %q", r.RunKey, e.RunKey)
	}
	if k, err := ParseRunKey(e.RunKey); err != nil {
		add(receiptRel, "folder name is not a valid run key: %v", err)
	} else if dir := path.Dir(e.Dir); !strings.HasSuffix(dir, "/"+k.datePath()) && dir != k.datePath() {
		add(receiptRel, "folder is under %s, but the run key is dated %s", dir, k.datePath())
	}
	if !knownStatus(r.Status) {
		add(receiptRel, "unknown status %q", r.Status)
	}
	if m := r.CommandMismatch(); m != "" {
		add(receiptRel, "%s", m)
	}

	// List walked real folders only, so output.log itself is all that can
	// be a link.
	outRel := e.Dir + "/" + OutputFile
	outHash, outErr := "", error(nil)
	outPath := filepath.Join(storeRoot, filepath.FromSlash(outRel))
	if f, err := openNoFollow(outPath); err != nil {
		outErr = err
	} else {
		outHash, _, outErr = hashOpen(outPath, f)
	}
	switch {
	case r.OutputSHA256 == "" && outErr == nil:
		add(outRel, "output.log exists but output_sha256 is empty")
	case r.OutputSHA256 == "" && errors.Is(outErr, fs.ErrNotExist):
	case r.OutputSHA256 == "":
		add(outRel, "output.log: %v", outErr)
	case errors.Is(outErr, fs.ErrNotExist):
		add(outRel, "output.log is missing (output_sha256 %s)", short(r.OutputSHA256))
	case outErr != nil:
		add(outRel, "output.log: %v", outErr)
	case outHash != r.OutputSHA256:
		add(outRel, "output.log hashes to %s, output_sha256 is %s", short(outHash), short(r.OutputSHA256))
	}

	// A path listed again is hashed once (a receipt listing one large
	// artifact a thousand times had it hashed a thousand times).
	type hashed struct {
		h    string
		size int64
		err  error
	}
	seen := map[string]hashed{}
	for _, a := range r.Artifacts {
		if superseded(a.Path) {
			continue
		}
		// Keyed by the file, however the path is spelled.
		key := path.Clean(a.Path)
		hs, ok := seen[key]
		if !ok {
			hs.h, hs.size, hs.err = hashRel(repoRoot, a.Path)
			seen[key] = hs
		}
		h, size, err := hs.h, hs.size, hs.err
		switch {
		case errors.Is(err, fs.ErrNotExist):
			add(a.Path, "artifact is missing (sha256 %s)", short(a.SHA256))
		case err != nil:
			add(a.Path, "artifact: %v", err)
		case h != a.SHA256:
			add(a.Path, "artifact hashes to %s, the receipt says %s", short(h), short(a.SHA256))
		case size != a.Size:
			add(a.Path, "artifact is %d bytes, the receipt says %d", size, a.Size)
		}
	}
	return ps
}

// hashRel hashes root/rel after checking rel with SafeJoin. A missing
// file gives an error wrapping fs.ErrNotExist; so does a missing parent.
func hashRel(root, rel string) (string, int64, error) {
	p, err := SafeJoin(root, rel)
	if err != nil {
		return "", 0, err
	}
	return HashFile(p)
}
