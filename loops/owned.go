package loops

import (
	"bytes"
	"errors"
	"reflect"
)

// OnlySpineEdits reports whether after differs from before only in the
// parts of a loop document that spine owns and rewrites on every run: the
// content of the evidence block (see SetEvidence) and the value of
// HeartbeatKey, each possibly added where spine adds them (but not
// removed: after must hold the block, and the heartbeat if before has
// one). It is what a
// run leaves in the working tree when it wrote the document and could not
// commit it (a crash, a stale index.lock, a full disk): spine's own edit,
// not someone's half-edit, which the next run may commit with the block
// regenerated.
//
// The stages and steps must also parse the same (line numbers aside): an
// unbalanced fence in an edited evidence block could otherwise change what
// the rest of the document declares, and no step ever runs from text that
// is not committed.
func OnlySpineEdits(before, after []byte) bool {
	if bytes.Equal(before, after) {
		return true
	}
	if b, _, err := evidenceSpan(after); err != nil || b < 0 {
		return false
	}
	b, ok := withoutSpineParts(before)
	if !ok {
		return false
	}
	a, ok := withoutSpineParts(after)
	if !ok || !bytes.Equal(a, b) {
		return false
	}
	pb, pa := Parse("", before), Parse("", after)
	if pb.Meta.String(HeartbeatKey) != "" && pa.Meta.String(HeartbeatKey) == "" {
		return false
	}
	return sameSteps(pb, pa)
}

// withoutSpineParts returns src with an empty evidence block and a fixed
// heartbeat: two documents that differ only in those parts come out the
// same. It fails when spine would refuse to edit src.
func withoutSpineParts(src []byte) ([]byte, bool) {
	out, err := SetEvidence(src, "")
	if err != nil {
		return nil, false
	}
	hb, err := SetFrontmatter(out, HeartbeatKey, `"0001-01-01T00:00:00Z"`)
	switch {
	case errors.Is(err, ErrNoFrontmatter):
		return out, true
	case err != nil:
		return nil, false
	}
	return hb, true
}

// sameSteps reports whether two parses declare the same loop, stages and
// steps, wherever they are in the file.
func sameSteps(a, b *Document) bool {
	if a.LoopID != b.LoopID || a.Status != b.Status || len(a.Stages) != len(b.Stages) {
		return false
	}
	for i := range a.Stages {
		sa, sb := a.Stages[i], b.Stages[i]
		if sa.Number != sb.Number || sa.Title != sb.Title || sa.Level != sb.Level || len(sa.Steps) != len(sb.Steps) {
			return false
		}
		for j := range sa.Steps {
			x, y := sa.Steps[j], sb.Steps[j]
			x.Line, y.Line = 0, 0
			if !reflect.DeepEqual(x, y) {
				return false
			}
		}
	}
	return true
}
