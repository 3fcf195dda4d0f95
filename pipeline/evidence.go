package pipeline

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/loops"
)

// EvidenceBlock renders the evidence block of a loop from its runs: one
// sub-heading per stage (in document order, then any stage no longer in
// the document), one bullet per run. lost are bullets of the block being
// replaced that are not runs of this loop (see LostEvidence): they are
// kept as written, placed by their run key's time among the runs, so that
// a receipt deleted from the working tree, or a change of the loop's id,
// does not also erase the record that its step ran.
func EvidenceBlock(doc *loops.Document, runs []Run, lost []loops.EvidenceRun) string {
	type bullet struct {
		at   time.Time
		text string
	}
	byStage := map[string][]bullet{}
	for _, run := range runs {
		note := "step " + run.Step
		switch {
		case run.Summary != "":
			note += ": " + run.Summary
		case run.Note != "":
			note += ": " + run.Note
		case run.Status == artifacts.StatusFail:
			note += fmt.Sprintf(": exit %d", run.ExitCode)
		}
		if run.Status == artifacts.StatusFail && run.AllowFailure {
			note += " (allowed to fail)"
		}
		byStage[run.Stage] = append(byStage[run.Stage], bullet{run.Started, fmt.Sprintf("- `%s` (%s, %s)", run.RunKey, run.Status, oneLine(note))})
	}
	for _, e := range lost {
		var at time.Time
		if k, err := artifacts.ParseRunKey(e.RunKey); err == nil {
			at = k.Time
		}
		bs := byStage[e.Stage]
		// Before the first run that started after the key's second began:
		// a run key has whole seconds, so of two runs in the same second
		// the lost one is taken for the earlier.
		i := sort.Search(len(bs), func(i int) bool { return bs[i].at.After(at) })
		byStage[e.Stage] = slices.Insert(bs, i, bullet{at, e.Text})
	}
	var b strings.Builder
	seen := map[string]bool{}
	write := func(title string) {
		bs := byStage[title]
		if len(bs) == 0 || seen[title] {
			return
		}
		seen[title] = true
		fmt.Fprintf(&b, "\n#### %s\n\n", title)
		for _, x := range bs {
			b.WriteString(x.text)
			b.WriteByte('\n')
		}
	}
	for _, st := range doc.Stages {
		write(st.Title)
	}
	var rest []string
	for title := range byStage {
		if !seen[title] {
			rest = append(rest, title)
		}
	}
	sort.Strings(rest)
	for _, t := range rest {
		write(t)
	}
	if b.Len() == 0 {
		return ""
	}
	return strings.TrimPrefix(b.String(), "\n")
}

// LostEvidence returns the bullets of src's evidence block whose run is
// not a run of loop loopID in h: its receipt is missing (see
// Planner.LostRuns), or names another loop id (see Planner.movedRun).
// Regenerating the block keeps them.
func LostEvidence(src []byte, h *History, loopID string) []loops.EvidenceRun {
	var lost []loops.EvidenceRun
	for _, e := range loops.ParseEvidence(src) {
		if run := h.ByKey(e.RunKey); run == nil || run.LoopID != loopID {
			lost = append(lost, e)
		}
	}
	return lost
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// linkOnPath returns the first symbolic link on the way from root to the
// repository-relative path rel, as a repository-relative path, or "" (no
// link, or no root).
func linkOnPath(root, rel string) string {
	if root == "" {
		return ""
	}
	p, r := root, ""
	for _, part := range strings.Split(rel, "/") {
		p, r = filepath.Join(p, part), path.Join(r, part)
		fi, err := os.Lstat(p)
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return r
		}
	}
	return ""
}

// CheckEvidence returns a problem for every run the evidence blocks of docs
// record whose receipt.json is not in st: a receipt deleted at the end of
// a loop's chain, which the chain itself cannot show, is named this way.
func CheckEvidence(docs []*loops.Document, st *artifacts.Store) []artifacts.Problem {
	var probs []artifacts.Problem
	for _, d := range docs {
		for _, e := range d.Evidence {
			rel, err := st.RelDir(e.RunKey)
			if err != nil {
				continue // not a run key spine writes
			}
			p := rel + "/" + artifacts.ReceiptFile
			// No symbolic link on the way (SafeLstat): a receipt behind a
			// linked day folder is not one the store lists, nor one
			// verify checked.
			if _, fi, err := artifacts.SafeLstat(st.Root, p); err == nil && fi != nil {
				continue
			}
			probs = append(probs, artifacts.Problem{
				RunKey:  e.RunKey,
				Path:    fmt.Sprintf("%s:%d", d.Path, e.Line),
				Problem: fmt.Sprintf("the evidence block records this run (%s, step %s) but %s is missing", e.Status, e.Step, p),
			})
		}
	}
	return probs
}

// CheckEvidenceRuns returns a problem for every bullet of docs' evidence
// blocks that says something else than the receipt it names: another
// step, another final status, or a run of another loop whose own document
// records it (which no step of this loop inherits, see Planner.movedRun).
// The planner and the site go by the receipt; the bullet is the
// document's text, which anyone can edit, and verify says where they part.
func CheckEvidenceRuns(docs []*loops.Document, h *History) []artifacts.Problem {
	byID := make(map[string]*loops.Document, len(docs))
	for _, d := range docs {
		byID[d.LoopID] = d
	}
	var probs []artifacts.Problem
	for _, d := range docs {
		for _, e := range d.Evidence {
			run := h.ByKey(e.RunKey)
			if run == nil || run.Err != "" {
				continue // missing or unreadable: named elsewhere
			}
			var why string
			switch {
			case run.LoopID != d.LoopID && byID[run.LoopID] != nil && byID[run.LoopID].Records(e.RunKey):
				why = fmt.Sprintf("the evidence block records a run of loop %s, whose own document records it: no step of %s is done by it", run.LoopID, d.LoopID)
			case e.Step != "" && run.Step != e.Step:
				why = fmt.Sprintf("the evidence block says step %s, the receipt is of step %s", e.Step, run.Step)
			case finalStatus(e.Status) && e.Status != run.Status:
				why = fmt.Sprintf("the evidence block says %s, the receipt says %s", e.Status, run.Status)
			default:
				continue
			}
			probs = append(probs, artifacts.Problem{RunKey: e.RunKey, Path: fmt.Sprintf("%s:%d", d.Path, e.Line), Problem: why})
		}
	}
	return probs
}

// finalStatus reports whether s is the status of a run that ended.
func finalStatus(s string) bool {
	switch s {
	case artifacts.StatusPass, artifacts.StatusFail, artifacts.StatusBlocked, artifacts.StatusInterrupted, artifacts.StatusSkipped:
		return true
	}
	return false
}
