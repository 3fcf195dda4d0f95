// Package pipeline owns execution: what is pending and why (the plan),
// approval gates, running steps on the host, the crash journal, the
// repository lock, writing receipts and committing them back to git.
package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/mapfile"
	"github.com/spinehq/spine/loops"
)

// Run is what planning needs to know of one receipt.
type Run struct {
	RunKey       string    `json:"k"`
	LoopID       string    `json:"l"`
	Stage        string    `json:"g,omitempty"`
	Step         string    `json:"s"`
	Status       string    `json:"t"`
	Started      time.Time `json:"a"`
	Finished     time.Time `json:"f"`
	CommandSHA   string    `json:"c,omitempty"`
	ExitCode     int       `json:"x,omitempty"`
	AllowFailure bool      `json:"af,omitempty"`
	Gate         string    `json:"gt,omitempty"`
	Note         string    `json:"n,omitempty"`
	Summary      string    `json:"sm,omitempty"`
	// Hash is the sha256 of the receipt.json bytes (the chain link).
	Hash string `json:"h"`
	// Prev is the receipt's prev: the Hash of the loop's receipt before it.
	Prev string `json:"p,omitempty"`
	// Dir is the receipt's folder, repository-relative.
	Dir string `json:"d"`
	// Err is set when the receipt could not be read.
	Err string `json:"e,omitempty"`
}

// Done reports whether the run completes its step: a pass, or a failure of
// a step allowed to fail.
func (r *Run) Done() bool {
	return r.Status == artifacts.StatusPass || (r.Status == artifacts.StatusFail && r.AllowFailure)
}

func runFromReceipt(rc *artifacts.Receipt, hash, dir string) Run {
	r := Run{
		RunKey: rc.RunKey, LoopID: rc.LoopID, Stage: rc.Stage, Step: rc.Step, Status: rc.Status,
		CommandSHA: rc.CommandSHA256, ExitCode: rc.ExitCode, AllowFailure: rc.AllowFailure,
		Gate: rc.Gate, Note: rc.Note, Summary: rc.Summary, Hash: hash, Prev: rc.Prev, Dir: dir,
	}
	r.Started, _ = time.Parse(time.RFC3339Nano, rc.StartedAt)
	r.Finished, _ = time.Parse(time.RFC3339Nano, rc.FinishedAt)
	return r
}

// History is every receipt of a repository, indexed for planning.
type History struct {
	runs   []Run
	byStep map[[2]string][]int
	byLoop map[string][]int
	// damaged indexes the runs whose receipt could not be read by the
	// capability their run key names (see Damaged).
	damaged map[string][]int
	// keys indexes runs by run key and by folder name, made on the first
	// call of ByKey.
	keys     map[string]int
	keysOnce sync.Once
	// saved is closed once the receipt index is written, when
	// LoadHistoryWith writes it later (HistoryOptions.SaveLater).
	saved chan struct{}
}

// WaitSaved waits until the receipt index that LoadHistoryWith writes on
// another goroutine (HistoryOptions.SaveLater) is written; it returns at
// once otherwise.
func (h *History) WaitSaved() {
	if h != nil && h.saved != nil {
		<-h.saved
	}
}

// NewHistory indexes runs, ordering them by start time, then run key, then
// folder.
func NewHistory(runs []Run) *History {
	less := func(i, j int) bool { return runBefore(&runs[i], &runs[j]) }
	if !sort.SliceIsSorted(runs, less) {
		sort.Slice(runs, less)
	}
	return newHistorySorted(runs)
}

// runBefore is history order: start time, then run key, then folder.
func runBefore(a, b *Run) bool {
	if !a.Started.Equal(b.Started) {
		return a.Started.Before(b.Started)
	}
	if a.RunKey != b.RunKey {
		return a.RunKey < b.RunKey
	}
	return a.Dir < b.Dir
}

// governance reports whether r is a governance action's receipt (see
// loops.RunStepKey), not the run of a loop's step.
func (r *Run) governance() bool { return loops.RunStepKey(r.Stage, r.Step) != r.Step }

// governanceKey reports whether a run key names the capability of a
// loop close or a gap edit: an evidence bullet of such a run, whose
// receipt is gone, is no lost run of a step.
func governanceKey(key string) bool {
	k, err := artifacts.ParseRunKey(key)
	if err != nil {
		return false
	}
	switch k.Capability {
	case artifacts.SanitizeCapability(CapLoopClose), artifacts.SanitizeCapability(CapGapFile), artifacts.SanitizeCapability(CapGapClose):
		return true
	}
	return false
}

