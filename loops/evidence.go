package loops

import (
	"bytes"
	"fmt"
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
	b, e, err := evidenceSpan(src)
	if err != nil || b < 0 {
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

// evidenceMarkers returns the offsets of the evidence markers of src that
// are spine's, in file order: those outside fenced code blocks, where a
// document may show the block as an example (that is its own text).
func evidenceMarkers(src []byte) (begins, ends []int) {
	if !bytes.Contains(src, []byte("<!-- spine:evidence:")) {
		return nil, nil
	}
	begins, ends, _ = scanFences(src, true)
	return begins, ends
}

// openFence returns the run of backticks or tildes of the fenced code
// block src ends inside (one never closed), or nil: text appended after
// src would be that block's content.
func openFence(src []byte) []byte {
	_, _, fence := scanFences(src, false)
	return fence
}

// scanFences reads src line by line, following its fenced code blocks, and
// returns the evidence markers outside them (when markers is set) and the
// fence still open at the end, if any.
func scanFences(src []byte, markers bool) (begins, ends []int, open []byte) {
	var fence []byte // the open fence's run of ` or ~, nil outside one
	indent := 0      // the open fence's indentation
	quoted := 0      // the block quote depth it opened at
	for off := 0; off < len(src); {
		end := bytes.IndexByte(src[off:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += off
		}
		line := bytes.TrimRight(src[off:end], " \t\r")
		// A fence in a block quote is one too: its markers are the
		// quote's text.
		depth := 0
		for {
			t := bytes.TrimLeft(line, " ")
			if len(t) == 0 || t[0] != '>' {
				break
			}
			line, depth = bytes.TrimPrefix(t[1:], []byte(" ")), depth+1
		}
		if fence != nil && depth < quoted {
			fence = nil // its block quote ended, and the fence with it
		}
		text := bytes.TrimLeft(line, " \t")
		n := len(line) - len(text)
		switch run := fenceRun(text); {
		case fence != nil:
			// A closing fence is indented at most three spaces more than
			// the opening one (CommonMark), and holds nothing else.
			if len(run) >= len(fence) && run[0] == fence[0] && n <= indent+3 && len(bytes.TrimLeft(text, string(run[:1]))) == 0 {
				fence = nil
			}
		case run != nil:
			fence, indent, quoted = run, n, depth
		case markers:
			begins = appendAll(begins, src[off:end], off, EvidenceBegin)
			ends = appendAll(ends, src[off:end], off, EvidenceEnd)
		}
		off = end + 1
	}
	if quoted > 0 {
		// Text after the document is outside its block quote, and so
		// outside the fence.
		fence = nil
	}
	return begins, ends, fence
}

// appendAll appends to offs the offset (line's own at off) of every
// occurrence of marker in line, but those in a code span (after an odd
// number of backticks on the line): prose that names the markers.
func appendAll(offs []int, line []byte, off int, marker string) []int {
	for i := 0; ; {
		j := bytes.Index(line[i:], []byte(marker))
		if j < 0 {
			return offs
		}
		if bytes.Count(line[:i+j], []byte("`"))%2 == 0 {
			offs = append(offs, off+i+j)
		}
		i += j + len(marker)
	}
}

// fenceRun returns the run of three or more backticks or tildes a line
// (its indentation removed) opens or closes a fenced code block with, or
// nil. A backtick fence's info string holds no backtick, as CommonMark
// has it.
func fenceRun(text []byte) []byte {
	if len(text) < 3 || (text[0] != '`' && text[0] != '~') {
		return nil
	}
	n := 0
	for n < len(text) && text[n] == text[0] {
		n++
	}
	if n < 3 || text[0] == '`' && bytes.IndexByte(text[n:], '`') >= 0 {
		return nil
	}
	return text[:n]
}

// evidenceSpan returns the offsets of the evidence block's begin and end
// markers (see evidenceMarkers), -1 and -1 when it has none, and an error
// for markers spine cannot tell a block from.
func evidenceSpan(src []byte) (b, e int, err error) {
	begins, ends := evidenceMarkers(src)
	switch {
	case len(begins) == 0 && len(ends) == 0:
		return -1, -1, nil
	case len(begins) > 1 || len(ends) > 1:
		return 0, 0, fmt.Errorf("evidence markers appear more than once; refusing to guess which block is spine's")
	case len(ends) == 0:
		return 0, 0, fmt.Errorf("evidence block is missing its end marker")
	case len(begins) == 0:
		return 0, 0, fmt.Errorf("evidence block is missing its begin marker")
	case ends[0] < begins[0]:
		return 0, 0, fmt.Errorf("evidence end marker comes before the begin marker")
	}
	return begins[0], ends[0], nil
}
