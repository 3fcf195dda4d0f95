package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/fsx"
)

// ourReceipt is a receipt.json a replayed commit writes.
type ourReceipt struct {
	file *replayFile
	// env is the receipt.dsse.json the same commits write beside it (nil:
	// unsigned).
	env *replayFile
	rc  *artifacts.Receipt
}

// rechain keeps each loop's receipt chain linear across a replay. Receipts
// of one loop written in two clones at once (each host running its own
// steps) both follow the chain's tip as each clone saw it: replayed as
// they are, the chain would fork there, and `spine verify` would report
// it for good. So spine's receipts of a loop the remote also wrote
// receipts of since base are chained anew after the remote's last one: in
// run order, each receipt's prev the hash of the one before it, and its
// envelope signed again with this host's key. Only prev changes: what
// ran, when, where and with what output is what the receipt recorded.
// The receipts are spine's own and not yet pushed, as the commits
// replayed are.
//
// A loop whose receipts cannot be chained anew (an envelope signed by a
// key this host does not have, a receipt this version would not write
// byte for byte) is replayed as it is, with a note that its chain forks.
// rechain returns the chain hashes it changed (old to new; none when it
// changed no receipt).
func rechain(o *PushOptions, plan []replayCommit, base, tip plumbing.Hash) (map[string]string, []string, error) {
	byLoop := map[string][]*ourReceipt{}
	envs := map[string]*replayFile{}
	for i := range plan {
		for j := range plan[i].files {
			f := &plan[i].files[j]
			if f.remove || !under(o.Config.Receipts, f.path) {
				continue
			}
			switch path.Base(f.path) {
			case artifacts.DSSEFile:
				envs[path.Dir(f.path)] = f
			case artifacts.ReceiptFile:
				rc, err := artifacts.DecodeReceipt(f.data)
				if err != nil || rc.LoopID == "" {
					continue // replayed as it is; verify reports it
				}
				byLoop[rc.LoopID] = append(byLoop[rc.LoopID], &ourReceipt{file: f, rc: rc})
			}
		}
	}
	if len(byLoop) == 0 {
		return nil, nil, nil
	}
	theirs, err := remoteReceipts(o, base, tip, byLoop)
	if err != nil || len(theirs) == 0 {
		return nil, nil, err
	}
	tips := artifacts.ChainTips(theirs)
	var notes []string
	moved := map[string]string{}
	for loop, ours := range byLoop {
		remoteTip, ok := tips[loop]
		if !ok {
			continue // the remote wrote none of this loop's receipts
		}
		dirs := make(map[string]bool, len(ours))
		for _, r := range ours {
			r.env = envs[path.Dir(r.file.path)]
			dirs[path.Dir(r.file.path)] = true
		}
		if len(dirs) != len(ours) {
			notes = append(notes, fmt.Sprintf("loop %s: its receipts here and on %s/%s both follow the same receipt, and spine could not chain them anew (a receipt written twice in the commits replayed): the loop's chain forks, and spine verify reports it", loop, o.Remote, o.Branch))
			continue
		}
		sortOurs(ours)
		if ours[0].rc.Prev == remoteTip {
			continue
		}
		redone, why := chainAfter(o, ours, remoteTip)
		if why != "" {
			notes = append(notes, fmt.Sprintf("loop %s: its receipts here and on %s/%s both follow the same receipt, and spine could not chain them anew (%s): the loop's chain forks, and spine verify reports it", loop, o.Remote, o.Branch, why))
			continue
		}
		for i, r := range ours {
			moved[artifacts.ChainHash(r.file.data)] = artifacts.ChainHash(redone[i].receipt)
			r.file.data = redone[i].receipt
			if r.env != nil {
				r.env.data = redone[i].env
			}
		}
		notes = append(notes, fmt.Sprintf("loop %s: %s/%s has receipts of it this clone had not seen; spine's %d receipt(s) of it now follow them (prev chained anew%s)", loop, o.Remote, o.Branch, len(ours), map[bool]string{true: ", envelopes signed again", false: ""}[anySigned(ours)]))
	}
	if len(moved) == 0 {
		moved = nil
	}
	return moved, notes, nil
}

// remoteReceipts returns the receipts of the loops in want that the remote
// added between base and tip.
func remoteReceipts(o *PushOptions, base, tip plumbing.Hash, want map[string][]*ourReceipt) ([]artifacts.Entry, error) {
	changes, err := o.Git.Diff(base, tip)
	if err != nil {
		return nil, err
	}
	var out []artifacts.Entry
	for _, ch := range changes {
		if ch.To.Hash.IsZero() || path.Base(ch.Path) != artifacts.ReceiptFile || !under(o.Config.Receipts, ch.Path) {
			continue
		}
		data, err := o.Git.Blob(ch.To.Hash)
		if err != nil {
			return nil, err
		}
		rc, err := artifacts.DecodeReceipt(data)
		if err != nil {
			continue
		}
		if _, ok := want[rc.LoopID]; !ok {
			continue
		}
		dir := path.Dir(ch.Path)
		out = append(out, artifacts.Entry{RunKey: path.Base(dir), Dir: dir, Receipt: rc, Hash: artifacts.ChainHash(data)})
	}
	return out, nil
}

// sortOurs puts a loop's receipts in run order (artifacts.SortEntries),
// the order spine chained them in.
func sortOurs(ours []*ourReceipt) {
	es := make([]artifacts.Entry, len(ours))
	at := make(map[string]*ourReceipt, len(ours))
	for i, r := range ours {
		dir := path.Dir(r.file.path)
		es[i] = artifacts.Entry{RunKey: path.Base(dir), Dir: dir, Receipt: r.rc}
		at[dir] = r
	}
	artifacts.SortEntries(es)
	for i, e := range es {
		ours[i] = at[e.Dir]
	}
}