// newHistorySorted indexes runs already in history order.
func newHistorySorted(runs []Run) *History {
	h := &History{runs: runs, byStep: make(map[[2]string][]int, len(runs)/2), byLoop: make(map[string][]int, len(runs)/8)}
	for i := range runs {
		r := &runs[i]
		if r.Err != "" {
			if k, err := artifacts.ParseRunKey(r.RunKey); err == nil {
				if h.damaged == nil {
					h.damaged = map[string][]int{}
				}
				h.damaged[k.Capability] = append(h.damaged[k.Capability], i)
			}
			continue
		}
		k := [2]string{r.LoopID, loops.RunStepKey(r.Stage, r.Step)}
		h.byStep[k] = append(h.byStep[k], i)
		h.byLoop[r.LoopID] = append(h.byLoop[r.LoopID], i)
	}
	return h
}

// Add appends a run made during this process (already ordered last).
func (h *History) Add(r Run) {
	h.runs = append(h.runs, r)
	i := len(h.runs) - 1
	k := [2]string{r.LoopID, loops.RunStepKey(r.Stage, r.Step)}
	h.byStep[k] = append(h.byStep[k], i)
	h.byLoop[r.LoopID] = append(h.byLoop[r.LoopID], i)
	if h.keys != nil {
		h.addKeys(i)
	}
}

// addKeys indexes run i by its run key and its folder's name (they differ
// only in a receipt spine verify reports).
func (h *History) addKeys(i int) {
	r := &h.runs[i]
	h.keys[r.RunKey] = i
	if r.Dir != "" {
		h.keys[path.Base(r.Dir)] = i
	}
}

// ByKey returns the run of run key key, readable or not (Err), or nil when
// there is no receipt folder of that key. It is not safe to call
// concurrently with Add.
func (h *History) ByKey(key string) *Run {
	h.keysOnce.Do(func() {
		h.keys = make(map[string]int, len(h.runs))
		for i := range h.runs {
			h.addKeys(i)
		}
	})
	i, ok := h.keys[key]
	if !ok {
		return nil
	}
	return &h.runs[i]
}

// Damaged returns the runs whose receipt.json could not be read (Err) and
// whose run key names capability (artifacts.SanitizeCapability of a
// step's capability). Their loop and step are unknown: any of them may be
// the run of a step with that capability, which then must not be planned
// as if it never ran.
func (h *History) Damaged(capability string) []Run {
	return h.pick(h.damaged[capability])
}

// Latest returns the most recent run of a loop's step, or nil. A
// governance action's receipt is the run of step loops.RunStepKey(stage,
// step).
func (h *History) Latest(loopID, step string) *Run {
	idx := h.byStep[[2]string{loopID, step}]
	if len(idx) == 0 {
		return nil
	}
	return &h.runs[idx[len(idx)-1]]
}

// LatestRan returns the latest run of a loop's step that was not a
// blocked gate's mark (a step that ran, or an operator's verdict), nil
// when there is none: a blocked receipt written on top of a failed or
// interrupted run must not hide its hold.
func (h *History) LatestRan(loopID, step string) *Run {
	idx := h.byStep[[2]string{loopID, step}]
	for i := len(idx) - 1; i >= 0; i-- {
		if r := &h.runs[idx[i]]; r.Status != artifacts.StatusBlocked {
			return r
		}
	}
	return nil
}

// Step returns every run of a loop's step, oldest first.
func (h *History) Step(loopID, step string) []Run {
	return h.pick(h.byStep[[2]string{loopID, step}])
}

// Loop returns every run of a loop, oldest first.
func (h *History) Loop(loopID string) []Run {
	return h.pick(h.byLoop[loopID])
}

// pick returns the runs at the indexes idx, copied.
func (h *History) pick(idx []int) []Run {
	out := make([]Run, len(idx))
	for i, j := range idx {
		out[i] = h.runs[j]
	}
	return out
}

// All returns every run, oldest first.
func (h *History) All() []Run { return h.runs }

