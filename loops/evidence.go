package loops

import (
	"bytes"
	"strings"
)

// EvidenceRun is one bullet of a document's evidence block, as spine writes
// it: "- `RUN_KEY` (status, step NAME…)" under a "#### stage" sub-heading.
// The block is a record in git of every run spine made for the loop, so it
// still says a step ran when that run's receipt is gone from the working
// tree.
type EvidenceRun struct {
	// Stage is the text of the sub-heading above the bullet.
	Stage string
	// RunKey, Status and Step are the bullet's run key, status and step
	// name.
	RunKey string
	Status string
	Step   string
	// Line is the bullet's 1-based line in the file.
	Line int
	// Text is the bullet's line as written, without its line ending.
	Text string
}

// ParseEvidence returns the runs the evidence block of src lists, in the
// block's order. A document without a well-formed block (each marker once,
// the begin marker first) lists none, as does a bullet of another shape or
// one above the block's first sub-heading: only what spine wrote counts.
func ParseEvidence(src []byte) []EvidenceRun {
	b := bytes.Index(src, []byte(EvidenceBegin))
	e := bytes.Index(src, []byte(EvidenceEnd))
	if b < 0 || e < b || bytes.Count(src, []byte(EvidenceBegin)) > 1 || bytes.Count(src, []byte(EvidenceEnd)) > 1 {
		return nil
	}
	line := 1 + bytes.Count(src[:b], []byte("\n"))
	var out []EvidenceRun
	stage := ""
	// Whole lines between the markers: what precedes the end marker on
	// its own line is not a bullet.
	for rest := src[b:e]; ; line++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		var l []byte
		l, rest = rest[:i], rest[i+1:]
		l = bytes.TrimSuffix(l, []byte("\r"))
		s := string(l)
		if t, ok := strings.CutPrefix(s, "#### "); ok {
			stage = strings.TrimSpace(t)
			continue
		}
		if stage == "" {
			continue
		}
		if r, ok := parseEvidenceBullet(s); ok {
			r.Stage, r.Line, r.Text = stage, line, s
			out = append(out, r)
		}
	}
	return out
}

// parseEvidenceBullet reads "- `KEY` (status, step NAME…)": the shape
// pipeline.EvidenceBlock writes, the step's name ending at ':' or the
// closing parenthesis.
func parseEvidenceBullet(s string) (EvidenceRun, bool) {
	var r EvidenceRun
	rest, ok := strings.CutPrefix(s, "- `")
	if !ok {
		return r, false
	}
	key, rest, ok := strings.Cut(rest, "` (")
	if !ok || key == "" || strings.ContainsAny(key, " `") {
		return r, false
	}
	status, rest, ok := strings.Cut(rest, ", step ")
	if !ok || status == "" || strings.ContainsAny(status, " ,()") {
		return r, false
	}
	end := 0
	for end < len(rest) && isCapByte(rest[end]) {
		end++
	}
	if end == 0 || end == len(rest) || (rest[end] != ':' && rest[end] != ')') {
		return r, false
	}
	r.RunKey, r.Status, r.Step = key, status, rest[:end]
	return r, true
}