func anySigned(ours []*ourReceipt) bool {
	for _, r := range ours {
		if r.env != nil {
			return true
		}
	}
	return false
}

// redoneReceipt is a receipt chained anew: its receipt.json and envelope.
type redoneReceipt struct {
	receipt, env []byte
}

// chainAfter chains ours (in run order) after the receipt whose hash is
// prev, returning the new bytes of each, or why it cannot.
func chainAfter(o *PushOptions, ours []*ourReceipt, prev string) ([]redoneReceipt, string) {
	out := make([]redoneReceipt, len(ours))
	for i, r := range ours {
		dir := path.Dir(r.file.path)
		// Only prev may change: a receipt this version does not write
		// byte for byte as it is is left alone.
		if again, err := artifacts.MarshalReceipt(r.rc); err != nil || !bytes.Equal(again, r.file.data) {
			return nil, fmt.Sprintf("%s was not written by this version of spine", dir)
		}
		if r.env != nil {
			if o.Signer == nil {
				return nil, fmt.Sprintf("%s is signed, and this host has no signing key", dir)
			}
			var env artifacts.Envelope
			if err := json.Unmarshal(r.env.data, &env); err != nil || len(env.Signatures) != 1 || env.Signatures[0].KeyID != o.Signer.KeyID() {
				return nil, fmt.Sprintf("%s is signed by another key than this host's", dir)
			}
		}
		c := *r.rc
		c.Prev = prev
		data, err := artifacts.MarshalReceipt(&c)
		if err != nil {
			return nil, err.Error()
		}
		out[i].receipt = data
		if r.env != nil {
			if out[i].env, err = o.Signer.SignReceipt(dir, data); err != nil {
				return nil, err.Error()
			}
		}
		prev = artifacts.ChainHash(data)
	}
	return out, ""
}

// dropReceiptIndex removes the receipt index of the state folder: it
// caches each run folder's chain hash, and a replay that chained receipts
// anew changed some (the next load reads every receipt once).
func dropReceiptIndex(stateDir string) error {
	if strings.TrimSpace(stateDir) == "" {
		return nil
	}
	if err := os.Remove(filepath.Join(stateDir, indexName)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("drop the receipt index: %w", err)
	}
	return nil
}

// rechainLeftovers chains anew, in the working tree, the receipts that
// follow one a replay chained anew (moved: old chain hash to new) and are
// in no commit: written by a run stopped before its stage commit, which
// the next run's recovery commits as they are. Each follows the new hash
// (its envelope signed again), and so do those that follow it. A receipt
// that cannot be (as in chainAfter) is left as it is, with a note.
func rechainLeftovers(o *PushOptions, moved map[string]string) []string {
	st := &artifacts.Store{Root: o.Root, Dir: o.Config.Receipts}
	entries, err := st.List()
	if err != nil {
		return []string{fmt.Sprintf("receipts not committed yet were not checked after chaining receipts anew: %v; spine verify reports any that follow an old hash", err)}
	}
	var notes []string
	for again := true; again; {
		again = false
		for i := range entries {
			e := &entries[i]
			if e.Receipt == nil {
				continue
			}
			prev, ok := moved[e.Receipt.Prev]
			if !ok {
				continue
			}
			data, env, why := relinked(o, e, prev)
			if why != "" {
				notes = append(notes, fmt.Sprintf("%s follows a receipt chained anew, and spine could not chain it anew (%s): spine verify reports it", e.Dir, why))
				e.Receipt = nil
				continue
			}
			full, err := artifacts.SafeJoin(o.Root, e.Dir+"/"+artifacts.ReceiptFile)
			if err == nil {
				err = artifacts.WriteFileAtomic(full, data, fsx.FileMode)
			}
			if err == nil && env != nil {
				if full, err = artifacts.SafeJoin(o.Root, e.Dir+"/"+artifacts.DSSEFile); err == nil {
					err = artifacts.WriteFileAtomic(full, env, fsx.FileMode)
				}
			}
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s follows a receipt chained anew and could not be written: %v", e.Dir, err))
				e.Receipt = nil
				continue
			}
			moved[e.Hash] = artifacts.ChainHash(data)
			e.Receipt.Prev, e.Hash = prev, artifacts.ChainHash(data)
			again = true
		}
	}
	return notes
}

// relinked returns the receipt.json (and envelope, when it has one) of
// the run folder of e with prev as its prev, or why it cannot.
func relinked(o *PushOptions, e *artifacts.Entry, prev string) (receipt, env []byte, why string) {
	full, err := artifacts.SafeJoin(o.Root, e.Dir+"/"+artifacts.ReceiptFile)
	if err != nil {
		return nil, nil, err.Error()
	}
	data, err := artifacts.ReadReceiptFile(full)
	if err != nil {
		return nil, nil, err.Error()
	}
	f := &replayFile{path: e.Dir + "/" + artifacts.ReceiptFile, data: data}
	r := &ourReceipt{file: f, rc: e.Receipt}
	envPath := filepath.Join(filepath.Dir(full), artifacts.DSSEFile)
	if envData, err := os.ReadFile(envPath); err == nil {
		r.env = &replayFile{path: e.Dir + "/" + artifacts.DSSEFile, data: envData}
	} else if !os.IsNotExist(err) {
		return nil, nil, err.Error()
	}
	redone, why := chainAfter(o, []*ourReceipt{r}, prev)
	if why != "" {
		return nil, nil, why
	}
	return redone[0].receipt, redone[0].env, ""
}