// ChainTip returns the hash of the loop's last receipt in its chain ("" for
// none): the one no other receipt of the loop names as prev. That is not
// always the one that started last: a push that chained another clone's
// receipts anew put them after the remote's (see rechain), whenever they
// ran. Of several (a chain broken before, which spine verify reports), the
// last in history order.
func (h *History) ChainTip(loopID string) string {
	idx := h.byLoop[loopID]
	if len(idx) == 0 {
		return ""
	}
	referenced := make(map[string]bool, len(idx))
	for _, i := range idx {
		if p := h.runs[i].Prev; p != "" {
			referenced[p] = true
		}
	}
	for k := len(idx) - 1; k >= 0; k-- {
		if r := &h.runs[idx[k]]; r.Hash != "" && !referenced[r.Hash] {
			return r.Hash
		}
	}
	return h.runs[idx[len(idx)-1]].Hash
}

// indexName is the receipt index cache in the state folder. The JSON index
// of earlier versions (receipts.idx.json) is ignored and removed.
const (
	indexName    = "receipts.idx"
	oldIndexName = "receipts.idx.json"
)

// LoadHistory reads every receipt under receiptsDir (repository-relative)
// of root. Receipts are immutable, so a cache in stateDir keyed by folder
// saves decoding them again: only folders the cache has not seen are read
// (receipts that arrived by a pull included) and folders that disappeared
// are dropped. The folder listing itself is always fresh: the cache is
// used whole only when the digest of the listing it was written for is
// the digest of the listing now (index.go).
func LoadHistory(root, receiptsDir, stateDir string) (*History, error) {
	return LoadHistoryWith(root, receiptsDir, stateDir, HistoryOptions{})
}

// LoadHistoryMapped is LoadHistory reading the receipt index through a
// memory mapping that lasts until the process exits (mapfile.ReadString):
// for commands that load the history once and exit, never for a
// long-running process that loads it again and again.
func LoadHistoryMapped(root, receiptsDir, stateDir string) (*History, error) {
	return LoadHistoryWith(root, receiptsDir, stateDir, HistoryOptions{Mapped: true})
}

// A ReceiptSource gives the receipt another reader in this process read
// and decoded from the run folder dir (repository-relative,
// slash-separated), with the chain hash of its bytes; ok is false when it
// has none for that folder. It must be safe for concurrent use.
type ReceiptSource func(dir string) (rc *artifacts.Receipt, hash string, ok bool)

// HistoryOptions say how LoadHistoryWith reads the history.
type HistoryOptions struct {
	// Mapped reads the receipt index as LoadHistoryMapped does.
	Mapped bool
	// Source, when set, is called once if the receipt index does not hold
	// every run folder, before any receipt is read; the folders the
	// receipt source it returns has are taken from it instead of being
	// read again. A site build reads every receipt for its pages: on a
	// fresh clone, the history takes them from the build (cmd/spine) and
	// the build plans after it read them. Source may block until the
	// receipts are read; a nil source means none.
	Source func() ReceiptSource
	// SaveLater writes the receipt index, when it must be written, on
	// another goroutine rather than before LoadHistoryWith returns, so
	// that planning does not wait for it (7.7 MB for 20,000 receipts);
	// the caller must call History.WaitSaved before the process exits.
	SaveLater bool
}

// LoadHistoryWith is LoadHistory with options.
func LoadHistoryWith(root, receiptsDir, stateDir string, o HistoryOptions) (*History, error) {
	mapped := o.Mapped
	// List the folders while the index is read and decoded.
	var (
		dirs    []string
		listErr error
		listed  = make(chan struct{})
	)
	go func() {
		defer close(listed)
		dirs, listErr = listReceiptDirs(root, receiptsDir)
	}()
	cachePath := ""
	var cache *receiptIndex
	if stateDir != "" {
		cachePath = filepath.Join(stateDir, indexName)
		if data, err := mapfile.ReadString(cachePath, mapped); err == nil {
			cache, _ = decodeIndex(data)
		}
	}
	<-listed
	if listErr != nil {
		return nil, listErr
	}
	digest := listingDigest(dirs)
	if cache != nil && cache.complete && cache.digest == digest && len(cache.runs) == len(dirs) {
		// The index holds exactly these folders, in history order.
		return NewHistory(cache.runs), nil
	}
	var cached map[string]int
	if cache != nil {
		cached = make(map[string]int, len(cache.runs))
		for i := range cache.runs {
			cached[cache.runs[i].Dir] = i
		}
	}
	runs := make([]Run, len(dirs))
	var missing []int
	for i, d := range dirs {
		if j, ok := cached[d]; ok {
			runs[i] = cache.runs[j]
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 && o.Source != nil {
		if src := o.Source(); src != nil {
			left := missing[:0]
			for _, i := range missing {
				if rc, hash, ok := src(dirs[i]); ok {
					runs[i] = runFromReceipt(rc, hash, dirs[i])
					runs[i].own()
				} else {
					left = append(left, i)
				}
			}
			missing = left
		}
	}
	if len(missing) > 0 {
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					runs[i] = readRun(root, dirs[i])
				}
			}()
		}
		for _, i := range missing {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	h := NewHistory(runs)
	if cachePath != "" {
		// Only the runs are read (planning reads them too, and the
		// history's other indexes are its own).
		save := func() {
			if os.MkdirAll(stateDir, fsx.DirMode) == nil {
				_ = artifacts.WriteFileAtomic(cachePath, encodeIndex(h.runs, digest), fsx.FileMode)
				_ = os.Remove(filepath.Join(stateDir, oldIndexName))
			}
		}
		if o.SaveLater {
			h.saved = make(chan struct{})
			go func() {
				defer close(h.saved)
				save()
			}()
		} else {
			save()
		}
	}
	return h, nil
}

// readRun reads one receipt folder.
func readRun(root, dir string) Run {
	p := filepath.Join(root, filepath.FromSlash(dir), "receipt.json")
	data, err := artifacts.ReadReceiptFile(p)
	if err != nil {
		return Run{Dir: dir, RunKey: path.Base(dir), Err: err.Error()}
	}
	return runFromData(data, p, dir)
}

// runFromData is the run of the receipt.json bytes data, read from the
// file p in the folder dir. The run keeps none of data: the history of a
// repository holds only what planning needs of each receipt, not the
// receipts' bytes.
func runFromData(data []byte, p, dir string) Run {
	rc, shared, err := artifacts.DecodeReceiptShared(data)
	if err != nil {
		return Run{Dir: dir, RunKey: path.Base(dir), Err: fmt.Sprintf("%s: %v", p, err)}
	}
	r := runFromReceipt(rc, artifacts.ChainHash(data), dir)
	if shared {
		r.own()
	}
	return r
}

// own copies the strings the run took from its receipt into one new
// block: decoded by artifacts.DecodeReceiptShared, they share the bytes
// of receipt.json, all of which they would keep alive.
func (r *Run) own() {
	fields := [...]*string{&r.RunKey, &r.LoopID, &r.Stage, &r.Step, &r.Status, &r.CommandSHA, &r.Gate, &r.Note, &r.Summary, &r.Prev}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(*f)
	}
	block, at := b.String(), 0
	for _, f := range fields {
		n := len(*f)
		*f, at = block[at:at+n], at+n
	}
}

// listReceiptDirs lists receipts/YYYY/MM/DD/<RUN_KEY> folders that hold a
// receipt.json, repository-relative. Symlinks are not followed.
func listReceiptDirs(root, receiptsDir string) ([]string, error) {
	// No symbolic link on the way, as the store (verify, the site) reads
	// them: the planner must not count runs the others refuse to read.
	base, err := artifacts.SafeJoin(root, receiptsDir)
	if err != nil {
		return nil, fmt.Errorf("list receipts: %w", err)
	}
	// path.Join of the folder names, which are single clean elements.
	prefix := path.Clean(receiptsDir) + "/"
	if prefix == "./" {
		prefix = ""
	}
	var out []string
	years, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list receipts: %w", err)
	}
	for _, y := range years {
		if !y.IsDir() {
			continue
		}
		months, _ := os.ReadDir(filepath.Join(base, y.Name()))
		for _, m := range months {
			if !m.IsDir() {
				continue
			}
			days, _ := os.ReadDir(filepath.Join(base, y.Name(), m.Name()))
			for _, d := range days {
				if !d.IsDir() {
					continue
				}
				keys, _ := os.ReadDir(filepath.Join(base, y.Name(), m.Name(), d.Name()))
				for _, k := range keys {
					if !k.IsDir() || !artifacts.ValidRunKey(k.Name()) {
						continue
					}
					out = append(out, prefix+y.Name()+"/"+m.Name()+"/"+d.Name()+"/"+k.Name())
				}
			}
		}
	}
	return out, nil
}
